//! The `omnex` command: the HTTP server, import/export, quick start and embedding.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use omnex_core::{
    model::{Filter, ListMemories, NewMemory, Scope, SearchRequest},
    Config, Omnex,
};
use omnex_http::{FileConfig, ServerOptions};

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
    Serve(ServeArgs),
    /// Load contexts and memories from a JSON Lines export (`-` for stdin).
    Import {
        /// The export file.
        file: PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Write every context and memory as JSON Lines (`-` for stdout).
    Export {
        /// The file to write.
        file: PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Run the MCP server on stdin/stdout (for Claude Desktop, Claude Code, Cursor).
    Mcp(McpArgs),
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Apply the store's schema migrations (PostgreSQL, SQLite) and print the versions.
    Migrate(BackendArgs),
    /// Rebuild the vector index from the store, for example after restoring a Qdrant
    /// collection or changing index settings. Needs no embedder.
    Reindex(BackendArgs),
    /// Store a few memories on the embedded default, search them and print the hits.
    Quickstart(BackendArgs),
    /// Find (or install) the local embedding model and print its directory.
    Model {
        /// Directory of the local model files.
        #[arg(long, env = "OMNEX_MODEL_DIR")]
        model_dir: Option<PathBuf>,
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

/// Settings of `omnex serve` (flags win over `OMNEX_*` variables, which win over the file).
#[derive(Args, Clone, Debug)]
struct ServeArgs {
    #[command(flatten)]
    backend: BackendArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "OMNEX_ADDR")]
    addr: Option<std::net::SocketAddr>,
    /// Require `Authorization: Bearer <key>` on /api/v1.
    #[arg(long, env = "OMNEX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "OMNEX_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Request timeout in milliseconds [default: 30000].
    #[arg(long, env = "OMNEX_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Allowed CORS origin (repeat, or comma-separate; `*` for any).
    #[arg(
        long = "cors-origin",
        env = "OMNEX_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Requests per second before answering 429 (0 = no limit).
    #[arg(long, env = "OMNEX_RATE_LIMIT")]
    rate_limit: Option<u32>,
}

impl ServeArgs {
    fn options(&self) -> anyhow::Result<(ServerOptions, Config)> {
        let file = self.backend.file()?;
        let mut opts = file.server;
        if let Some(v) = self.addr {
            opts.addr = v;
        }
        if let Some(v) = &self.api_key {
            opts.api_key = Some(v.clone());
        }
        if let Some(v) = self.body_limit {
            opts.body_limit = v;
        }
        if let Some(v) = self.request_timeout_ms {
            opts.request_timeout_ms = v;
        }
        if !self.cors_origins.is_empty() {
            opts.cors_origins = self.cors_origins.clone();
        }
        if let Some(v) = self.rate_limit {
            opts.rate_limit = v;
        }
        Ok((opts, self.backend.apply(file.omnex)?))
    }
}

/// Settings of `omnex mcp`: the backends, and the scope applied to calls that name none.
#[derive(Args, Clone, Debug)]
struct McpArgs {
    #[command(flatten)]
    backend: BackendArgs,
    /// Namespace used when a tool call gives none.
    #[arg(long, env = "OMNEX_NAMESPACE")]
    namespace: Option<String>,
    /// User every memory belongs to unless a call says otherwise.
    #[arg(long, env = "OMNEX_USER_ID")]
    user_id: Option<String>,
    /// Agent every memory belongs to unless a call says otherwise.
    #[arg(long, env = "OMNEX_AGENT_ID")]
    agent_id: Option<String>,
}

/// Backend selection, shared by every command (flags win over `OMNEX_*` variables,
/// which win over the configuration file).
#[derive(Args, Clone, Debug)]
struct BackendArgs {
    /// TOML configuration file (`[server]` and `[omnex]` tables).
    #[arg(long, env = "OMNEX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the embedded default.
    #[arg(long, env = "OMNEX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL: sqlite://<data-dir>/omnex.db (default) or postgres://user@host:5432/db.
    #[arg(long, env = "OMNEX_STORE")]
    storage: Option<String>,
    /// Vector index: hnsw (default), exact, pgvector, pgvector:postgres://…, or qdrant://host:6334.
    #[arg(long, env = "OMNEX_INDEX")]
    index: Option<String>,
    /// Embedder: local, openai, or an OpenAI-compatible URL (http://host/v1?model=NAME).
    #[arg(long, env = "OMNEX_EMBEDDER")]
    embedder: Option<String>,
    /// Cache: memory (default), none, or redis://host:6379.
    #[arg(long, env = "OMNEX_CACHE")]
    cache: Option<String>,
    /// Directory of the local model files.
    #[arg(long, env = "OMNEX_MODEL_DIR")]
    model_dir: Option<PathBuf>,
}

impl BackendArgs {
    fn file(&self) -> anyhow::Result<FileConfig> {
        self.config
            .as_deref()
            .map_or_else(|| Ok(FileConfig::default()), FileConfig::load)
    }

    fn config(&self) -> anyhow::Result<Config> {
        self.apply(self.file()?.omnex)
    }

    fn apply(&self, mut c: Config) -> anyhow::Result<Config> {
        c.apply_env()?;
        if let Some(v) = &self.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = &self.storage {
            c.store = Some(v.clone());
        }
        if let Some(v) = &self.index {
            c.index = v.clone();
        }
        if let Some(v) = &self.embedder {
            c.embedder = v.clone();
        }
        if let Some(v) = &self.cache {
            c.cache = v.clone();
        }
        if let Some(v) = &self.model_dir {
            c.model_dir = Some(v.clone());
        }
        Ok(c)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("OMNEX_LOG").unwrap_or_else(|_| default.into())
    };
    if matches!(cli.command, Command::Serve(_)) {
        // One JSON object per line: request id, route, status and latency of every request.
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_env_filter(filter("info,hnsw_rs=warn"))
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter("warn"))
            .init();
    }
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Import { file, backend } => {
            let omnex = Omnex::open(backend.config()?)
                .await
                .context("opening Omnex")?;
            let n = omnex_http::transfer::import(&omnex, &file).await?;
            eprintln!(
                "Imported {} contexts and {} memories.",
                n.contexts, n.memories
            );
            Ok(())
        }
        Command::Export { file, backend } => {
            let omnex = Omnex::open(backend.config()?)
                .await
                .context("opening Omnex")?;
            let n = omnex_http::transfer::export(&omnex, &file).await?;
            eprintln!(
                "Exported {} contexts and {} memories.",
                n.contexts, n.memories
            );
            Ok(())
        }
        Command::Mcp(args) => mcp(args).await,
        Command::Openapi => {
            print!("{}", omnex_http::openapi_json());
            Ok(())
        }
        Command::Quickstart(args) => quickstart(args.config()?).await,
        Command::Migrate(args) => {
            let url = args.config()?.store_url();
            let report = omnex_core::backend::migrate_store(&url)
                .await
                .context("migrating the store")?;
            println!("{report}");
            Ok(())
        }
        Command::Reindex(args) => reindex(args.config()?).await,
        Command::Embed { backend, batch } => embed(backend.config()?, batch).await,
        Command::Model { model_dir } => {
            let dir = tokio::task::spawn_blocking(move || {
                omnex_core::backend::local_embedder::model_files::ensure_model_dir(
                    model_dir.as_deref(),
                )
            })
            .await??;
            println!("{}", dir.display());
            Ok(())
        }
    }
}

