use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Tenant, Timestamp};

/// A structured JSON value stored under `namespace/key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Context {
    /// The tenant it belongs to (set by the core from the caller's credentials).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// A UUIDv7 given when the context is first created; kept across replaces.
    pub id: Uuid,
    /// The namespace (for example an app or a user).
    pub namespace: String,
    /// The key inside the namespace.
    pub key: String,
    /// Any JSON value.
    pub value: serde_json::Value,
    /// Free-form tags, for filtering listings.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the context was first created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it was last written.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one at every write: the optimistic-concurrency token.
    pub version: u64,
    /// When it expires, if ever. Expired contexts are never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

impl Context {
    /// Whether the write that returned this context created it (rather than replaced
    /// one): a context's first version is 1, and so is that of one created again
    /// after a delete. HTTP answers 201 for a created context and 200 for a replaced one.
    pub fn was_created(&self) -> bool {
        self.version == 1
    }
}

/// A condition a write must meet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally.
    #[default]
    None,
    /// The stored version must be exactly this one.
    Version(u64),
    /// Nothing may be stored yet.
    Absent,
}

/// The input of `Omnex::put_context`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PutContext {
    /// Namespace of the context.
    pub namespace: String,
    /// Key inside the namespace.
    pub key: String,
    /// The JSON value to store.
    pub value: serde_json::Value,
    /// Tags (replaces the stored tags).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only write if the stored version is this one (optimistic concurrency).
    #[serde(default)]
    pub if_version: Option<u64>,
    /// Absolute expiry time.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Time to live in seconds from now (alternative to `expires_at`).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

impl PutContext {
    /// A put of `value` under `namespace/key`.
    pub fn new(
        namespace: impl Into<String>,
        key: impl Into<String>,
        value: serde_json::Value,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            key: key.into(),
            value,
            ..Self::default()
        }
    }

    /// Sets the tags.
    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Requires the stored version to be `version`.
    pub fn with_if_version(mut self, version: u64) -> Self {
        self.if_version = Some(version);
        self
    }

    /// Expires the context `seconds` from now.
    pub fn with_ttl_seconds(mut self, seconds: u64) -> Self {
        self.ttl_seconds = Some(seconds);
        self
    }
}

/// A listing of contexts, ordered by `(namespace, key)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListContexts {
    /// The tenant (set by the core from the caller's credentials).
    #[serde(skip)]
    pub tenant: Tenant,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only contexts carrying this tag.
    pub tag: Option<String>,
    /// Only keys starting with this prefix.
    pub prefix: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
