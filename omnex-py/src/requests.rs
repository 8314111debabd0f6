//! The core requests of the Python methods, built once for the sync and async APIs.

use omnex_core::{
    model::{
        Filter, ListContexts, ListMemories, MemoryId, MemoryUpdate, NewMemory, PutContext, Scope,
        ScopeArgs, SearchMode, SearchRequest,
    },
    Config,
};
use pyo3::{exceptions::PyTypeError, prelude::*, types::PyDict};

use crate::{
    convert::{from_py, metadata_from_py},
    errors,
};

/// A memory id from its text.
pub(crate) fn memory_id(id: &str) -> PyResult<MemoryId> {
    MemoryId::parse(id).map_err(errors::to_py)
}

/// The configuration of an embedded engine from the constructor's arguments.
pub(crate) fn config(
    path: &str,
    storage: Option<String>,
    index: Option<String>,
    embedder: Option<String>,
    cache: Option<String>,
    model_dir: Option<String>,
    install_model: bool,
) -> PyResult<Config> {
    let parse = |config: &mut Config| -> omnex_core::Result<()> {
        if let Some(v) = storage {
            config.store = Some(v.parse()?);
        }
        if let Some(v) = index {
            config.index = v.parse()?;
        }
        if let Some(v) = embedder {
            config.embedder = v.parse()?;
        }
        if let Some(v) = cache {
            config.cache = v.parse()?;
        }
        Ok(())
    };
    let mut config = Config::with_data_dir(path);
    parse(&mut config).map_err(errors::to_py)?;
    config.model_dir = model_dir.map(Into::into);
    config.install_model = install_model;
    Ok(config)
}

/// The input of `memories.add`, shared by the sync and async APIs.
pub(crate) fn add_request(
    content: String,
    metadata: Option<&Bound<'_, PyAny>>,
    scope: Scope,
    embedding: Option<Vec<f32>>,
    ttl_seconds: Option<u64>,
) -> PyResult<NewMemory> {
    Ok(NewMemory {
        content,
        metadata: metadata_from_py(metadata)?.unwrap_or_default(),
        scope,
        embedding,
        expires_at: None,
        ttl_seconds,
    })
}

/// The input of `memories.update`.
pub(crate) fn update_request(
    content: Option<String>,
    metadata: Option<&Bound<'_, PyAny>>,
    embedding: Option<Vec<f32>>,
    ttl_seconds: Option<u64>,
) -> PyResult<MemoryUpdate> {
    Ok(MemoryUpdate {
        content,
        metadata: metadata_from_py(metadata)?,
        embedding,
        expires_at: None,
        ttl_seconds,
    })
}

/// How `memories.search` ranks: the mode, the fusion and the signals.
pub(crate) struct Ranking {
    pub(crate) mode: Option<String>,
    pub(crate) min_score: Option<f32>,
    pub(crate) rrf_k: Option<f32>,
    pub(crate) semantic_weight: Option<f32>,
    pub(crate) keyword_weight: Option<f32>,
    pub(crate) recency_half_life: Option<String>,
    pub(crate) boost_field: Option<String>,
    pub(crate) explain: bool,
}

/// The input of `memories.search`: the scope plus a metadata `filter` dict.
pub(crate) fn search_request(
    query: Option<String>,
    vector: Option<Vec<f32>>,
    limit: Option<usize>,
    scope: ScopeArgs,
    filter: Option<&Bound<'_, PyAny>>,
    ranking: Ranking,
    include_embedding: bool,
) -> PyResult<SearchRequest> {
    let mode = ranking
        .mode
        .as_deref()
        .map(str::parse::<SearchMode>)
        .transpose()
        .map_err(errors::to_py)?;
    Ok(SearchRequest {
        query,
        vector,
        mode,
        limit,
        filter: Filter {
            metadata: metadata_from_py(filter)?.unwrap_or_default(),
            ..scope.into_filter()
        },
        min_score: ranking.min_score,
        rrf_k: ranking.rrf_k,
        semantic_weight: ranking.semantic_weight,
        keyword_weight: ranking.keyword_weight,
        recency_half_life: ranking.recency_half_life,
        boost_field: ranking.boost_field,
        explain: ranking.explain,
        include_embedding,
    })
}

pub(crate) fn put_request(
    namespace: String,
    key: String,
    value: &Bound<'_, PyAny>,
    tags: Option<Vec<String>>,
    if_version: Option<u64>,
    ttl_seconds: Option<u64>,
) -> PyResult<PutContext> {
    Ok(PutContext {
        namespace,
        key,
        value: from_py(value)?,
        tags: tags.unwrap_or_default(),
        if_version,
        ttl_seconds,
        expires_at: None,
    })
}

pub(crate) fn list_contexts_request(
    namespace: Option<String>,
    tag: Option<String>,
    prefix: Option<String>,
    page_size: Option<usize>,
) -> ListContexts {
    ListContexts {
        namespace,
        tag,
        prefix,
        limit: page_size,
        cursor: None,
        ..ListContexts::default()
    }
}

/// The input of `memories.list`: the scope plus a metadata `filter` dict.
pub(crate) fn list_memories_request(
    scope: ScopeArgs,
    filter: Option<&Bound<'_, PyAny>>,
    page_size: Option<usize>,
    include_embedding: bool,
) -> PyResult<ListMemories> {
    Ok(ListMemories {
        filter: Filter {
            metadata: metadata_from_py(filter)?.unwrap_or_default(),
            ..scope.into_filter()
        },
        limit: page_size,
        cursor: None,
        include_embedding,
    })
}

pub(crate) fn batch_request(
    items: &[Bound<'_, PyAny>],
    base: ScopeArgs,
) -> PyResult<Vec<NewMemory>> {
    items.iter().map(|item| new_memory(item, &base)).collect()
}

fn new_memory(item: &Bound<'_, PyAny>, base: &ScopeArgs) -> PyResult<NewMemory> {
    if let Ok(content) = item.extract::<String>() {
        return Ok(NewMemory::new(content).with_scope(base.clone().into_scope()));
    }
    let Ok(d) = item.cast::<PyDict>() else {
        return Err(PyTypeError::new_err("add_many items must be str or dict"));
    };
    let get = |k: &str| -> PyResult<Option<String>> {
        d.get_item(k)?
            .filter(|v| !v.is_none())
            .map(|v| v.extract())
            .transpose()
    };
    let content =
        get("content")?.ok_or_else(|| PyTypeError::new_err("each dict item needs a 'content'"))?;
    let scope = ScopeArgs {
        namespace: get("namespace")?,
        user_id: get("user_id")?,
        agent_id: get("agent_id")?,
        session_id: get("session_id")?,
    }
    .or(base);
    Ok(NewMemory {
        content,
        metadata: metadata_from_py(d.get_item("metadata")?.as_ref())?.unwrap_or_default(),
        scope: scope.into_scope(),
        embedding: d
            .get_item("embedding")?
            .filter(|v| !v.is_none())
            .map(|v| v.extract())
            .transpose()?,
        expires_at: None,
        ttl_seconds: d
            .get_item("ttl_seconds")?
            .filter(|v| !v.is_none())
            .map(|v| v.extract())
            .transpose()?,
    })
}
