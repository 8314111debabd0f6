use serde::{Deserialize, Serialize};

use super::{Filter, FilterFields, MemoryId, Metadata, Tenant, Timestamp};

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Who a memory belongs to: a namespace, and optionally a user, an agent and a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scope {
    /// The namespace (defaults to `"default"`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The user the memory is about or belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The agent that keeps the memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The conversation or run the memory comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            namespace: default_namespace(),
            user_id: None,
            agent_id: None,
            session_id: None,
        }
    }
}

impl Scope {
    /// A scope in `namespace` with no user, agent or session.
    pub fn namespace(ns: impl Into<String>) -> Self {
        Self {
            namespace: ns.into(),
            ..Self::default()
        }
    }
    /// Sets the user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user_id = Some(user.into());
        self
    }
    /// Sets the agent.
    pub fn with_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent_id = Some(agent.into());
        self
    }
    /// Sets the session.
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session_id = Some(session.into());
        self
    }
}

/// Scope fields as a caller gives them, each optional. Frontends fill the gaps with
/// their configured defaults ([`or`](Self::or)), then make a [`Scope`] for a write or
/// a [`Filter`] for a read; a namespace still missing then is [`DEFAULT_NAMESPACE`]
/// for a write and "any namespace" for a read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeArgs {
    /// The namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The session.
    #[serde(default)]
    pub session_id: Option<String>,
}

impl ScopeArgs {
    /// The scope fields of a call, as given.
    pub fn new(
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
    ) -> Self {
        Self {
            namespace,
            user_id,
            agent_id,
            session_id,
        }
    }

    /// Each field that is not given, taken from `defaults`.
    pub fn or(self, defaults: &Self) -> Self {
        Self {
            namespace: self.namespace.or_else(|| defaults.namespace.clone()),
            user_id: self.user_id.or_else(|| defaults.user_id.clone()),
            agent_id: self.agent_id.or_else(|| defaults.agent_id.clone()),
            session_id: self.session_id.or_else(|| defaults.session_id.clone()),
        }
    }

    /// The namespace of a context call: `given`, else this default's, else `default`.
    pub fn namespace_or(&self, given: Option<String>) -> String {
        given
            .or_else(|| self.namespace.clone())
            .unwrap_or_else(default_namespace)
    }

    /// The scope of a write (namespace `default` when none is given).
    pub fn into_scope(self) -> Scope {
        Scope {
            namespace: self.namespace.unwrap_or_else(default_namespace),
            user_id: self.user_id,
            agent_id: self.agent_id,
            session_id: self.session_id,
        }
    }

    /// The filter of a read: only the fields given, no metadata condition.
    pub fn into_filter(self) -> Filter {
        Filter {
            namespace: self.namespace,
            user_id: self.user_id,
            agent_id: self.agent_id,
            session_id: self.session_id,
            ..Filter::default()
        }
    }
}

/// A piece of natural-language memory with its embedding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Memory {
    /// UUIDv7 id.
    pub id: MemoryId,
    /// The tenant it belongs to (set by the core from the caller's credentials).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// The text.
    pub content: String,
    /// The embedding of `content` (unit length for cosine indexes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embedding: Vec<f32>,
    /// A JSON object of caller data.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    /// Who it belongs to.
    #[serde(flatten)]
    pub scope: Scope,
    /// When it was added.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When it was last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
    /// When it expires, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

impl Memory {
    /// Leaves the embedding out (listings and searches do unless asked for it).
    pub fn drop_embedding(&mut self) {
        self.embedding = Vec::new();
    }

    /// What an index needs of this memory.
    pub fn index_entry(&self) -> IndexEntry {
        IndexEntry {
            id: self.id,
            vector: self.embedding.clone(),
            fields: FilterFields {
                tenant: self.tenant.clone(),
                scope: self.scope.clone(),
                metadata: self.metadata.clone(),
                expires_at: self.expires_at,
            },
            text: self.content.clone(),
        }
    }
}

/// The input of `Omnex::add_memory`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMemory {
    /// The text to remember.
    pub content: String,
    /// Caller metadata (a JSON object).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    /// Who it belongs to.
    #[serde(flatten)]
    pub scope: Scope,
    /// A precomputed embedding; when absent, the configured embedder computes it.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// Absolute expiry time.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// Time to live in seconds (alternative to `expires_at`).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

