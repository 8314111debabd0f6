//! The embedded vector index against hnswlib, on real sentence embeddings, in one run.
//!
//! `../shared/data/ann/sentences.txt` is embedded with Omnex's local
//! all-MiniLM-L6-v2 (vectors kept under `target/eval-cache/`); the first 1,000 lines
//! are the queries, the rest the base; k = 10, recall against exact search. The
//! baseline (`benches/python/hnswlib_baseline.py`: hnswlib, M = 16,
//! ef_construction = 200) runs first on the same vectors, then Omnex's index with the
//! same parameters, through its `VectorIndex` API: build (two threads for both),
//! memory, queries one at a time on one thread for ef in 16, 32, 64, 128, and churn
//! (every tenth base vector deleted and inserted again under a new id).
//!
//! Usage: `benches/ann.sh` (installs the baseline, then runs
//! `ann [--data ../shared/data] [--python PATH] [--omnex-only]`).

// Benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use omnex_benches::{arg, embed_cached, rss_bytes, BoxResult};
use omnex_core::{
    backend::hnsw::{HnswIndex, HnswParams},
    index::VectorIndex,
    model::{IndexEntry, MemoryId, VectorQuery},
};
use serde_json::{json, Value};

const QUERIES: usize = 1000;
const K: usize = 10;
const EFS: [usize; 4] = [16, 32, 64, 128];

/// Timed passes over the queries per setting (`OMNEX_ANN_ROUNDS`, default 3); the
/// best is reported, for Omnex and for the baseline alike.
fn rounds() -> usize {
    std::env::var("OMNEX_ANN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> BoxResult<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        f.write_all(&omnex_core::vector::encode(r))?;
    }
    Ok(f.flush()?)
}

