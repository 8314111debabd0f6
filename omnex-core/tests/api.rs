//! The facade's contract ([`OmnexApi`] suite) on the embedded default: a SQLite file
//! in a fresh data directory, the HNSW index and the local all-MiniLM-L6-v2 model.
//! `omnex-http/tests/client.rs` runs the same suite against a real server.

use std::sync::Arc;

use omnex_core::{Config, Omnex, OmnexApi};

async fn embedded() -> Option<(Arc<dyn OmnexApi>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        sweep_interval_secs: 0,
        ..Config::with_data_dir(dir.path())
    };
    let omnex = Omnex::open(config).await.unwrap();
    Some((Arc::new(omnex), dir))
}

omnex_core::api_conformance!(embedded());
