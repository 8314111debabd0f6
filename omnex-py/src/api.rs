//! `omnex.Omnex` (embedded), `omnex.Client` (remote) and their `contexts` and
//! `memories` collections. Every call releases the GIL while it runs.

use omnex_core::{
    model::{
        Filter, ListContexts, ListMemories, MemoryId, MemoryUpdate, NewMemory, PutContext, Scope,
        SearchRequest,
    },
    Config,
};
use pyo3::{exceptions::PyTypeError, prelude::*, types::PyDict};

use crate::{
    convert::{from_py, metadata_from_py},
    engine::{block, Engine, Pager},
    errors,
    types::{Context, Memory, SearchHit},
};

pub(crate) fn memory_id(id: &str) -> PyResult<MemoryId> {
    MemoryId::parse(id).map_err(errors::to_py)
}

/// Durable memory in this process: SQLite in `path`, an HNSW index and the local
/// embedding model (the same engine as `omnex serve`).
///
/// >>> db = omnex.Omnex("./omnex-data")
/// >>> db.memories.add("Alice is allergic to peanuts", user_id="alice")
/// >>> db.memories.search("what can't alice eat?", user_id="alice")[0].memory.content
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Omnex {
    /// Contexts: JSON values under namespace/key.
    #[pyo3(get)]
    contexts: Py<Contexts>,
    /// Memories: text searchable by meaning.
    #[pyo3(get)]
    memories: Py<Memories>,
}

#[pymethods]
impl Omnex {
    /// Opens (creating if needed) the data directory `path`. `storage`, `index`,
    /// `embedder`, `cache` and `model_dir` choose other backends, as in `omnex serve`
    /// (e.g. `embedder="http://127.0.0.1:11434/v1?model=nomic-embed-text"`).
    #[new]
    #[pyo3(signature = (path = "./omnex-data", *, storage = None, index = None, embedder = None, cache = None, model_dir = None))]
    fn new(
        py: Python<'_>,
        path: &str,
        storage: Option<String>,
        index: Option<String>,
        embedder: Option<String>,
        cache: Option<String>,
        model_dir: Option<String>,
    ) -> PyResult<Self> {
        let config = config(path, storage, index, embedder, cache, model_dir);
        let omnex = block(py, || omnex_core::Omnex::open(config))?;
        collections(py, Engine::Local(omnex))
    }

    fn __repr__(&self) -> String {
        match &self.contexts.get().engine {
            Engine::Local(o) => format!(
                "omnex.Omnex({:?})",
                o.config().data_dir.display().to_string()
            ),
            Engine::Remote(_) => "omnex.Omnex(remote)".to_owned(),
        }
    }
}

/// The same API against a running `omnex serve`.
///
/// >>> client = omnex.Client("http://127.0.0.1:8080", api_key=None)
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Client {
    /// Contexts: JSON values under namespace/key.
    #[pyo3(get)]
    contexts: Py<Contexts>,
    /// Memories: text searchable by meaning.
    #[pyo3(get)]
    memories: Py<Memories>,
    url: String,
}

#[pymethods]
impl Client {
    /// A client of the server at `url`, sending `api_key` as a bearer token.
    #[new]
    #[pyo3(signature = (url = "http://127.0.0.1:8080", *, api_key = None))]
    fn new(py: Python<'_>, url: &str, api_key: Option<String>) -> PyResult<Self> {
        let client = omnex_http::client::Client::new(url, api_key).map_err(errors::to_py)?;
        let Omnex { contexts, memories } = collections(py, Engine::Remote(client))?;
        Ok(Self {
            contexts,
            memories,
            url: url.to_owned(),
        })
    }

    fn __repr__(&self) -> String {
        format!("omnex.Client({:?})", self.url)
    }
}

fn collections(py: Python<'_>, engine: Engine) -> PyResult<Omnex> {
    Ok(Omnex {
        contexts: Py::new(
            py,
            Contexts {
                engine: engine.clone(),
            },
        )?,
        memories: Py::new(py, Memories { engine })?,
    })
}

/// Contexts: structured JSON values under `namespace/key`, with tags and versions.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Contexts {
    pub(crate) engine: Engine,
}

#[pymethods]
impl Contexts {
    /// Creates or replaces the context `namespace/key`. With `if_version`, only if
    /// the stored version matches (else `ConflictError`); `if_version=0` creates only.
    #[pyo3(signature = (namespace, key, value, *, tags = None, if_version = None, ttl_seconds = None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        namespace: String,
        key: String,
        value: &Bound<'_, PyAny>,
        tags: Option<Vec<String>>,
        if_version: Option<u64>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Context> {
        let req = put_request(namespace, key, value, tags, if_version, ttl_seconds)?;
        block(py, || self.engine.put_context(req)).map(Context)
    }

