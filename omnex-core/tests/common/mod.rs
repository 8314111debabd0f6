//! Helpers shared by the integration tests.

use omnex_core::{
    model::{Filter, Memory, SearchRequest},
    Omnex,
};

/// The best match for `v` among the memories of namespace `ns`.
pub(crate) async fn nearest(omnex: &Omnex, v: &[f32], ns: &str) -> Option<Memory> {
    omnex
        .search(
            SearchRequest::vector(v.to_vec())
                .with_limit(1)
                .with_embeddings()
                .with_filter(Filter::default().with_namespace(ns)),
        )
        .await
        .unwrap()
        .into_iter()
        .next()
        .map(|h| h.memory)
}
