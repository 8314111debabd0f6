//! The cache trait.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// A key-value cache with TTLs. Errors are treated as misses by the facade.
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug + 'static {
    /// A short name of the backend.
    fn name(&self) -> &'static str;
    /// Whether other processes see the same entries (Redis), so values that other
    /// processes may change (contexts) can be cached and invalidated through it.
    fn shared(&self) -> bool {
        false
    }
    /// Reads a key.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;
    /// Writes a key, expiring after `ttl` if given.
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()>;
    /// Removes a key.
    async fn delete(&self, key: &str) -> Result<()>;
}