async fn reindex(config: Config) -> anyhow::Result<()> {
    let omnex = Omnex::open_stored(config).await.context("opening Omnex")?;
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} memories indexed ({per_sec}, {elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    omnex
        .rebuild_index_with(|n| bar.set_position(n))
        .await
        .context("rebuilding the index")?;
    bar.finish();
    eprintln!(
        "Reindexed {} memories into {}.",
        omnex.index_len().await?,
        omnex.index_location()
    );
    Ok(())
}

async fn mcp(args: McpArgs) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let omnex = Omnex::open(args.backend.config()?)
        .await
        .context("opening Omnex")?;
    let scope = omnex_mcp::DefaultScope {
        namespace: args.namespace,
        user_id: args.user_id,
        agent_id: args.agent_id,
    };
    // stdout carries the protocol; logs go to stderr (see main).
    let running = omnex_mcp::OmnexMcp::new(omnex, scope)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdio")?;
    running.waiting().await?;
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (opts, config) = args.options()?;
    eprintln!("Opening Omnex: {} ...", config.describe());
    let omnex = Omnex::open(config).await.context("opening Omnex")?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let addr = listener.local_addr()?;
    let app = omnex_http::router_with(omnex, &opts);
    println!("Omnex is listening on http://{addr}");
    println!("  API:  http://{addr}/api/v1   docs: http://{addr}/docs   OpenAPI: http://{addr}/openapi.json");
    println!("  MCP (streamable HTTP): http://{addr}/mcp");
    if opts.api_key().is_some() {
        println!("  /api/v1 requires `Authorization: Bearer <api key>`");
    }
    omnex_http::serve(listener, app, omnex_http::shutdown_signal()).await?;
    // Every acknowledged write is already committed (and synced) by the store.
    eprintln!("Omnex stopped.");
    Ok(())
}