    /// Reads a context (`NotFoundError` if absent or expired).
    fn get(&self, py: Python<'_>, namespace: String, key: String) -> PyResult<Context> {
        block(py, || self.engine.get_context(namespace, key)).map(Context)
    }

    /// Deletes a context (`NotFoundError` if absent).
    #[pyo3(signature = (namespace, key, *, if_version = None))]
    fn delete(
        &self,
        py: Python<'_>,
        namespace: String,
        key: String,
        if_version: Option<u64>,
    ) -> PyResult<()> {
        block(py, || {
            self.engine.delete_context(namespace, key, if_version)
        })
    }

    /// Iterates over contexts by (namespace, key), fetching `page_size` at a time.
    #[pyo3(signature = (*, namespace = None, tag = None, prefix = None, page_size = 100))]
    fn list(
        &self,
        namespace: Option<String>,
        tag: Option<String>,
        prefix: Option<String>,
        page_size: usize,
    ) -> ContextIterator {
        ContextIterator {
            engine: self.engine.clone(),
            pager: Pager::new(list_contexts_request(namespace, tag, prefix, page_size)),
        }
    }
}

/// Memories: text with metadata, scoped to a namespace, user, agent and session.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Memories {
    pub(crate) engine: Engine,
}

pub(crate) fn scope(
    namespace: Option<String>,
    user_id: Option<String>,
    agent_id: Option<String>,
    session_id: Option<String>,
) -> Scope {
    let mut s = Scope::default();
    if let Some(ns) = namespace {
        s.namespace = ns;
    }
    s.user_id = user_id;
    s.agent_id = agent_id;
    s.session_id = session_id;
    s
}

#[pymethods]
impl Memories {
    /// Stores `content` as a memory (embedded unless `embedding` is given).
    #[pyo3(signature = (content, *, metadata = None, namespace = None, user_id = None, agent_id = None, session_id = None, embedding = None, ttl_seconds = None))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        py: Python<'_>,
        content: String,
        metadata: Option<&Bound<'_, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Memory> {
        let new = add_request(
            content,
            metadata,
            scope(namespace, user_id, agent_id, session_id),
            embedding,
            ttl_seconds,
        )?;
        block(py, || self.engine.add_memory(new)).map(Memory)
    }

    /// Stores up to 1,000 memories at once, all or nothing. Each item is a str or a
    /// dict with `content` and optionally `metadata`, `embedding`, `ttl_seconds` and
    /// scope fields; the keyword scope applies to items that give none.
    #[pyo3(signature = (items, *, namespace = None, user_id = None, agent_id = None, session_id = None))]
    fn add_many(
        &self,
        py: Python<'_>,
        items: Vec<Bound<'_, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Vec<Memory>> {
        let batch = batch_request(&items, scope(namespace, user_id, agent_id, session_id))?;
        Ok(block(py, || self.engine.add_memories(batch))?
            .into_iter()
            .map(Memory)
            .collect())
    }

    /// Reads a memory by id (`NotFoundError` if absent or expired).
    fn get(&self, py: Python<'_>, id: &str) -> PyResult<Memory> {
        let id = memory_id(id)?;
        block(py, || self.engine.get_memory(id)).map(Memory)
    }

    /// Changes a memory's text (re-embedded), metadata (replaced) or expiry.
    #[pyo3(signature = (id, *, content = None, metadata = None, embedding = None, ttl_seconds = None))]
    fn update(
        &self,
        py: Python<'_>,
        id: &str,
        content: Option<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Memory> {
        let id = memory_id(id)?;
        let update = update_request(content, metadata, embedding, ttl_seconds)?;
        block(py, || self.engine.update_memory(id, update)).map(Memory)
    }

    /// Deletes a memory (`NotFoundError` if absent).
    fn delete(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        let id = memory_id(id)?;
        block(py, || self.engine.delete_memory(id))
    }

    /// Iterates over memories in creation order, fetching `page_size` at a time.
    #[pyo3(signature = (*, namespace = None, user_id = None, agent_id = None, session_id = None, page_size = 100))]
    fn list(
        &self,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        page_size: usize,
    ) -> MemoryIterator {
        MemoryIterator {
            engine: self.engine.clone(),
            pager: Pager::new(list_memories_request(
                scope_filter(namespace, user_id, agent_id, session_id),
                page_size,
            )),
        }
    }

    /// The memories closest in meaning to `query` (or to `vector`), best first,
    /// within the given scope; `filter` requires metadata values.
    #[pyo3(signature = (query = None, *, vector = None, limit = 10, namespace = None, user_id = None, agent_id = None, session_id = None, filter = None, min_score = None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        query: Option<String>,
        vector: Option<Vec<f32>>,
        limit: usize,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        filter: Option<&Bound<'_, PyAny>>,
        min_score: Option<f32>,
    ) -> PyResult<Vec<SearchHit>> {
        let scope = scope_filter(namespace, user_id, agent_id, session_id);
        let req = search_request(query, vector, limit, scope, filter, min_score)?;
        let hits = block(py, || self.engine.search(req))?;
        hits.into_iter().map(|h| SearchHit::new(py, h)).collect()
    }
}

