//! `omnex export` / `omnex import`: every context and memory as JSON Lines.
//!
//! The first line is a header; then one record per line, contexts first:
//!
//! ```text
//! {"type":"header","format":"omnex-export","version":1,"dimension":384}
//! {"type":"context","id":"…","namespace":"app","key":"settings","value":{…},"tags":[],"created_at":"…","updated_at":"…","version":3}
//! {"type":"memory","id":"…","content":"…","embedding":[…],"metadata":{},"namespace":"default","created_at":"…","updated_at":"…"}
//! ```
//!
//! Records keep their ids, versions, timestamps, metadata and embeddings, so an
//! import into an empty instance reproduces the exported data.

use std::{
    io::{BufRead, Write},
    path::Path,
};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use omnex_core::{
    model::{Context, ListContexts, ListMemories, Memory},
    Omnex,
};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "omnex-export";
const VERSION: u32 = 1;
const BATCH: usize = 500;

/// One line of an export file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record {
    Header {
        format: String,
        version: u32,
        dimension: usize,
    },
    Context(Context),
    Memory(Memory),
}

/// How many records moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Contexts written or read.
    pub contexts: u64,
    /// Memories written or read.
    pub memories: u64,
}

/// Writes every live context and memory to `path` (`-` for stdout).
pub async fn export(omnex: &Omnex, path: &Path) -> anyhow::Result<Counts> {
    let out: Box<dyn Write> = if path == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )
    };
    let mut out = std::io::BufWriter::new(out);
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} exported {pos} records ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut line = |record: &Record| -> anyhow::Result<()> {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
        bar.inc(1);
        Ok(())
    };
    line(&Record::Header {
        format: FORMAT.into(),
        version: VERSION,
        dimension: omnex.dimension(),
    })?;
    let mut counts = Counts::default();
    let mut cursor = None;
    loop {
        let page = omnex
            .list_contexts(ListContexts {
                limit: Some(1000),
                cursor,
                ..ListContexts::default()
            })
            .await?;
        for c in page.items {
            line(&Record::Context(c))?;
            counts.contexts += 1;
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    loop {
        let page = omnex
            .list_memories(ListMemories {
                limit: Some(1000),
                cursor,
                ..ListMemories::default()
            })
            .await?;
        for m in page.items {
            line(&Record::Memory(m))?;
            counts.memories += 1;
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    out.flush()?;
    bar.finish_with_message(format!(
        "{} contexts, {} memories",
        counts.contexts, counts.memories
    ));
    Ok(counts)
}

/// Reads an export file (`-` for stdin) into `omnex`, in batches of 500 records.
/// Records replace stored ones with the same id (memories) or `namespace/key` (contexts).
pub async fn import(omnex: &Omnex, path: &Path) -> anyhow::Result<Counts> {
    let (input, len): (Box<dyn BufRead>, u64) = if path == Path::new("-") {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(std::io::BufReader::new(file)), len)
    };
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut counts = Counts::default();
    let mut contexts = Vec::with_capacity(BATCH);
    let mut memories = Vec::with_capacity(BATCH);
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line.with_context(|| format!("line {line_no}: cannot read (is it UTF-8?)"))?;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line)
            .with_context(|| format!("line {line_no}: not an Omnex export record"))?;
        match record {
            Record::Header {
                format, version, ..
            } => {
                if format != FORMAT || version > VERSION {
                    bail!("line {line_no}: unsupported export format {format:?} version {version}");
                }
            }
            Record::Context(c) => {
                contexts.push(c);
                if contexts.len() == BATCH {
                    counts.contexts +=
                        flush(&mut contexts, line_no, |b| omnex.import_contexts(b)).await?;
                }
            }
            Record::Memory(m) => {
                memories.push(m);
                if memories.len() == BATCH {
                    counts.memories +=
                        flush(&mut memories, line_no, |b| omnex.import_memories(b)).await?;
                }
            }
        }
    }
    counts.contexts += flush(&mut contexts, 0, |b| omnex.import_contexts(b)).await?;
    counts.memories += flush(&mut memories, 0, |b| omnex.import_memories(b)).await?;
    bar.finish_with_message(format!(
        "{} contexts, {} memories",
        counts.contexts, counts.memories
    ));
    Ok(counts)
}

/// Writes a pending batch with `write`; `line` is the last line read (0 at the end).
async fn flush<T, F, Fut>(batch: &mut Vec<T>, line: usize, write: F) -> anyhow::Result<u64>
where
    F: FnOnce(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = omnex_core::Result<()>>,
{
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len() as u64;
    let place = if line == 0 {
        "at the end of the file".to_owned()
    } else {
        format!("up to line {line}")
    };
    write(std::mem::take(batch))
        .await
        .with_context(|| format!("importing the records {place}"))?;
    Ok(n)
}
