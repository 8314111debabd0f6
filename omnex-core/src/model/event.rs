//! Events: every change to a context or a memory, in the order the store made them.
//!
//! The store appends one [`Event`] per change in the same transaction as the change,
//! so the change feed, the history of a record and webhook deliveries see exactly
//! what was committed: no event for a write that was rolled back, none missing for
//! one that was acknowledged.

use serde::{Deserialize, Serialize};

use super::{Context, Memory, MemoryId, Tenant, Timestamp};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A context was created or replaced.
    #[serde(rename = "context.put")]
    ContextPut,
    /// A context was deleted.
    #[serde(rename = "context.delete")]
    ContextDelete,
    /// A context reached its expiry and was removed.
    #[serde(rename = "context.expire")]
    ContextExpire,
    /// A memory was added.
    #[serde(rename = "memory.add")]
    MemoryAdd,
    /// A memory was changed.
    #[serde(rename = "memory.update")]
    MemoryUpdate,
    /// A memory was deleted.
    #[serde(rename = "memory.delete")]
    MemoryDelete,
    /// A memory reached its expiry and was removed.
    #[serde(rename = "memory.expire")]
    MemoryExpire,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 7] = [
        Self::ContextPut,
        Self::ContextDelete,
        Self::ContextExpire,
        Self::MemoryAdd,
        Self::MemoryUpdate,
        Self::MemoryDelete,
        Self::MemoryExpire,
    ];

    /// The name used on the wire and in the store, such as `memory.add`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContextPut => "context.put",
            Self::ContextDelete => "context.delete",
            Self::ContextExpire => "context.expire",
            Self::MemoryAdd => "memory.add",
            Self::MemoryUpdate => "memory.update",
            Self::MemoryDelete => "memory.delete",
            Self::MemoryExpire => "memory.expire",
        }
    }

    /// Reads a name made by [`as_str`](Self::as_str); `memory.*` and `context.*` name
    /// every kind of one entity.
    pub fn parse_set(name: &str) -> crate::Result<Vec<EventKind>> {
        let name = name.trim();
        let found: Vec<EventKind> = match name {
            "memory.*" | "memory" => Self::ALL
                .into_iter()
                .filter(|k| k.as_str().starts_with("memory."))
                .collect(),
            "context.*" | "context" => Self::ALL
                .into_iter()
                .filter(|k| k.as_str().starts_with("context."))
                .collect(),
            "*" => Self::ALL.to_vec(),
            _ => Self::ALL
                .into_iter()
                .filter(|k| k.as_str() == name)
                .collect(),
        };
        if found.is_empty() {
            return Err(crate::Error::invalid_input(
                "kinds",
                format!(
                    "{name:?} is not an event kind; use one of {}, or memory.*, context.* or *",
                    Self::ALL.map(Self::as_str).join(", ")
                ),
            ));
        }
        Ok(found)
    }

    /// Whether this kind concerns a memory (else a context).
    pub fn is_memory(self) -> bool {
        matches!(
            self,
            Self::MemoryAdd | Self::MemoryUpdate | Self::MemoryDelete | Self::MemoryExpire
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match Self::parse_set(s)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(crate::Error::invalid_input(
                "kind",
                format!("{s:?} names more than one event kind"),
            )),
        }
    }
}

/// One change, as the change feed, the history and webhooks show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the event log: strictly increasing, in commit order. Resume a
    /// feed after it with `since`.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// The tenant of the record.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// The namespace of the record.
    pub namespace: String,
    /// The memory id, or the context's id.
    pub id: String,
    /// The context's key (contexts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The memory's user (memories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The memory's agent (memories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The memory's session (memories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The record's version after the change (1 when created; a delete carries the
    /// version it removed).
    pub version: u64,
    /// Who made the change: a key prefix, a token subject, `local`, or `system` for
    /// expiry and maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The record as the change left it: `content`, `metadata`, `expires_at` of a
    /// memory, `value`, `tags`, `expires_at` of a context; absent for deletes, and
    /// unless asked for (`include_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
}

