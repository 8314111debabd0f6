//! The embedding trait.

use std::fmt;

use async_trait::async_trait;

use crate::Result;

/// Turns texts into vectors.
#[async_trait]
pub trait Embedder: Send + Sync + fmt::Debug + 'static {
    /// The model id, recorded with the data (vectors of two models never mix).
    fn model_id(&self) -> &str;
    /// The length of every vector.
    fn dimension(&self) -> usize;
    /// One unit-length vector per text, in order. CPU work runs off the async runtime.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}
