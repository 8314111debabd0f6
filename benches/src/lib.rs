//! Benchmarks live under `benches/`; this library holds what several of them share.

// Benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{io::Write, path::PathBuf, time::Instant};

use omnex_core::{backend::local_embedder::LocalEmbedder, embed::Embedder};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// What benchmark programs return.
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The value after `--name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Embeds `texts` with the local model (loaded into `embedder` on first use), or
/// reads the vectors a previous run kept under `target/eval-cache/` for these texts.
pub async fn embed_cached(
    embedder: &mut Option<LocalEmbedder>,
    name: &str,
    texts: &[String],
) -> BoxResult<Vec<Vec<f32>>> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    texts.hash(&mut h);
    let dir = PathBuf::from("target/eval-cache");
    let path = dir.join(format!("{name}-{:016x}.f32", h.finish()));
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == texts.len() * 384 * 4 {
            eprintln!("{name}: {} vectors from {}", texts.len(), path.display());
            return Ok(bytes
                .chunks_exact(384 * 4)
                .map(omnex_core::vector::decode)
                .collect());
        }
    }
    if embedder.is_none() {
        *embedder = Some(LocalEmbedder::load(None, true).await?);
    }
    let model = embedder.as_ref().ok_or("no embedder")?;
    // Similar lengths batch well: embed in order of length, then restore the order.
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut out = vec![Vec::new(); texts.len()];
    let started = Instant::now();
    for (n, chunk) in order.chunks(64).enumerate() {
        let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
        for (&i, v) in chunk.iter().zip(model.embed(&batch).await?) {
            out[i] = v;
        }
        let done = ((n + 1) * 64).min(texts.len());
        eprint!(
            "\r{name}: embedded {done}/{} ({:.0}/s)",
            texts.len(),
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    std::fs::create_dir_all(&dir)?;
    let mut f = std::fs::File::create(&path)?;
    for v in &out {
        f.write_all(&omnex_core::vector::encode(v))?;
    }
    Ok(out)
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    rss_of("/proc/self/status")
}

/// Resident memory of process `pid` in bytes (Linux; 0 elsewhere).
pub fn rss_bytes_of(pid: u32) -> u64 {
    rss_of(&format!("/proc/{pid}/status"))
}

fn rss_of(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A running `omnex serve`, killed when dropped.
pub struct Server {
    /// The server process.
    pub child: std::process::Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` (an `omnex serve` with piped stdout) and waits for the address it
/// prints first.
pub fn start_server(mut cmd: std::process::Command) -> BoxResult<Server> {
    use std::io::BufRead;
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().ok_or("serve printed nothing")??;
    let base = first
        .strip_prefix("Omnex is listening on ")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, base })
}

/// `v` scaled to unit length.
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// `n` clustered unit vectors of `dim` dimensions, the same for the same `seed`:
/// 1,000 random centres, each point a centre plus uniform noise of ±0.08.
pub fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| unit((0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect()))
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.gen_range(0..centres.len())];
            unit(
                c.iter()
                    .map(|x| x + rng.gen_range(-0.08f32..0.08))
                    .collect(),
            )
        })
        .collect()
}

/// `n` queries near random points of `data` (uniform noise of ±0.05), for `seed`.
pub fn near(data: &[Vec<f32>], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let base = &data[rng.gen_range(0..data.len())];
            unit(
                base.iter()
                    .map(|x| x + rng.gen_range(-0.05f32..0.05))
                    .collect(),
            )
        })
        .collect()
}
