//! The index snapshot file: the graph, its nodes' memories and the change-log
//! position it reflects, with a format version and a CRC-32 over everything.
//!
//! Layout (little-endian): magic, version, byte-order mark, shape, node count,
//! entry, rng, applied position, origin; then node blocks (layer-0 links and
//! vector), levels, removed flags, upper links, free list, memories (JSON); then
//! the CRC-32.
//! Anything that does not decode exactly is refused, and the caller rebuilds from
//! the store.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use omnex_ann::{Graph, Shape};

use super::{
    state::{Meta, State},
    HnswParams,
};
use crate::model::{FilterFields, MemoryId};

const MAGIC: &[u8; 8] = b"OMNXHNSW";
/// Bumped whenever the layout changes: an older file is rebuilt, never misread.
pub(super) const VERSION: u32 = 1;
const BYTE_ORDER: u32 = 0x0102_0304;

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refused {
    #[error("no snapshot at {0}")]
    Missing(PathBuf),
    #[error("cannot read the snapshot: {0}")]
    Io(#[from] std::io::Error),
    #[error("the snapshot is damaged (checksum mismatch or truncated)")]
    Damaged,
    #[error("the snapshot has format version {0}; this build writes {VERSION}")]
    Version(u32),
    #[error("the snapshot does not match: {0}")]
    Mismatch(&'static str),
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.buf.extend_from_slice(bytemuck::cast_slice(v));
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Refused> {
        if self.buf.len() < n {
            return Err(Refused::Damaged);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, Refused> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Refused> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn len(&mut self, each: usize) -> Result<usize, Refused> {
        let n = usize::try_from(self.u64()?).map_err(|_| Refused::Damaged)?;
        n.checked_mul(each)
            .filter(|&b| b <= self.buf.len())
            .ok_or(Refused::Damaged)?;
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], Refused> {
        let n = self.len(1)?;
        self.take(n)
    }
    fn pod<T: bytemuck::Pod>(&mut self, count: usize) -> Result<Vec<T>, Refused> {
        let n = count
            .checked_mul(std::mem::size_of::<T>())
            .ok_or(Refused::Damaged)?;
        Ok(bytemuck::pod_collect_to_vec(self.take(n)?))
    }
}

/// The snapshot of `state` for the store named `origin`, as bytes.
pub(super) fn encode(state: &State, origin: &str) -> Vec<u8> {
    let g = &state.graph;
    let n = g.len();
    let mut w = Writer {
        buf: Vec::with_capacity(g.blocks.len() * 4 + n * 64 + 1024),
    };
    w.buf.extend_from_slice(MAGIC);
    w.u32(VERSION);
    w.u32(BYTE_ORDER);
    w.u32(g.shape.dim as u32);
    w.u32(g.shape.m as u32);
    w.u32(g.shape.ef_construction as u32);
    w.u64(n as u64);
    w.u32(g.entry);
    w.u64(g.rng);
    w.u64(state.applied as u64);
    w.bytes(origin.as_bytes());
    w.u32s(&g.blocks);
    w.buf.extend_from_slice(&g.levels);
    w.buf.extend(g.removed.iter().map(|&r| u8::from(r)));
    for list in &g.upper {
        w.u32s(list);
    }
    w.u64(g.free.len() as u64);
    w.u32s(&g.free);
    let meta: Vec<Option<(MemoryId, &FilterFields)>> = state
        .meta
        .iter()
        .map(|m| m.as_ref().map(|m| (m.id, &m.fields)))
        .collect();
    // Serializing plain data to a Vec cannot fail.
    w.bytes(&serde_json::to_vec(&meta).unwrap_or_default());
    let crc = crc32fast::hash(&w.buf);
    w.u32(crc);
    w.buf
}

/// The state in `bytes`, if it is a whole snapshot of this format, made for the
/// store named `origin` with these parameters.
pub(super) fn decode(
    bytes: &[u8],
    origin: &str,
    params: HnswParams,
    dim: usize,
) -> Result<State, Refused> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Refused::Damaged);
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let mut r = Reader {
        buf: &body[MAGIC.len()..],
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(Refused::Version(version));
    }
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(Refused::Damaged);
    }
    if r.u32()? != BYTE_ORDER {
        return Err(Refused::Mismatch("byte order"));
    }
    let shape = Shape {
        dim: r.u32()? as usize,
        m: r.u32()? as usize,
        ef_construction: r.u32()? as usize,
    };
    if shape.dim != dim || shape.m != params.m {
        return Err(Refused::Mismatch("dimension or graph parameters"));
    }
    let n = usize::try_from(r.u64()?).map_err(|_| Refused::Damaged)?;
    let entry = r.u32()?;
    let rng = r.u64()?;
    let applied = r.u64()? as i64;
    if r.bytes()? != origin.as_bytes() {
        return Err(Refused::Mismatch("made for another store"));
    }
    let blocks = r.pod::<u32>(
        n.checked_mul(1 + 2 * shape.m + dim)
            .ok_or(Refused::Damaged)?,
    )?;
    let levels = r.take(n)?.to_vec();
    let removed: Vec<bool> = r.take(n)?.iter().map(|&b| b != 0).collect();
    let mut upper = Vec::with_capacity(n);
    for &level in &levels {
        upper.push(
            r.pod::<u32>(level as usize * (shape.m + 1))?
                .into_boxed_slice(),
        );
    }
    let free_len = r.len(4)?;
    let free = r.pod::<u32>(free_len)?;
    let meta: Vec<Option<(MemoryId, FilterFields)>> =
        serde_json::from_slice(r.bytes()?).map_err(|_| Refused::Damaged)?;
    if !r.buf.is_empty() || meta.len() != n {
        return Err(Refused::Damaged);
    }
    let graph = Graph {
        shape,
        blocks,
        upper,
        levels,
        removed,
        free,
        entry,
        rng,
    };
    graph.check().map_err(Refused::Mismatch)?;
    if meta
        .iter()
        .zip(&graph.removed)
        .any(|(m, &removed)| m.is_some() == removed)
    {
        return Err(Refused::Mismatch("removed nodes"));
    }
    let meta = meta
        .into_iter()
        .map(|m| m.map(|(id, fields)| Meta { id, fields }))
        .collect();
    let mut state = State::from_parts(params, graph, meta);
    state.applied = applied;
    state.saved = applied;
    Ok(state)
}

/// Reads the snapshot at `path` (blocking: called inside `spawn_blocking`).
#[allow(clippy::disallowed_methods)]
pub(super) fn read(
    path: &Path,
    origin: &str,
    params: HnswParams,
    dim: usize,
) -> Result<State, Refused> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Refused::Missing(path.to_owned()))
        }
        Err(e) => return Err(e.into()),
    };
    decode(&bytes, origin, params, dim)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk,
/// then renamed over it, so a reader sees the old snapshot or the new one, whole
/// (blocking: called inside `spawn_blocking`).
#[allow(clippy::disallowed_methods)]
pub(super) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // The data directory is made on first use (a PostgreSQL store never makes it).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Makes the rename itself durable; not every platform can open a directory.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