impl NewMemory {
    /// A memory with this content in the default scope.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }
    /// Sets the scope.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }
    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }
    /// Supplies the embedding instead of computing it.
    pub fn with_embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }
    /// Expires the memory `seconds` from now.
    pub fn with_ttl_seconds(mut self, seconds: u64) -> Self {
        self.ttl_seconds = Some(seconds);
        self
    }
}

/// A partial update of a memory; absent fields are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemoryUpdate {
    /// New text (the memory is re-embedded).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::Content>))]
    pub content: Option<String>,
    /// New metadata (replaces the whole object).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::Metadata>))]
    pub metadata: Option<Metadata>,
    /// A precomputed embedding for the new content.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::Embedding>))]
    pub embedding: Option<Vec<f32>>,
    /// New expiry, in the future (not with `ttl_seconds`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// New time to live in seconds from now (not with `expires_at`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::TtlSeconds>))]
    pub ttl_seconds: Option<u64>,
}

/// A listing of memories, ordered by id (creation time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListMemories {
    /// Which memories.
    #[serde(default)]
    pub filter: Filter,
    /// Page size (default 50, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Return each memory's embedding (off by default: it is large and rarely needed).
    #[serde(default)]
    pub include_embedding: bool,
}

/// How a search ranks memories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SearchMode {
    /// By meaning: cosine similarity of embeddings. Needs an embedder or a query vector.
    Semantic,
    /// By words: BM25 full-text ranking of the query's terms. Needs no embedder.
    Keyword,
    /// Both, fused by reciprocal rank. The default when a query text and an
    /// embedder (or a query vector) are both at hand.
    Hybrid,
}

impl SearchMode {
    /// The wire name (`semantic`, `keyword`, `hybrid`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Semantic => "semantic",
            Self::Keyword => "keyword",
            Self::Hybrid => "hybrid",
        }
    }
}

impl std::fmt::Display for SearchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SearchMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        [Self::Semantic, Self::Keyword, Self::Hybrid]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                crate::Error::invalid_input(
                    "mode",
                    format!("unknown mode {s:?}: use semantic, keyword or hybrid"),
                )
            })
    }
}

/// A search over memories: by meaning, by words, or both.
///
/// `mode` picks the ranking (see [`SearchMode`]); left out, it is `hybrid` when there
/// is a query text and an embedder or a `vector`, `keyword` for a query text with no
/// embedder, and `semantic` for a vector alone. `query` and `vector` together search
/// by words with `query` and by meaning with the caller's `vector`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query text: embedded for the semantic leg, analyzed into terms for the keyword leg.
    #[serde(default)]
    pub query: Option<String>,
    /// A query vector for the semantic leg, instead of embedding `query`.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    /// `semantic`, `keyword` or `hybrid` (default: see above).
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// How many hits (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Which memories may be returned (applied inside every leg).
    #[serde(default)]
    pub filter: Filter,
    /// Drop hits whose final `score` is below this: a cosine similarity in `semantic`
    /// mode (-1 to 1), a BM25 score in `keyword` mode (0 and up), a fused score in
    /// `hybrid` mode (0 to 1). Applied after the ranking signals.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Reciprocal-rank fusion constant `k` in `weight / (k + rank)` (default 10):
    /// larger values flatten the difference between top and lower ranks.
    #[serde(default)]
    pub rrf_k: Option<f32>,
    /// Weight of the semantic leg in the fusion (default 1).
    #[serde(default)]
    pub semantic_weight: Option<f32>,
    /// Weight of the keyword leg in the fusion (default 1).
    #[serde(default)]
    pub keyword_weight: Option<f32>,
    /// Decay older memories: a memory last updated one half-life ago (`"30d"`,
    /// `"12h"`, `"90m"`, `"3600s"`, `"2w"`) scores half as much. Off by default.
    #[serde(default)]
    pub recency_half_life: Option<String>,
    /// Boost by a numeric metadata field (for example `"importance"`): the score is
    /// multiplied by `1 + value` (negative values count as 0, a missing or
    /// non-numeric field as 0). Off by default.
    #[serde(default)]
    pub boost_field: Option<String>,
    /// Return, with each hit, its rank and score in each leg and the signals applied.
    #[serde(default)]
    pub explain: bool,
    /// Return each hit's embedding (off by default: it is large and rarely needed).
    #[serde(default)]
    pub include_embedding: bool,
}