/// The configuration of an embedded engine from the constructor's arguments.
pub(crate) fn config(
    path: &str,
    storage: Option<String>,
    index: Option<String>,
    embedder: Option<String>,
    cache: Option<String>,
    model_dir: Option<String>,
) -> Config {
    let mut config = Config::with_data_dir(path);
    config.store = storage;
    if let Some(v) = index {
        config.index = v;
    }
    if let Some(v) = embedder {
        config.embedder = v;
    }
    if let Some(v) = cache {
        config.cache = v;
    }
    config.model_dir = model_dir.map(Into::into);
    config
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

/// The input of `memories.search`: the scope plus a metadata `filter` dict.
pub(crate) fn search_request(
    query: Option<String>,
    vector: Option<Vec<f32>>,
    limit: usize,
    mut scope: Filter,
    filter: Option<&Bound<'_, PyAny>>,
    min_score: Option<f32>,
) -> PyResult<SearchRequest> {
    scope.metadata = metadata_from_py(filter)?.unwrap_or_default();
    Ok(SearchRequest {
        query,
        vector,
        limit: Some(limit),
        filter: scope,
        min_score,
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
    page_size: usize,
) -> ListContexts {
    ListContexts {
        namespace,
        tag,
        prefix,
        limit: Some(page_size),
        cursor: None,
    }
}

pub(crate) fn scope_filter(
    namespace: Option<String>,
    user_id: Option<String>,
    agent_id: Option<String>,
    session_id: Option<String>,
) -> Filter {
    Filter {
        namespace,
        user_id,
        agent_id,
        session_id,
        metadata: Default::default(),
    }
}

pub(crate) fn list_memories_request(filter: Filter, page_size: usize) -> ListMemories {
    ListMemories {
        filter,
        limit: Some(page_size),
        cursor: None,
    }
}

pub(crate) fn batch_request(items: &[Bound<'_, PyAny>], base: Scope) -> PyResult<Vec<NewMemory>> {
    items.iter().map(|item| new_memory(item, &base)).collect()
}

fn new_memory(item: &Bound<'_, PyAny>, base: &Scope) -> PyResult<NewMemory> {
    if let Ok(content) = item.extract::<String>() {
        return Ok(NewMemory::new(content).with_scope(base.clone()));
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
    let mut scope = base.clone();
    if let Some(ns) = get("namespace")? {
        scope.namespace = ns;
    }
    scope.user_id = get("user_id")?.or(scope.user_id);
    scope.agent_id = get("agent_id")?.or(scope.agent_id);
    scope.session_id = get("session_id")?.or(scope.session_id);
    Ok(NewMemory {
        content,
        metadata: metadata_from_py(d.get_item("metadata")?.as_ref())?.unwrap_or_default(),
        scope,
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

/// Follows `next_cursor` page by page.
#[pyclass(module = "omnex")]
pub(crate) struct ContextIterator {
    engine: Engine,
    pager: Pager<ListContexts, omnex_core::model::Context>,
}

#[pymethods]
impl ContextIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Context>> {
        let Self { engine, pager } = self;
        Ok(block(py, || pager.next(|r| engine.list_contexts(r)))?.map(Context))
    }
}

/// Follows `next_cursor` page by page.
#[pyclass(module = "omnex")]
pub(crate) struct MemoryIterator {
    engine: Engine,
    pager: Pager<ListMemories, omnex_core::model::Memory>,
}

#[pymethods]
impl MemoryIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Memory>> {
        let Self { engine, pager } = self;
        Ok(block(py, || pager.next(|r| engine.list_memories(r)))?.map(Memory))
    }
}
