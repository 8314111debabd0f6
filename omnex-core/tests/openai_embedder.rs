//! The OpenAI-compatible embedder against a real third-party server on loopback.
//!
//! `scripts/test` starts one (`scripts/embed-server.sh`) and sets
//! `OMNEX_TEST_EMBED_URL` and `OMNEX_TEST_EMBED_MODEL`. Without them these tests
//! print SKIPPED, unless `OMNEX_TEST_REQUIRE` names `embed-server`.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{sync::Arc, time::Duration};

use omnex_core::{
    backend::{
        exact::ExactIndex,
        openai_embedder::{OpenAiConfig, OpenAiEmbedder},
        sqlite::SqliteStore,
    },
    conformance::required,
    model::{NewMemory, SearchRequest},
    Embedder, ErrorKind, Omnex,
};

fn server() -> Option<OpenAiConfig> {
    match (
        std::env::var("OMNEX_TEST_EMBED_URL"),
        std::env::var("OMNEX_TEST_EMBED_MODEL"),
    ) {
        (Ok(url), Ok(model)) => Some(OpenAiConfig::new(url, model)),
        _ => {
            assert!(
                !required("embed-server"),
                "OMNEX_TEST_REQUIRE names embed-server but OMNEX_TEST_EMBED_URL is not set"
            );
            eprintln!(
                "SKIPPED: set OMNEX_TEST_EMBED_URL and OMNEX_TEST_EMBED_MODEL (scripts/test does)"
            );
            None
        }
    }
}

mod conformance {
    omnex_core::embed_conformance!(async {
        match super::server() {
            Some(cfg) => Some(
                omnex_core::backend::openai_embedder::OpenAiEmbedder::connect(cfg)
                    .await
                    .unwrap(),
            ),
            None => None,
        }
    });
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn learns_dimension_and_embeds_batches_in_order() {
    let Some(cfg) = server() else { return };
    let e = OpenAiEmbedder::connect(cfg).await.unwrap();
    assert!(e.dimension() > 0);
    let texts: Vec<String> = [
        "The cat sits on the mat.",
        "A kitten rests on a rug.",
        "Quarterly revenue grew.",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let batch = e.embed(&texts).await.unwrap();
    assert_eq!(batch.len(), 4);
    for (t, v) in texts.iter().zip(&batch) {
        assert_eq!(v.len(), e.dimension());
        let single = e.embed(std::slice::from_ref(t)).await.unwrap().remove(0);
        assert!(
            cosine(v, &single) > 0.999,
            "batch order preserved for {t:?}"
        );
    }
    assert!(cosine(&batch[0], &batch[1]) > cosine(&batch[0], &batch[2]));
}

#[tokio::test]
async fn configured_dimension_mismatch_is_a_clear_error() {
    let Some(mut cfg) = server() else { return };
    cfg.dimension = Some(7);
    let err = OpenAiEmbedder::connect(cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("configured as 7"), "{err}");
}

#[tokio::test]
async fn unreachable_server_is_unavailable_after_retries() {
    let mut cfg = OpenAiConfig::new("http://127.0.0.1:9", "any");
    cfg.max_retries = 1;
    cfg.timeout = Duration::from_secs(2);
    let err = OpenAiEmbedder::connect(cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn omnex_on_a_remote_embedder() {
    let Some(cfg) = server() else { return };
    let e = Arc::new(OpenAiEmbedder::connect(cfg).await.unwrap());
    let omnex = Omnex::builder()
        .store(Arc::new(SqliteStore::in_memory().await.unwrap()))
        .index(Arc::new(ExactIndex::new(e.dimension())))
        .embedder(e)
        .build()
        .await
        .unwrap();
    omnex
        .add_memories(vec![
            NewMemory::new("The user's dog is called Biscuit"),
            NewMemory::new("The user works as a nurse in Leeds"),
        ])
        .await
        .unwrap();
    let hits = omnex
        .search(SearchRequest::query("what is the name of my pet?").with_limit(1))
        .await
        .unwrap();
    assert_eq!(hits[0].memory.content, "The user's dog is called Biscuit");
}
