//! The data model: contexts, memories, scopes, filters, pages, events and jobs.

mod access;
mod context;
mod event;
mod filter;
mod id;
mod job;
mod memory;
mod page;

pub use access::{
    ApiKey, AuditEvent, CreatedApiKey, ListAudit, NewApiKey, Permission, Principal, Tenant,
    DEFAULT_TENANT,
};
pub use context::{Context, ListContexts, Precondition, PutContext};
pub use event::{Event, EventKind, EventPage, ListEvents, Removed, Subject};
pub use filter::{Filter, FilterFields};
pub use id::MemoryId;
pub use job::{Job, JobCount, JobKind, JobOutcome, JobStatus, ListJobs, NewWebhook, Webhook};
pub use memory::{
    Change, ChangeFeed, Explanation, Hit, IndexEntry, LegRank, ListMemories, Memory, MemoryUpdate,
    NewMemory, Scope, ScopeArgs, SearchHit, SearchMode, SearchRequest, TextQuery, VectorQuery,
    DEFAULT_NAMESPACE,
};
pub use page::Page;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use page::{decode_context_cursor, decode_memory_cursor, encode_context_cursor};

/// A point in time (UTC, microsecond precision when stored).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A JSON object, used for memory metadata.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// The current time, truncated to microseconds (the precision every store keeps).
pub fn now() -> Timestamp {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// Converts a timestamp to microseconds since the Unix epoch.
pub fn to_micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

/// Converts microseconds since the Unix epoch to a timestamp.
pub fn from_micros(us: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
