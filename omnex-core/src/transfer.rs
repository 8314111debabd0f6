//! The export format: every context and memory as JSON Lines, written and read
//! with async I/O (so no frontend blocks a runtime thread on a file).
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
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> omnex_core::Result<()> {
//! use std::sync::Arc;
//! use omnex_core::{Omnex, backend::{exact::ExactIndex, sqlite::SqliteStore}, model::NewMemory, transfer};
//! let open = || async {
//!     Omnex::builder()
//!         .store(Arc::new(SqliteStore::in_memory().await?))
//!         .index(Arc::new(ExactIndex::new(2)))
//!         .build()
//!         .await
//! };
//! let source = open().await?;
//! source.add_memory(NewMemory::new("north").with_embedding(vec![0.0, 1.0])).await?;
//! let mut file = Vec::new();
//! transfer::export(&source, &mut file, |_| {}).await?;
//! let copy = open().await?;
//! let counts = transfer::import(&copy, file.as_slice(), |_| {}).await?;
//! assert_eq!(counts.memories, 1);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::{
    model::{Context, ListContexts, ListMemories, Memory},
    Error, Omnex, Result,
};

/// The `format` of the header line.
pub const FORMAT: &str = "omnex-export";
/// The newest format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Records written to the engine at a time on import.
const BATCH: usize = 500;
/// Records read from the engine at a time on export.
const PAGE: usize = 1000;

/// One line of an export file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line: what the file is.
    Header {
        /// Always [`FORMAT`].
        format: String,
        /// The format version.
        version: u32,
        /// The vector dimension of the memories.
        dimension: usize,
    },
    /// A context, as stored.
    Context(Context),
    /// A memory, as stored (with its embedding).
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

fn io_error(e: std::io::Error) -> Error {
    Error::unavailable("export file", e)
}

/// Writes every live context and memory to `out`, calling `progress` after each page:
/// every tenant's when `omnex` acts as an operator (the local user), else its own
/// tenant's. Each record names its tenant, so an import puts it back there.
pub async fn export<W: AsyncWrite + Unpin>(
    omnex: &Omnex,
    mut out: W,
    mut progress: impl FnMut(Counts),
) -> Result<Counts> {
    let line = |record: &Record| -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(record).map_err(|e| Error::internal("export", e))?;
        bytes.push(b'\n');
        Ok(bytes)
    };
    let header = Record::Header {
        format: FORMAT.into(),
        version: VERSION,
        dimension: omnex.dimension(),
    };
    out.write_all(&line(&header)?).await.map_err(io_error)?;
    let mut counts = Counts::default();
    for omnex in omnex.tenant_handles().await? {
        let before = counts;
        export_tenant(&omnex, &mut out, &mut counts, &mut progress, &line).await?;
        omnex
            .audit_export(format!(
                "{} contexts and {} memories",
                counts.contexts - before.contexts,
                counts.memories - before.memories
            ))
            .await;
    }
    out.flush().await.map_err(io_error)?;
    Ok(counts)
}

/// Writes one tenant's contexts and memories.
async fn export_tenant<W: AsyncWrite + Unpin>(
    omnex: &Omnex,
    out: &mut W,
    counts: &mut Counts,
    progress: &mut impl FnMut(Counts),
    line: &impl Fn(&Record) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut cursor = None;
    loop {
        let page = omnex
            .list_contexts(ListContexts {
                limit: Some(PAGE),
                cursor,
                ..ListContexts::default()
            })
            .await?;
        let mut chunk = Vec::new();
        for c in page.items {
            chunk.extend(line(&Record::Context(c))?);
            counts.contexts += 1;
        }
        out.write_all(&chunk).await.map_err(io_error)?;
        progress(*counts);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    loop {
        let page = omnex
            .list_memories(ListMemories {
                limit: Some(PAGE),
                cursor,
                include_embedding: true,
                ..ListMemories::default()
            })
            .await?;
        let mut chunk = Vec::new();
        for m in page.items {
            chunk.extend(line(&Record::Memory(m))?);
            counts.memories += 1;
        }
        out.write_all(&chunk).await.map_err(io_error)?;
        progress(*counts);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(())
}

/// Reads an export from `input` into `omnex`, in batches of 500 records, calling
/// `progress` with the number of bytes read after each line. Records replace
/// stored ones with the same id (memories) or `namespace/key` (contexts). An error
/// names the line; the batches before it are kept.
pub async fn import<R: AsyncBufRead + Unpin>(
    omnex: &Omnex,
    input: R,
    mut progress: impl FnMut(u64),
) -> Result<Counts> {
    let mut counts = Counts::default();
    let mut contexts = Vec::with_capacity(BATCH);
    let mut memories = Vec::with_capacity(BATCH);
    let mut lines = input.lines();
    let mut line_no = 0usize;
    let mut read = 0u64;
    let at_line = |n: usize, e: Error| match e {
        Error::InvalidInput { field, reason } => {
            Error::invalid_input(field, format!("{reason} (line {n})"))
        }
        other => other,
    };
    while let Some(line) = lines.next_line().await.map_err(|e| {
        Error::invalid_input(
            "file",
            format!("line {}: cannot read (is it UTF-8?): {e}", line_no + 1),
        )
    })? {
        line_no += 1;
        read += line.len() as u64 + 1;
        progress(read);
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| {
            Error::invalid_input(
                "file",
                format!("line {line_no}: not an Omnex export record: {e}"),
            )
        })?;
        match record {
            Record::Header {
                format, version, ..
            } => {
                if format != FORMAT || version > VERSION {
                    return Err(Error::invalid_input(
                        "file",
                        format!(
                            "line {line_no}: unsupported export format {format:?} version {version}"
                        ),
                    ));
                }
            }
            Record::Context(c) => {
                contexts.push(c);
                if contexts.len() == BATCH {
                    counts.contexts += contexts.len() as u64;
                    omnex
                        .import_contexts(std::mem::take(&mut contexts))
                        .await
                        .map_err(|e| at_line(line_no, e))?;
                }
            }
            Record::Memory(m) => {
                memories.push(m);
                if memories.len() == BATCH {
                    counts.memories += memories.len() as u64;
                    omnex
                        .import_memories(std::mem::take(&mut memories))
                        .await
                        .map_err(|e| at_line(line_no, e))?;
                }
            }
        }
    }
    if !contexts.is_empty() {
        counts.contexts += contexts.len() as u64;
        omnex
            .import_contexts(contexts)
            .await
            .map_err(|e| at_line(line_no, e))?;
    }
    if !memories.is_empty() {
        counts.memories += memories.len() as u64;
        omnex
            .import_memories(memories)
            .await
            .map_err(|e| at_line(line_no, e))?;
    }
    Ok(counts)
}
