//! The `omnex` command: quick start, embedding and (later) the HTTP server.

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

/// Omnex: durable memory for AI applications.
#[derive(Parser)]
#[command(name = "omnex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

/// Backend selection, shared by every command (flags win over `OMNEX_*` variables).
#[derive(Args, Clone, Debug)]
struct BackendArgs {
    /// Data directory of the embedded default.
    #[arg(long, env = "OMNEX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL (default sqlite://<data-dir>/omnex.db).
    #[arg(long, env = "OMNEX_STORE")]
    storage: Option<String>,
    /// Vector index: hnsw or exact.
    #[arg(long, env = "OMNEX_INDEX")]
    index: Option<String>,
    /// Embedder: local, openai, or an OpenAI-compatible URL (http://host/v1?model=NAME).
    #[arg(long, env = "OMNEX_EMBEDDER")]
    embedder: Option<String>,
    /// Cache: memory or none.
    #[arg(long, env = "OMNEX_CACHE")]
    cache: Option<String>,
    /// Directory of the local model files.
    #[arg(long, env = "OMNEX_MODEL_DIR")]
    model_dir: Option<PathBuf>,
}

impl BackendArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::from_env()?;
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OMNEX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Quickstart(args) => quickstart(args.config()?).await,
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

const QUICKSTART_NAMESPACE: &str = "quickstart";

async fn quickstart(config: Config) -> anyhow::Result<()> {
    eprintln!("Opening Omnex in {} ...", config.data_dir.display());
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
