//! A Redis cache shared by every Omnex process: `redis://host:6379/0?prefix=omnex`.
//!
//! Redis is an optimization, never a dependency: when it is down, calls fail fast
//! (the facade treats that as a miss) and the cache stays out of the way for a second
//! before trying again, so requests do not wait on a dead server.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    AsyncCommands, Client,
};

use crate::{cache::Cache, Error, Result};

const BACKEND: &str = "redis";
/// How long the cache is skipped after a failure.
const BACKOFF: Duration = Duration::from_secs(1);
/// The longest a cache call may take before it counts as a failure.
const TIMEOUT: Duration = Duration::from_millis(250);

/// A Redis-backed [`Cache`]; keys are stored under `<prefix>:`.
pub struct RedisCache {
    client: Client,
    prefix: String,
    display: String,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    down_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &self.display)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on the server at `url`. It connects on first use (and again after an
    /// outage), so Omnex starts even when Redis is down.
    pub fn new(url: &str) -> Result<Self> {
        let mut parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid_input("cache", format!("not a Redis URL: {e}")))?;
        let mut prefix = "omnex".to_owned();
        let rest: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(k, v)| {
                if k == "prefix" {
                    prefix = v.into_owned();
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        if rest.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(rest);
        }
        let client = Client::open(parsed.as_str())
            .map_err(|e| Error::invalid_input("cache", format!("not a Redis URL: {e}")))?;
        let _ = parsed.set_password(None);
        Ok(Self {
            client,
            prefix,
            display: parsed.to_string(),
            conn: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    /// A connection, or a fast `Unavailable` while the server is known to be down.
    async fn connection(&self) -> Result<ConnectionManager> {
        if let Some(until) = *self.down_until.lock() {
            if Instant::now() < until {
                return Err(Error::unavailable(BACKEND, "redis is down; retrying soon"));
            }
        }
        let mut slot = self.conn.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("connection timed out".into())),
        }
    }

    fn failed(&self, reason: String) -> Error {
        *self.down_until.lock() = Some(Instant::now() + BACKOFF);
        Error::unavailable(BACKEND, format!("{}: {reason}", self.display))
    }

    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let conn = self.connection().await?;
        match tokio::time::timeout(TIMEOUT * 2, op(conn)).await {
            Ok(Ok(v)) => {
                *self.down_until.lock() = None;
                Ok(v)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("timed out".into())),
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn shared(&self) -> bool {
        true
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = self.key(key);
        self.run(async move |mut c| c.get::<_, Option<Vec<u8>>>(key).await)
            .await
            .map(|v| v.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let key = self.key(key);
        self.run(async move |mut c| match ttl {
            Some(ttl) => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                c.pset_ex::<_, _, ()>(key, value.as_ref(), ms).await
            }
            None => c.set::<_, _, ()>(key, value.as_ref()).await,
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = self.key(key);
        self.run(async move |mut c| c.del::<_, ()>(key).await).await
    }
}

#[cfg(test)]
mod conformance {
    async fn make() -> Option<super::RedisCache> {
        match std::env::var("OMNEX_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let prefix = crate::conformance::unique_namespace();
                Some(super::RedisCache::new(&format!("{url}{sep}prefix={prefix}")).unwrap())
            }
            _ => {
                assert!(
                    !crate::conformance::required("redis"),
                    "OMNEX_TEST_REQUIRE names redis but OMNEX_TEST_REDIS_URL is not set"
                );
                None
            }
        }
    }

    crate::cache_conformance!(make());

    /// A cache on a port where nothing listens fails fast, and keeps failing fast.
    #[tokio::test]
    async fn unreachable_server_fails_fast() {
        use crate::cache::Cache;
        let cache = super::RedisCache::new("redis://127.0.0.1:1/").unwrap();
        let started = std::time::Instant::now();
        assert!(cache.get("k").await.unwrap_err().is_retryable());
        for _ in 0..100 {
            assert!(cache.get("k").await.is_err());
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
