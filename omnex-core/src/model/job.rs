//! Background jobs and webhook subscriptions.
//!
//! Jobs live in the store: a job is a row that a worker claims with a lease. A
//! worker that dies (even by SIGKILL) stops renewing its lease, and the job goes to
//! the next worker once the lease runs out.

use serde::{Deserialize, Serialize};

use super::{EventKind, Tenant, Timestamp};

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Embeds and adds a batch of memories (`POST /memories/batch` with `async`).
    Embed,
    /// Imports exported records.
    Import,
    /// Exports the tenant's records; the output is the JSON-lines export.
    Export,
    /// Rebuilds the vector index from the store.
    Reindex,
    /// Removes expired records and prunes the logs.
    Cleanup,
    /// Delivers one event to one webhook.
    Webhook,
}

impl JobKind {
    /// Every kind, in a stable order.
    pub const ALL: [JobKind; 6] = [
        Self::Embed,
        Self::Import,
        Self::Export,
        Self::Reindex,
        Self::Cleanup,
        Self::Webhook,
    ];

    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embed => "embed",
            Self::Import => "import",
            Self::Export => "export",
            Self::Reindex => "reindex",
            Self::Cleanup => "cleanup",
            Self::Webhook => "webhook",
        }
    }

    /// Reads a name made by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                crate::Error::invalid_input(
                    "kind",
                    format!(
                        "{name:?} is not a job kind; use one of {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker (also between attempts).
    Queued,
    /// A worker holds it.
    Running,
    /// Finished.
    Done,
    /// Cancelled before it finished.
    Cancelled,
    /// Failed its last attempt, or failed in a way no retry can mend: the
    /// dead-letter list.
    Dead,
}

impl JobStatus {
    /// Every status, in a stable order.
    pub const ALL: [JobStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Done,
        Self::Cancelled,
        Self::Dead,
    ];

    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Dead => "dead",
        }
    }

    /// Reads a name made by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                crate::Error::invalid_input(
                    "status",
                    format!(
                        "{name:?} is not a job status; use one of {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled | Self::Dead)
    }
}

/// A background job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    /// UUIDv7 id; for a webhook delivery, also its idempotency key.
    pub id: String,
    /// The tenant it works for.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub status: JobStatus,
    /// Items done so far.
    pub done: u64,
    /// Items in all, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Attempts started (a retry or a worker's death starts another).
    pub attempts: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// The last attempt's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether cancelling was asked while it ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    /// The webhook it delivers to (deliveries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// What it was given (left out of listings).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input: serde_json::Value,
    /// What it made (for example the counts of an import); an export's records are
    /// read from `/jobs/{id}/output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub output: Option<serde_json::Value>,
    /// When it was queued.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it may run next.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub run_at: Timestamp,
    /// When it last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// A new queued job.
    pub fn new(tenant: Tenant, kind: JobKind, input: serde_json::Value, max_attempts: u32) -> Self {
        let now = super::now();
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            tenant,
            kind,
            status: JobStatus::Queued,
            done: 0,
            total: None,
            attempts: 0,
            max_attempts,
            error: None,
            cancel_requested: false,
            webhook_id: None,
            input,
            output: None,
            created_at: now,
            run_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

/// How an attempt ended, as a worker reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// Finished, with its output.
    Done(Option<serde_json::Value>),
    /// Failed; try again at `at` unless it was the last attempt.
    Retry {
        /// Why.
        error: String,
        /// When to try again.
        at: Timestamp,
    },
    /// Failed for good (bad input, a deleted webhook).
    Dead(String),
    /// Stopped because cancelling was asked.
    Cancelled,
}

/// A page request of jobs, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListJobs {
    /// Only this tenant's (the core sets it for callers that are not operators).
    pub tenant: Option<Tenant>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only the deliveries of this webhook.
    pub webhook_id: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How many jobs of a kind are in a status, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobCount {
    /// The kind.
    pub kind: JobKind,
    /// The status.
    pub status: JobStatus,
    /// How many.
    pub count: u64,
}

/// A webhook subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// The tenant whose events it receives.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// Where events are POSTed.
    pub url: String,
    /// The kinds it receives.
    pub kinds: Vec<EventKind>,
    /// Only events of these namespaces (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Whether deliveries carry each record's data.
    pub include_data: bool,
    /// The event position it was made at: it receives the events after it.
    pub since: i64,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The signing secret (shown when the webhook is made; empty in listings).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
}

impl Webhook {
    /// Whether this webhook receives `event`.
    pub fn wants(&self, event: &super::Event) -> bool {
        event.seq > self.since
            && event.tenant == self.tenant
            && self.kinds.contains(&event.kind)
            && self
                .namespaces
                .as_ref()
                .is_none_or(|ns| ns.contains(&event.namespace))
    }
}

/// A webhook to make.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST events (`http` or `https`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::validate::schema::WebhookUrl))]
    pub url: String,
    /// Event kinds to receive, such as `memory.add` or `memory.*` (default: every kind).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::EventKindName>))]
    pub kinds: Vec<String>,
    /// Only events of these namespaces (default: all).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::validate::schema::Namespace>>))]
    pub namespaces: Option<Vec<String>>,
    /// Whether deliveries carry each record's data (default false: ids and scope only).
    #[serde(default)]
    pub include_data: bool,
    /// The signing secret (at least 16 characters); made for you when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::WebhookSecret>))]
    pub secret: Option<String>,
}
