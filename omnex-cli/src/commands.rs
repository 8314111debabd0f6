//! What each command does: open the engine, make core calls, report.

use std::{path::Path, time::Duration};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use omnex_core::{
    model::{Filter, ListMemories, NewApiKey, NewMemory, Scope, SearchRequest},
    transfer, Config, Omnex,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

use crate::args::{BackendArgs, McpArgs, ServeArgs};

const QUICKSTART_NAMESPACE: &str = "quickstart";

async fn open(config: Config) -> anyhow::Result<Omnex> {
    Omnex::open(config).await.context("opening Omnex")
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `omnex serve`.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (opts, config) = args.options().await?;
    eprintln!("Opening Omnex: {} ...", config.describe());
    let omnex = open(config).await?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {}", opts.addr))?;
    let addr = listener.local_addr()?;
    let app = omnex_http::router_with(omnex.clone(), &opts);
    println!("Omnex is listening on http://{addr}");
    println!("  API:  http://{addr}/api/v1   docs: http://{addr}/docs   OpenAPI: http://{addr}/openapi.json");
    println!("  MCP (streamable HTTP): http://{addr}/mcp");
    if opts.api_key().is_some() {
        println!("  /api/v1 requires `Authorization: Bearer <api key>`");
    }
    omnex_http::serve_with(listener, app, &opts, omnex_http::shutdown_signal()).await?;
    // Every acknowledged write is already committed (and synced) by the store; the
    // index snapshot lets the next start skip rebuilding the index.
    save_index(&omnex).await;
    eprintln!("Omnex stopped.");
    Ok(())
}

/// `omnex worker`: runs workers until SIGINT or SIGTERM. A job in flight when it
/// stops is taken over by another worker once its lease runs out.
pub(crate) async fn worker(args: crate::args::WorkerArgs) -> anyhow::Result<()> {
    let mut config = args.backend.config().await?;
    // This process's workers are the ones below, not the background ones.
    config.workers = 0;
    eprintln!("Opening Omnex: {} ...", config.describe());
    let omnex = open(config).await?;
    let opts = omnex_core::WorkerOptions {
        concurrency: args.concurrency.max(1),
        lease: Duration::from_secs(args.lease_secs.max(1)),
        ..omnex_core::WorkerOptions::default()
    };
    println!(
        "Omnex worker running {} jobs at once (pid {})",
        opts.concurrency,
        std::process::id()
    );
    omnex
        .run_workers(opts, omnex_http::shutdown_signal())
        .await?;
    eprintln!("Omnex worker stopped.");
    Ok(())
}

/// Saves the embedded index's snapshot at exit; a failure only costs the next start
/// a rebuild, so it is reported, not raised.
async fn save_index(omnex: &Omnex) {
    if let Err(e) = omnex.save_index().await {
        eprintln!("warning: the index snapshot was not saved ({e}); the next start rebuilds it");
    }
}

/// `omnex mcp`: the MCP server on stdin/stdout.
pub(crate) async fn mcp(args: McpArgs) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let omnex = open(args.backend.config().await?).await?;
    // stdout carries the protocol; logs go to stderr (see main).
    let running = omnex_mcp::OmnexMcp::new(omnex.clone(), args.scope())
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdio")?;
    running.waiting().await?;
    save_index(&omnex).await;
    Ok(())
}

/// `omnex export FILE`: every context and memory as JSON Lines, with a spinner.
pub(crate) async fn export(file: &Path, backend: &BackendArgs) -> anyhow::Result<()> {
    let omnex = open(backend.config().await?).await?;
    let out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if file == Path::new("-") {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(file)
                .await
                .with_context(|| format!("cannot create {}", file.display()))?,
        )
    };
    let bar = ProgressBar::new_spinner()
        .with_style(style("{spinner} exported {pos} records ({per_sec}) {msg}"));
    let n = transfer::export(&omnex, BufWriter::new(out), |c| {
        bar.set_position(c.contexts + c.memories);
    })
    .await
    .context("exporting")?;
    bar.finish_and_clear();
    eprintln!(
        "Exported {} contexts and {} memories.",
        n.contexts, n.memories
    );
    Ok(())
}

