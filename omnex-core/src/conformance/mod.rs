//! Conformance suites: one per trait, one test per contract, run against every backend.
//!
//! A backend runs a whole suite with one macro call, for example
//! `omnex_core::store_conformance!(async { Some(MyStore::connect().await.unwrap()) });`.
//! The factory returns `None` when the backend is not configured on this machine;
//! the test then prints a visible `SKIPPED` line (or fails when
//! `OMNEX_TEST_REQUIRE` names the backend).

pub mod api;
pub mod cache;
pub mod embed;
pub mod index;
mod macros;
pub mod store;
pub mod tenants;

use crate::model::{FilterFields, IndexEntry, MemoryId, Scope};

/// A namespace unique to one test, so tests can share one server.
pub fn unique_namespace() -> String {
    format!("t_{}", uuid::Uuid::now_v7().simple())
}

/// A tenant name no other test uses.
pub fn unique_tenant() -> crate::model::Tenant {
    let id = uuid::Uuid::now_v7().simple().to_string();
    crate::model::Tenant::new(&format!("t{}", &id[16..])).unwrap_or_default()
}

/// A small deterministic random generator (xorshift64*), so suites need no extra dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A float in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// A random unit vector of `dim` components.
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.unit()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / n).collect()
    }
    /// `base` moved slightly in a random direction, renormalized.
    pub fn near(&mut self, base: &[f32], noise: f32) -> Vec<f32> {
        let v: Vec<f32> = base.iter().map(|x| x + noise * self.unit()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / n).collect()
    }
}

/// An index entry in `scope` with no metadata.
pub fn entry(vector: Vec<f32>, scope: Scope) -> IndexEntry {
    IndexEntry {
        id: MemoryId::new(),
        vector,
        fields: FilterFields {
            scope,
            ..FilterFields::default()
        },
        text: String::new(),
    }
}

/// Whether a backend's suite must run here (named in `OMNEX_TEST_REQUIRE`).
pub fn required(backend: &str) -> bool {
    std::env::var("OMNEX_TEST_REQUIRE")
        .map(|v| v.split(',').any(|b| b.trim() == backend))
        .unwrap_or(false)
}