impl SearchRequest {
    /// A search for `query`.
    pub fn query(query: impl Into<String>) -> Self {
        Self {
            query: Some(query.into()),
            ..Self::default()
        }
    }
    /// A search by vector.
    pub fn vector(vector: Vec<f32>) -> Self {
        Self {
            vector: Some(vector),
            ..Self::default()
        }
    }
    /// Sets the mode.
    pub fn with_mode(mut self, mode: SearchMode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Sets the query vector (with a query text: hybrid with the caller's vector).
    pub fn with_vector(mut self, vector: Vec<f32>) -> Self {
        self.vector = Some(vector);
        self
    }
    /// Sets the number of hits.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Sets the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
    /// Sets the minimum score.
    pub fn with_min_score(mut self, min_score: f32) -> Self {
        self.min_score = Some(min_score);
        self
    }
    /// Sets the recency half-life (`"30d"`).
    pub fn with_recency_half_life(mut self, half_life: impl Into<String>) -> Self {
        self.recency_half_life = Some(half_life.into());
        self
    }
    /// Boosts by a numeric metadata field.
    pub fn with_boost_field(mut self, field: impl Into<String>) -> Self {
        self.boost_field = Some(field.into());
        self
    }
    /// Returns each hit's ranks and scores per leg.
    pub fn with_explain(mut self) -> Self {
        self.explain = true;
        self
    }
    /// Returns each hit's embedding too.
    pub fn with_embeddings(mut self) -> Self {
        self.include_embedding = true;
        self
    }
}

/// Where a hit stood in one leg of a search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegRank {
    /// 1 for the leg's best hit.
    pub rank: usize,
    /// The leg's own score: cosine similarity (semantic) or BM25 (keyword).
    pub score: f32,
}

/// Why a hit scored what it did (`explain: true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    /// Its place in the semantic leg, if that leg found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic: Option<LegRank>,
    /// Its place in the keyword leg, if that leg found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<LegRank>,
    /// The score before the ranking signals.
    pub base_score: f32,
    /// The recency factor applied (with `recency_half_life`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recency: Option<f32>,
    /// The boost factor applied (with `boost_field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boost: Option<f32>,
}

/// A search result: a memory and its score, higher is better.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The memory.
    pub memory: Memory,
    /// Semantic: cosine similarity in [-1, 1]. Keyword: BM25, 0 and up. Hybrid: the
    /// fused reciprocal-rank score scaled to [0, 1] (1 = first in every leg).
    /// Ranking signals multiply it.
    pub score: f32,
    /// Ranks and scores per leg, with `explain: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

/// What a vector index stores of a memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The memory id.
    pub id: MemoryId,
    /// Its embedding.
    pub vector: Vec<f32>,
    /// What filters look at.
    pub fields: FilterFields,
    /// Its content, for an index that also searches by words (Qdrant's sparse
    /// vectors); others ignore it.
    #[serde(default)]
    pub text: String,
}

/// A vector search inside an index.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorQuery {
    /// The query vector (unit length).
    pub vector: Vec<f32>,
    /// How many hits.
    pub k: usize,
    /// Pre-filter applied inside the search.
    pub filter: Filter,
    /// Drop hits below this score.
    pub min_score: Option<f32>,
    /// Items expiring at or before this instant are excluded.
    pub now: Timestamp,
}

impl VectorQuery {
    /// A top-`k` query with no filter.
    pub fn new(vector: Vec<f32>, k: usize) -> Self {
        Self {
            vector,
            k,
            filter: Filter::default(),
            min_score: None,
            now: super::now(),
        }
    }
    /// Sets the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
}

/// A full-text search inside a store: analyzed query terms, any of which may match.
#[derive(Clone, Debug, PartialEq)]
pub struct TextQuery {
    /// Distinct query terms, analyzed with the store's analyzer (never empty).
    pub terms: Vec<String>,
    /// How many hits.
    pub k: usize,
    /// Pre-filter applied inside the search.
    pub filter: Filter,
    /// Items expiring at or before this instant are excluded.
    pub now: Timestamp,
}

/// An index hit: a memory id and its score (cosine similarity, or BM25 for full text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The memory id.
    pub id: MemoryId,
    /// Cosine similarity, higher is closer.
    pub score: f32,
}

/// One entry of a store's change log: memory `id` was written or deleted at `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Position in the log (strictly increasing).
    pub seq: i64,
    /// The memory that changed.
    pub id: MemoryId,
}

/// A slice of the change log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeFeed {
    /// Changes after the asked position, in order.
    pub changes: Vec<Change>,
    /// True when the log no longer holds every change after the asked position
    /// (it was pruned): the reader must rebuild from a full scan.
    pub reset: bool,
}
