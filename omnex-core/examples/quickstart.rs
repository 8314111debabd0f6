//! # Quick start
//!
//! Omnex in your process: a data directory holding a SQLite database, an HNSW index
//! and the local all-MiniLM-L6-v2 model (install it once with `omnex model install`).
//!
//! ```sh
//! cargo run -p omnex-core --example quickstart
//! ```

// An example prints what it shows.
#![allow(clippy::disallowed_macros)]

use omnex_core::{
    model::{Filter, ListMemories, NewMemory, PutContext, Scope, SearchRequest},
    Config, ErrorKind, Omnex,
};
use serde_json::json;

#[tokio::main]
async fn main() -> omnex_core::Result<()> {
    // 1. Open the embedded default in a directory of its own.
    let dir = std::env::temp_dir().join("omnex-quickstart");
    let omnex = Omnex::open(Config::with_data_dir(&dir)).await?;

    // 2. Memories: text with a scope (namespace, user, agent, session) and metadata.
    let alice = Scope::namespace("quickstart").with_user("alice");
    omnex
        .add_memories(vec![
            NewMemory::new("Alice is allergic to peanuts.")
                .with_scope(alice.clone())
                .with_metadata("topic", json!("health")),
            NewMemory::new("Alice is training for the Berlin marathon.")
                .with_scope(alice.clone())
                .with_metadata("topic", json!("sport")),
        ])
        .await?;

    // 3. Search by meaning, inside the scope: the filter applies within the search.
    let in_scope = Filter::default()
        .with_namespace("quickstart")
        .with_user("alice");
    let hits = omnex
        .search(
            SearchRequest::query("What should Alice not eat?")
                .with_filter(in_scope.clone())
                .with_limit(1),
        )
        .await?;
    println!("{:.3}  {}", hits[0].score, hits[0].memory.content);

    // 4. List by metadata, a page at a time (50 by default).
    let sport = omnex
        .list_memories(ListMemories {
            filter: in_scope.with_metadata("topic", json!("sport")),
            ..ListMemories::default()
        })
        .await?;
    println!("sport: {}", sport.items[0].content);

    // 5. Contexts: JSON under namespace/key, with optimistic concurrency.
    let settings = omnex
        .put_context(PutContext::new(
            "quickstart",
            "settings",
            json!({"theme": "dark"}),
        ))
        .await?;
    let stale = omnex
        .put_context(
            PutContext::new("quickstart", "settings", json!({"theme": "light"}))
                .with_if_version(settings.version + 1),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    println!("a stale write is refused: {stale}");
    Ok(())
}
