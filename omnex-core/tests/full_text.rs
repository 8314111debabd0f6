//! The full-text index's settings on a data directory: turned off, turned back on
//! (re-indexed at open), and switched to another analyzer (re-indexed again).

use std::sync::Arc;

use omnex_core::{
    backend::exact::ExactIndex,
    model::{NewMemory, SearchMode, SearchRequest},
    text::Analyzer,
    Config, ErrorKind, Omnex,
};

async fn open(dir: &std::path::Path, full_text: bool, analyzer: Analyzer) -> Omnex {
    let config = Config {
        store: Some(
            format!("sqlite://{}", dir.join("omnex.db").display())
                .parse()
                .unwrap(),
        ),
        sweep_interval_secs: 0,
        index_sync_interval_ms: 0,
        full_text,
        analyzer,
        ..Config::default()
    };
    Omnex::builder()
        .config(config)
        .index(Arc::new(ExactIndex::new(3)))
        .build()
        .await
        .unwrap()
}

async fn by_words(omnex: &Omnex, query: &str) -> omnex_core::Result<Vec<String>> {
    let hits = omnex
        .search(SearchRequest::query(query).with_mode(SearchMode::Keyword))
        .await?;
    Ok(hits.into_iter().map(|h| h.memory.content).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_text_turns_off_and_back_on_and_changes_analyzer() {
    let dir = tempfile::tempdir().unwrap();
    let off = open(dir.path(), false, Analyzer::English).await;
    off.add_memory(NewMemory::new("The runners were running").with_embedding(vec![1.0, 0.0, 0.0]))
        .await
        .unwrap();
    let err = by_words(&off, "run").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // With no full-text index, a search with text and a vector is semantic: cosine scores.
    let hits = off
        .search(SearchRequest::query("run").with_vector(vec![1.0, 0.0, 0.0]))
        .await
        .unwrap();
    assert!((hits[0].score - 1.0).abs() < 1e-4, "{hits:?}");
    drop(off);

    // Turned on: the memory written while it was off is indexed when the store opens.
    let english = open(dir.path(), true, Analyzer::English).await;
    assert_eq!(
        by_words(&english, "run").await.unwrap(),
        ["The runners were running"]
    );
    drop(english);

    // Another analyzer re-indexes everything with it: `simple` does not stem.
    let simple = open(dir.path(), true, Analyzer::Simple).await;
    assert!(by_words(&simple, "run").await.unwrap().is_empty());
    assert_eq!(
        by_words(&simple, "were").await.unwrap(),
        ["The runners were running"]
    );
}

/// Terms held by at least half of the memories weigh nothing in BM25 and are left
/// out of the match: the ranking by the other terms is unchanged, memories holding
/// only common terms drop out, and a query of common terms alone still finds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_in_most_memories_are_left_out_of_the_match() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = open(dir.path(), true, Analyzer::English).await;
    let mut texts: Vec<String> = (0..20).map(|i| format!("user note number {i}")).collect();
    texts.push("user note about the garden".into());
    texts.push("garden tools".into());
    for t in &texts {
        omnex
            .add_memory(NewMemory::new(t.as_str()).with_embedding(vec![1.0, 0.0, 0.0]))
            .await
            .unwrap();
    }
    // "user" and "note" are in 21 of 22 memories: only "garden" decides.
    let found = by_words(&omnex, "user note garden").await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&"garden tools".to_owned()), "{found:?}");
    assert!(
        found.contains(&"user note about the garden".to_owned()),
        "{found:?}"
    );
    // Only common terms: they are all searched.
    let common = by_words(&omnex, "user note").await.unwrap();
    assert_eq!(common.len(), 10, "the default limit: {common:?}");
    assert!(common.iter().all(|c| c.starts_with("user note")));
}