impl Event {
    /// The event of a memory written as `memory` (a `version` of 1 is an add).
    pub fn of_memory(memory: &Memory, version: u64, actor: Option<&str>, at: Timestamp) -> Self {
        Self {
            seq: 0,
            kind: if version <= 1 {
                EventKind::MemoryAdd
            } else {
                EventKind::MemoryUpdate
            },
            at,
            tenant: memory.tenant.clone(),
            namespace: memory.scope.namespace.clone(),
            id: memory.id.to_string(),
            key: None,
            user_id: memory.scope.user_id.clone(),
            agent_id: memory.scope.agent_id.clone(),
            session_id: memory.scope.session_id.clone(),
            version,
            actor: actor.map(str::to_owned),
            data: Some(serde_json::json!({
                "content": memory.content,
                "metadata": memory.metadata,
                "expires_at": memory.expires_at,
            })),
        }
    }

    /// The event of a context as `put_context` stored it.
    pub fn of_context(ctx: &Context, actor: Option<&str>, at: Timestamp) -> Self {
        Self {
            seq: 0,
            kind: EventKind::ContextPut,
            at,
            tenant: ctx.tenant.clone(),
            namespace: ctx.namespace.clone(),
            id: ctx.id.to_string(),
            key: Some(ctx.key.clone()),
            user_id: None,
            agent_id: None,
            session_id: None,
            version: ctx.version,
            actor: actor.map(str::to_owned),
            data: Some(serde_json::json!({
                "value": ctx.value,
                "tags": ctx.tags,
                "expires_at": ctx.expires_at,
            })),
        }
    }

    /// The event of a removed record (`kind` is a delete or an expiry).
    pub fn removed(kind: EventKind, gone: Removed, actor: Option<&str>, at: Timestamp) -> Self {
        Self {
            seq: 0,
            kind,
            at,
            tenant: gone.tenant,
            namespace: gone.namespace,
            id: gone.id,
            key: gone.key,
            user_id: gone.user_id,
            agent_id: gone.agent_id,
            session_id: gone.session_id,
            version: gone.version,
            actor: actor.map(str::to_owned),
            data: None,
        }
    }
}

/// What a store knows of a record it has just removed, to make its event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Its tenant.
    pub tenant: Tenant,
    /// Its namespace.
    pub namespace: String,
    /// Memory id or context id.
    pub id: String,
    /// A context's key.
    pub key: Option<String>,
    /// A memory's user.
    pub user_id: Option<String>,
    /// A memory's agent.
    pub agent_id: Option<String>,
    /// A memory's session.
    pub session_id: Option<String>,
    /// Its last version.
    pub version: u64,
}

/// Which record's events to read (its history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A memory, by id.
    Memory(MemoryId),
    /// A context, by `namespace/key` (across deletes and re-creations).
    Context {
        /// Its namespace.
        namespace: String,
        /// Its key.
        key: String,
    },
}

/// A read of the event log: the events after `since`, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListEvents {
    /// Only this tenant's events (the core sets it from the caller).
    pub tenant: Option<Tenant>,
    /// Events after this position (0 for the start of the log).
    pub since: i64,
    /// Only these namespaces (any when empty).
    pub namespaces: Vec<String>,
    /// Only these kinds (any when empty).
    pub kinds: Vec<EventKind>,
    /// Only this record's events.
    pub subject: Option<Subject>,
    /// Include each event's `data`.
    pub include_data: bool,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl EventPage {
    /// A page from `events` read with one more than `limit`, after `since` and up to
    /// the `head` the read saw: a full page resumes after its last event, any
    /// other after the head (past events the filters left out).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_overfetch(
        mut events: Vec<Event>,
        limit: usize,
        since: i64,
        head: i64,
        oldest: i64,
    ) -> Self {
        let more = events.len() > limit;
        events.truncate(limit);
        let next = match events.last() {
            Some(last) if more => last.seq,
            _ => head.max(since),
        };
        Self {
            events,
            next,
            more,
            oldest,
        }
    }
}

/// A slice of the event log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    /// Matching events after the asked position, oldest first.
    pub events: Vec<Event>,
    /// Where to resume: pass it back as `since`. It is past every event read, so
    /// events filtered out are not read again.
    pub next: i64,
    /// Whether more events may follow at once (this page was full).
    pub more: bool,
    /// The oldest position still in the log. When `since` is below it, events were
    /// pruned by the retention setting and the feed cannot be resumed without a gap.
    pub oldest: i64,
}
