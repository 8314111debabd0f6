//! In-process cache with TTLs and a bounded number of entries.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use crate::{cache::Cache, Result};

/// An in-process LRU-ish cache: when full, the entry closest to expiry (or the oldest) goes.
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    value: Bytes,
    expires: Option<Instant>,
    inserted: Instant,
}

impl MemoryCache {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new(10_000)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let mut entries = self.entries.lock();
        let now = Instant::now();
        match entries.get(key) {
            Some(e) if e.expires.is_some_and(|t| t <= now) => {
                entries.remove(key);
                Ok(None)
            }
            Some(e) => Ok(Some(e.value.clone())),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let mut entries = self.entries.lock();
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.retain(|_, e| e.expires.is_none_or(|t| t > now));
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.inserted)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires: ttl.map(|t| now + t),
                inserted: now,
            },
        );
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.entries.lock().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    crate::cache_conformance!(async { Some(super::MemoryCache::new(64)) });
}