const QUICKSTART_NAMESPACE: &str = "quickstart";

async fn quickstart(config: Config) -> anyhow::Result<()> {
    eprintln!("Opening Omnex: {} ...", config.describe());
    let omnex = Omnex::open(config).await.context("opening Omnex")?;
    // Start from a clean quick-start namespace so reruns print the same thing.
    let filter = Filter::default().with_namespace(QUICKSTART_NAMESPACE);
    loop {
        let page = omnex
            .list_memories(ListMemories {
                filter: filter.clone(),
                limit: Some(1000),
                cursor: None,
            })
            .await?;
        if page.items.is_empty() {
            break;
        }
        for m in page.items {
            omnex.delete_memory(m.id).await?;
        }
    }
    let alice = Scope::namespace(QUICKSTART_NAMESPACE).with_user("alice");
    let bob = Scope::namespace(QUICKSTART_NAMESPACE).with_user("bob");
    let facts = [
        (&alice, "Alice is allergic to peanuts."),
        (&alice, "Alice's favourite programming language is Rust."),
        (
            &alice,
            "Alice is training for the Berlin marathon in September.",
        ),
        (&bob, "Bob prefers his coffee black, no sugar."),
        (&bob, "Bob is learning to play the cello."),
    ];
    let batch = facts
        .iter()
        .map(|(scope, text)| NewMemory::new(*text).with_scope((*scope).clone()))
        .collect();
    let added = omnex.add_memories(batch).await?;
    println!("Stored {} memories for alice and bob.", added.len());
    for (user, question) in [
        ("alice", "What should Alice not eat?"),
        ("alice", "Which sport is Alice doing?"),
        ("bob", "How does Bob take his coffee?"),
    ] {
        let hits = omnex
            .search(
                SearchRequest::query(question)
                    .with_limit(2)
                    .with_filter(filter.clone().with_user(user)),
            )
            .await?;
        println!("\nsearch as {user}: {question}");
        for h in hits {
            println!("  {:.3}  {}", h.score, h.memory.content);
        }
    }
    println!("\nData directory: {}", omnex.config().data_dir.display());
    Ok(())
}

async fn embed(config: Config, batch: usize) -> anyhow::Result<()> {
    let omnex_embedder = omnex_core::backend::open_embedder(&config).await?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut lines = stdin.lock().lines();
    loop {
        let mut chunk = Vec::with_capacity(batch.max(1));
        for line in lines.by_ref() {
            chunk.push(line.context("reading stdin (is it UTF-8?)")?);
            if chunk.len() >= batch.max(1) {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        for v in omnex_embedder.embed(&chunk).await? {
            serde_json::to_writer(&mut stdout, &v)?;
            stdout.write_all(b"\n")?;
        }
        stdout.flush()?;
    }
    Ok(())
}