/// The exact top-`K` base rows of every query.
fn exact_truth(base: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<Vec<u32>> {
    queries
        .iter()
        .map(|q| {
            let mut scored: Vec<(f32, u32)> = base
                .iter()
                .enumerate()
                .map(|(i, b)| (omnex_core::vector::dot(q, b), i as u32))
                .collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(K);
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

fn id(row: usize) -> MemoryId {
    MemoryId(uuid::Uuid::from_u128(row as u128 + 1))
}

fn row(id: MemoryId, n_base: usize) -> usize {
    let r = id.0.as_u128() as usize - 1;
    if r >= n_base {
        r - n_base
    } else {
        r
    }
}

fn entries(base: &[Vec<f32>], rows: impl Iterator<Item = usize>, offset: usize) -> Vec<IndexEntry> {
    rows.map(|r| IndexEntry {
        id: id(r + offset),
        vector: base[r].clone(),
        fields: Default::default(),
        text: String::new(),
    })
    .collect()
}

/// Queries one at a time on this thread: (recall@K, queries/s).
async fn measure(
    index: &HnswIndex,
    queries: &[VectorQuery],
    truth: &[Vec<u32>],
    n_base: usize,
) -> BoxResult<(f64, f64)> {
    for q in queries {
        index.search(q).await?;
    }
    // The best of `ROUNDS` timed passes, as for the baseline.
    let mut qps: f64 = 0.0;
    let mut found = Vec::with_capacity(queries.len());
    for _ in 0..rounds() {
        found.clear();
        let started = Instant::now();
        for q in queries {
            found.push(index.search(q).await?);
        }
        qps = qps.max(queries.len() as f64 / started.elapsed().as_secs_f64());
    }
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(hits, t)| {
            hits.iter()
                .filter(|h| t.contains(&(row(h.id, n_base) as u32)))
                .count()
        })
        .sum();
    Ok((hits as f64 / (truth.len() * K) as f64, qps))
}

/// The baseline's queries/s at `recall`, interpolated along its recall curve;
/// `None` above the best recall it reached.
fn baseline_qps_at(curve: &[(f64, f64)], recall: f64) -> Option<f64> {
    let mut pts = curve.to_vec();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if recall <= pts[0].0 {
        return Some(pts[0].1);
    }
    pts.windows(2).find_map(|w| {
        let ((r0, q0), (r1, q1)) = (w[0], w[1]);
        (recall >= r0 && recall <= r1).then(|| {
            if r1 - r0 < 1e-12 {
                q0.max(q1)
            } else {
                q0 + (q1 - q0) * (recall - r0) / (r1 - r0)
            }
        })
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> BoxResult<()> {
    let data = PathBuf::from(arg("--data").unwrap_or_else(|| "../shared/data".into()));
    let python = arg("--python")
        .or_else(|| std::env::var("OMNEX_ANN_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    let text = std::fs::read_to_string(data.join("ann/sentences.txt"))?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let vectors = embed_cached(&mut None, "ann-sentences", &lines).await?;
    let (queries, base) = vectors.split_at(QUERIES);
    let n_base = base.len();
    eprintln!(
        "{n_base} base vectors, {} queries; exact search…",
        queries.len()
    );
    let truth = exact_truth(base, queries);

    let dir = PathBuf::from("target/ann");
    std::fs::create_dir_all(&dir)?;
    write_f32(&dir.join("base.f32"), base)?;
    write_f32(&dir.join("queries.f32"), queries)?;
    let flat: Vec<u8> = truth
        .iter()
        .flatten()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    std::fs::write(dir.join("truth.u32"), flat)?;

    eprintln!("==> hnswlib baseline ({python})");
    // `--omnex-only` reuses the baseline of an earlier run (for profiling Omnex alone).
    let status = if std::env::args().any(|a| a == "--omnex-only") {
        std::process::Command::new("true").status()?
    } else {
        std::process::Command::new(&python)
            .arg("benches/python/hnswlib_baseline.py")
            .args(["base.f32", "queries.f32", "truth.u32"].map(|f| dir.join(f)))
            .arg("384")
            .arg(dir.join("hnswlib.json"))
            .env("OMNEX_ANN_ROUNDS", rounds().to_string())
            .status()?
    };
    if !status.success() {
        return Err("the hnswlib baseline failed".into());
    }
    let baseline: Value = serde_json::from_slice(&std::fs::read(dir.join("hnswlib.json"))?)?;

    eprintln!("==> Omnex HNSW");
    let params = HnswParams {
        threads: 2,
        ..HnswParams::default()
    };
    let before = rss_bytes();
    let index = HnswIndex::with_params(384, params);
    let started = Instant::now();
    for chunk in (0..n_base).collect::<Vec<_>>().chunks(1000) {
        index
            .upsert(&entries(base, chunk.iter().copied(), 0))
            .await?;
    }
    let build = started.elapsed().as_secs_f64();
    let rss = rss_bytes().saturating_sub(before);
    let raw = (n_base * 384 * 4) as u64;
    let qs: Vec<VectorQuery> = queries
        .iter()
        .map(|q| VectorQuery::new(q.clone(), K))
        .collect();
    let mut search = Vec::new();
    for ef in EFS {
        index.set_ef_search(ef);
        let (recall, qps) = measure(&index, &qs, &truth, n_base).await?;
        eprintln!("ef {ef}: recall {recall:.4}, {qps:.0} queries/s");
        search.push((ef, recall, qps));
    }

    // Churn: every tenth base vector deleted, then inserted again under a new id.
    let replaced: Vec<usize> = (0..n_base).step_by(10).collect();
    let started = Instant::now();
    let gone: Vec<MemoryId> = replaced.iter().map(|&r| id(r)).collect();
    index.delete(&gone).await?;
    for chunk in replaced.chunks(1000) {
        index
            .upsert(&entries(base, chunk.iter().copied(), n_base))
            .await?;
    }
    let churn_secs = started.elapsed().as_secs_f64();
    index.set_ef_search(64);
    let (churn_recall, churn_qps) = measure(&index, &qs, &truth, n_base).await?;
    let churn_rss = rss_bytes().saturating_sub(before);
    let ours = json!({
        "build_seconds": build, "build_per_s": n_base as f64 / build, "build_threads": 2,
        "rss_bytes": rss, "graph_bytes": index.graph_bytes(), "raw_bytes": raw,
        "search": search.iter().map(|(ef, r, q)| json!({"ef": ef, "recall": r, "qps": q})).collect::<Vec<_>>(),
        "churn": {"replaced": replaced.len(), "seconds": churn_secs,
                  "per_s": replaced.len() as f64 / churn_secs, "recall_ef64": churn_recall,
                  "qps_ef64": churn_qps, "rss_bytes": churn_rss, "len": index.len().await?},
    });
    std::fs::write(dir.join("omnex.json"), serde_json::to_vec_pretty(&ours)?)?;

    // The report.
    let b = |path: &str| {
        baseline
            .pointer(path)
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let curve: Vec<(f64, f64)> = baseline["search"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["recall"].as_f64().unwrap_or(0.0),
                        p["qps"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "{n_base} base vectors, {QUERIES} queries, k = {K}, all-MiniLM-L6-v2 (384 dimensions), \
         M = 16, ef_construction = 200; hnswlib {}\n",
        baseline["version"].as_str().unwrap_or("?")
    );
    println!("| ef | Omnex recall@10 | Omnex queries/s | hnswlib recall@10 | hnswlib queries/s | ratio at equal ef | hnswlib queries/s at Omnex's recall | ratio at equal recall |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (ef, recall, qps)) in search.iter().enumerate() {
        let (br, bq) = curve.get(i).copied().unwrap_or((f64::NAN, f64::NAN));
        let at = baseline_qps_at(&curve, *recall);
        println!(
            "| {ef} | {recall:.4} | {qps:.0} | {br:.4} | {bq:.0} | {:.2}× | {} | {} |",
            qps / bq,
            at.map_or("above its best recall".into(), |a| format!("{a:.0}")),
            at.map_or("—".into(), |a| format!("{:.2}×", qps / a)),
        );
    }
    let mb = |x: f64| x / 1e6;
    println!("\n| | Omnex | hnswlib | ratio |\n|---|---|---|---|");
    println!(
        "| build, 2 threads (vectors/s) | {:.0} ({build:.1} s) | {:.0} ({:.1} s) | {:.2}× |",
        n_base as f64 / build,
        b("/build_per_s"),
        b("/build_seconds"),
        (n_base as f64 / build) / b("/build_per_s")
    );
    println!(
        "| memory growth (MB; raw vectors {:.1} MB) | {:.1} ({:.2}× raw) | {:.1} ({:.2}× raw) | {:.2}× |",
        mb(raw as f64),
        mb(rss as f64),
        rss as f64 / raw as f64,
        mb(b("/rss_bytes")),
        b("/rss_bytes") / raw as f64,
        rss as f64 / b("/rss_bytes")
    );
    println!(
        "| churn: {} replaced (vectors/s) | {:.0} | {:.0} | {:.2}× |",
        replaced.len(),
        replaced.len() as f64 / churn_secs,
        b("/churn/per_s"),
        (replaced.len() as f64 / churn_secs) / b("/churn/per_s")
    );
    println!(
        "| after churn, ef 64: recall@10 | {churn_recall:.4} | {:.4} | |",
        b("/churn/recall_ef64")
    );
    println!(
        "| after churn, ef 64: queries/s | {churn_qps:.0} | {:.0} | {:.2}× |",
        b("/churn/qps_ef64"),
        churn_qps / b("/churn/qps_ef64")
    );
    println!(
        "| after churn: memory growth (MB) | {:.1} | {:.1} | |",
        mb(churn_rss as f64),
        mb(b("/churn/rss_bytes"))
    );
    Ok(())
}
