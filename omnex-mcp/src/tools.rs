//! Arguments and results of the MCP tools. Doc comments become the JSON-schema
//! descriptions a model reads, so they say what each field means.

use omnex_core::model::{Context, Memory, Metadata, Page, SearchHit, SearchMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `memory_add`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryAddArgs {
    /// The fact, preference or event to remember, as one self-contained sentence
    /// (for example "Alice is allergic to peanuts").
    pub content: String,
    /// Optional JSON object of extra data to store with it (source, topic, ...).
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Namespace (an app or project). Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The user this memory is about. Defaults to the server's user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The agent keeping the memory. Defaults to the server's agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The conversation it comes from.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Arguments of `memory_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySearchArgs {
    /// What to look for, in natural language (a question or a topic).
    pub query: String,
    /// How many memories to return, 1-100 (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only this namespace. Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only this user's memories. Defaults to the server's user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this agent's memories. Defaults to the server's agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only this conversation's memories.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Only memories whose metadata has these exact values, e.g. {"topic": "health"}.
    #[serde(default)]
    pub filter: Option<Metadata>,
    /// "hybrid" (default: by meaning and by words together), "semantic" (by meaning only)
    /// or "keyword" (exact words: names, numbers, rare terms).
    #[serde(default)]
    pub mode: Option<ModeArg>,
    /// Drop results scoring below this. Semantic: cosine similarity, -1 to 1 (0.3 is
    /// loose, 0.6 strict). Keyword: BM25, 0 and up. Hybrid: fused score, 0 to 1.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Favor recent memories: one half-life since the last update (e.g. "30d", "12h")
    /// halves a memory's score.
    #[serde(default)]
    pub recency_half_life: Option<String>,
    /// Favor memories with a higher value of this numeric metadata field (e.g. "importance"):
    /// the score is multiplied by 1 + value.
    #[serde(default)]
    pub boost_field: Option<String>,
    /// Reciprocal-rank fusion constant for hybrid search (default 10).
    #[serde(default)]
    pub rrf_k: Option<f32>,
    /// Weight of the by-meaning leg in hybrid search (default 1).
    #[serde(default)]
    pub semantic_weight: Option<f32>,
    /// Weight of the by-words leg in hybrid search (default 1).
    #[serde(default)]
    pub keyword_weight: Option<f32>,
    /// Add to each result its rank and score in each leg.
    #[serde(default)]
    pub explain: bool,
}

/// How `memory_search` ranks.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    /// By meaning (embeddings).
    Semantic,
    /// By words (BM25 full-text).
    Keyword,
    /// Both, fused.
    Hybrid,
}

impl From<ModeArg> for SearchMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Semantic => SearchMode::Semantic,
            ModeArg::Keyword => SearchMode::Keyword,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

/// Arguments naming one memory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryIdArgs {
    /// The memory id (a UUID returned by memory_add, memory_search or memory_list).
    pub id: String,
}

/// Arguments of `memory_update`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryUpdateArgs {
    /// The memory id.
    pub id: String,
    /// New text, replacing the old (the memory is re-indexed for search).
    #[serde(default)]
    pub content: Option<String>,
    /// New metadata object, replacing the old one entirely.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// Arguments of `memory_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryListArgs {
    /// Only this namespace. Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only this user's memories. Defaults to the server's user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this agent's memories. Defaults to the server's agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only this conversation's memories.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Only memories whose metadata has these values (exact match per key).
    #[serde(default)]
    pub filter: Option<Metadata>,
    /// Page size, 1-1000 (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The next_cursor of the previous page, to continue a listing.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of `context_set`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextSetArgs {
    /// The key, e.g. "preferences" or "project/status" (slashes allowed).
    pub key: String,
    /// Any JSON value to store under the key (object, array, string, number, ...).
    pub value: serde_json::Value,
    /// Namespace. Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Tags for finding the context with context_list (replaces stored tags).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Only write if the stored version is this one (0 = only if the key is new);
    /// use it to avoid overwriting someone else's change.
    #[serde(default)]
    pub if_version: Option<u64>,
}

/// Arguments naming one context.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextKeyArgs {
    /// The key.
    pub key: String,
    /// Namespace. Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Arguments of `context_list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextListArgs {
    /// Namespace. Defaults to the server's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only contexts with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only keys starting with this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A stored memory.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemoryOut {
    /// Its id.
    pub id: String,
    /// The remembered text.
    pub content: String,
    /// Extra data stored with it.
    pub metadata: Metadata,
    /// Its namespace.
    pub namespace: String,
    /// The user it is about, if any.
    pub user_id: Option<String>,
    /// The agent keeping it, if any.
    pub agent_id: Option<String>,
    /// The conversation it comes from, if any.
    pub session_id: Option<String>,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl From<Memory> for MemoryOut {
    fn from(m: Memory) -> Self {
        Self {
            id: m.id.to_string(),
            content: m.content,
            metadata: m.metadata,
            namespace: m.scope.namespace,
            user_id: m.scope.user_id,
            agent_id: m.scope.agent_id,
            session_id: m.scope.session_id,
            created_at: m.created_at.to_rfc3339(),
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

/// One search result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HitOut {
    /// Higher is better: the fused score in 0-1 (hybrid), cosine similarity (semantic)
    /// or BM25 (keyword).
    pub score: f32,
    /// The memory.
    pub memory: MemoryOut,
    /// With explain: the rank and score in each leg ("semantic", "keyword").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<serde_json::Value>,
}

impl From<SearchHit> for HitOut {
    fn from(h: SearchHit) -> Self {
        Self {
            score: h.score,
            memory: h.memory.into(),
            explain: h.explain.and_then(|e| serde_json::to_value(e).ok()),
        }
    }
}

/// Result of `memory_search`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOut {
    /// The best matches, best first.
    pub hits: Vec<HitOut>,
}

/// Result of `memory_list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemoryPageOut {
    /// This page of memories, oldest first.
    pub items: Vec<MemoryOut>,
    /// Pass as `cursor` to get the next page; null after the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Memory>> for MemoryPageOut {
    fn from(p: Page<Memory>) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// A stored context.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContextOut {
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// The stored JSON value.
    pub value: serde_json::Value,
    /// Its tags.
    pub tags: Vec<String>,
    /// Version, +1 at every write; pass it as if_version to update safely.
    pub version: u64,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was last written (RFC 3339).
    pub updated_at: String,
}

impl From<Context> for ContextOut {
    fn from(c: Context) -> Self {
        Self {
            namespace: c.namespace,
            key: c.key,
            value: c.value,
            tags: c.tags,
            version: c.version,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

/// Result of `context_list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContextPageOut {
    /// This page of contexts, by key.
    pub items: Vec<ContextOut>,
    /// Pass as `cursor` to get the next page; null after the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Context>> for ContextPageOut {
    fn from(p: Page<Context>) -> Self {
        Self {
            items: p.items.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// Result of the delete tools.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedOut {
    /// Always true: a missing item is an error instead.
    pub deleted: bool,
    /// What was deleted (a memory id or namespace/key).
    pub target: String,
}

/// One change of a memory, as `memory_history` lists it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeOut {
    /// Its position in the event log.
    pub seq: i64,
    /// `memory.add`, `memory.update`, `memory.delete` or `memory.expire`.
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who made it (a key prefix, a token subject, `local`, `system`).
    pub actor: Option<String>,
    /// The memory's version after it.
    pub version: u64,
    /// The memory as the change left it (`content`, `metadata`, `expires_at`);
    /// absent for a delete.
    pub data: Option<serde_json::Value>,
}

impl From<omnex_core::model::Event> for ChangeOut {
    fn from(e: omnex_core::model::Event) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            at: e.at.to_rfc3339(),
            actor: e.actor,
            version: e.version,
            data: e.data,
        }
    }
}

/// The answer of `memory_history`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryOut {
    /// The memory's changes, oldest first.
    pub changes: Vec<ChangeOut>,
}