/// `omnex import FILE`: an export back into the store, with a progress bar.
pub(crate) async fn import(file: &Path, backend: &BackendArgs) -> anyhow::Result<()> {
    let omnex = open(backend.config().await?).await?;
    let (input, len): (Box<dyn tokio::io::AsyncRead + Unpin + Send>, u64) =
        if file == Path::new("-") {
            (Box::new(tokio::io::stdin()), 0)
        } else {
            let f = tokio::fs::File::open(file)
                .await
                .with_context(|| format!("cannot open {}", file.display()))?;
            let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
            (Box::new(f), len)
        };
    let bar = ProgressBar::new(len).with_style(style(
        "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    ));
    let n = transfer::import(&omnex, BufReader::new(input), |read| bar.set_position(read))
        .await
        .with_context(|| format!("importing {}", file.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "Imported {} contexts and {} memories.",
        n.contexts, n.memories
    );
    Ok(())
}

/// `omnex migrate`.
pub(crate) async fn migrate(config: Config) -> anyhow::Result<()> {
    let report = omnex_core::migrate(&config)
        .await
        .context("migrating the store")?;
    println!("{report}");
    Ok(())
}

/// `omnex reindex`: the vector index rebuilt from the store, with a spinner.
pub(crate) async fn reindex(config: Config) -> anyhow::Result<()> {
    let omnex = Omnex::open_stored(config).await.context("opening Omnex")?;
    let bar = ProgressBar::new_spinner().with_style(style(
        "{spinner} {pos} memories indexed ({per_sec}, {elapsed})",
    ));
    bar.enable_steady_tick(Duration::from_millis(200));
    omnex
        .rebuild_index_with(|n| bar.set_position(n))
        .await
        .context("rebuilding the index")?;
    bar.finish();
    save_index(&omnex).await;
    eprintln!(
        "Reindexed {} memories into {}.",
        omnex.index_len().await?,
        omnex.index_location()
    );
    Ok(())
}

/// `omnex keys create|list|revoke`, as the local operator.
pub(crate) async fn keys(config: Config, action: crate::KeysAction) -> anyhow::Result<()> {
    // Keys need only the store: a store with memories opens without the model.
    let omnex = match Omnex::open_stored(config.clone()).await {
        Ok(o) => o,
        Err(_) => open(config).await?,
    };
    match action {
        crate::KeysAction::Create {
            name,
            tenant,
            permission,
            namespaces,
            ttl_seconds,
        } => {
            let made = omnex
                .create_api_key(NewApiKey {
                    name,
                    tenant: Some(tenant),
                    permission,
                    namespaces: (!namespaces.is_empty()).then_some(namespaces),
                    ttl_seconds,
                })
                .await?;
            println!("{}", made.key);
            eprintln!(
                "Made key {} ({}, tenant {}). Store it now: it is not shown again.",
                made.info.prefix,
                made.info.permission.as_str(),
                made.info.tenant
            );
        }
        crate::KeysAction::List { tenant, all } => {
            let keys = omnex
                .list_api_keys(Some(if all { "*" } else { &tenant }))
                .await?;
            println!(
                "{:<14} {:<12} {:<10} {:<20} {:<22} name",
                "prefix", "tenant", "permission", "namespaces", "state"
            );
            let now = omnex_core::model::now();
            for k in keys {
                let state = match (k.revoked_at, k.expires_at) {
                    (Some(t), _) => format!("revoked {}", t.format("%Y-%m-%d")),
                    (None, Some(t)) if t <= now => format!("expired {}", t.format("%Y-%m-%d")),
                    _ if k.first_used_at.is_some() => "active, used".to_owned(),
                    _ => "active, never used".to_owned(),
                };
                println!(
                    "{:<14} {:<12} {:<10} {:<20} {:<22} {}",
                    k.prefix,
                    k.tenant,
                    k.permission.as_str(),
                    k.namespaces.map_or("all".to_owned(), |n| n.join(",")),
                    state,
                    k.name
                );
            }
        }
        crate::KeysAction::Revoke { id } => {
            let k = omnex.revoke_api_key(&id).await?;
            eprintln!("Revoked {} (tenant {}).", k.prefix, k.tenant);
        }
    }
    Ok(())
}

/// `omnex model [install|path]`: prints the model's directory, installing it first
/// unless only the path is asked for.
pub(crate) async fn model(dir: Option<std::path::PathBuf>, install: bool) -> anyhow::Result<()> {
    let found = tokio::task::spawn_blocking(move || {
        if install {
            omnex_core::local_model::install_model(dir.as_deref())
        } else {
            omnex_core::local_model::model_dir(dir.as_deref())
        }
    })
    .await??;
    println!("{}", found.display());
    Ok(())
}

/// `omnex quickstart`: a few memories for two users, searched by meaning.
pub(crate) async fn quickstart(config: Config) -> anyhow::Result<()> {
    eprintln!("Opening Omnex: {} ...", config.describe());
    let omnex = open(config).await?;
    // Start from a clean quick-start namespace so reruns print the same thing.
    let filter = Filter::default().with_namespace(QUICKSTART_NAMESPACE);
    loop {
        let page = omnex
            .list_memories(ListMemories {
                filter: filter.clone(),
                limit: Some(1000),
                ..ListMemories::default()
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

/// `omnex embed`: one text per line on stdin, one JSON vector per line on stdout.
pub(crate) async fn embed(config: Config, batch: usize) -> anyhow::Result<()> {
    let embedder = omnex_core::open_embedder(&config).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = BufWriter::new(tokio::io::stdout());
    let batch = batch.max(1);
    loop {
        let mut chunk = Vec::with_capacity(batch);
        while chunk.len() < batch {
            match lines
                .next_line()
                .await
                .context("reading stdin (is it UTF-8?)")?
            {
                Some(line) => chunk.push(line),
                None => break,
            }
        }
        if chunk.is_empty() {
            break;
        }
        for v in embedder.embed(&chunk).await? {
            let mut line = serde_json::to_vec(&v)?;
            line.push(b'\n');
            stdout.write_all(&line).await?;
        }
        stdout.flush().await?;
    }
    Ok(())
}
