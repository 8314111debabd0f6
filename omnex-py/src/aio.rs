//! `omnex.AsyncOmnex` / `omnex.AsyncClient`: the same API with awaitable methods
//! for asyncio (FastAPI, LangGraph). Calls run on the module's tokio runtime.

use std::sync::Arc;

use omnex_core::model::{ListContexts, ListMemories};
use pyo3::{exceptions::PyStopAsyncIteration, prelude::*};
use pyo3_async_runtimes::tokio::future_into_py;

use crate::{
    api::{
        add_request, batch_request, list_contexts_request, list_memories_request, memory_id,
        put_request, scope, scope_filter, search_request, update_request,
    },
    engine::{block, Engine, Pager},
    errors,
    types::{Context, Memory, SearchHit},
};

/// Like `omnex.Omnex`, with awaitable methods. Opening happens in the constructor.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncOmnex {
    /// Contexts, with awaitable methods.
    #[pyo3(get)]
    contexts: Py<AsyncContexts>,
    /// Memories, with awaitable methods.
    #[pyo3(get)]
    memories: Py<AsyncMemories>,
}

#[pymethods]
impl AsyncOmnex {
    /// Opens the data directory `path` (see `omnex.Omnex`).
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
        let config = crate::api::config(path, storage, index, embedder, cache, model_dir);
        let omnex = block(py, || omnex_core::Omnex::open(config))?;
        collections(py, Engine::Local(omnex))
    }
}

/// Like `omnex.Client`, with awaitable methods.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncClient {
    /// Contexts, with awaitable methods.
    #[pyo3(get)]
    contexts: Py<AsyncContexts>,
    /// Memories, with awaitable methods.
    #[pyo3(get)]
    memories: Py<AsyncMemories>,
}

#[pymethods]
impl AsyncClient {
    /// A client of the server at `url`, sending `api_key` as a bearer token.
    #[new]
    #[pyo3(signature = (url = "http://127.0.0.1:8080", *, api_key = None))]
    fn new(py: Python<'_>, url: &str, api_key: Option<String>) -> PyResult<Self> {
        let client = omnex_http::client::Client::new(url, api_key).map_err(errors::to_py)?;
        let AsyncOmnex { contexts, memories } = collections(py, Engine::Remote(client))?;
        Ok(Self { contexts, memories })
    }
}

fn collections(py: Python<'_>, engine: Engine) -> PyResult<AsyncOmnex> {
    Ok(AsyncOmnex {
        contexts: Py::new(
            py,
            AsyncContexts {
                engine: engine.clone(),
            },
        )?,
        memories: Py::new(py, AsyncMemories { engine })?,
    })
}

/// Contexts with awaitable methods (see `omnex.Contexts`).
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncContexts {
    engine: Engine,
}

#[pymethods]
impl AsyncContexts {
    /// Creates or replaces a context (awaitable).
    #[pyo3(signature = (namespace, key, value, *, tags = None, if_version = None, ttl_seconds = None))]
    #[allow(clippy::too_many_arguments)]
    fn put<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        value: &Bound<'py, PyAny>,
        tags: Option<Vec<String>>,
        if_version: Option<u64>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = put_request(namespace, key, value, tags, if_version, ttl_seconds)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .put_context(req)
                .await
                .map(Context)
                .map_err(errors::to_py)
        })
    }

    /// Reads a context (awaitable).
    fn get<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .get_context(namespace, key)
                .await
                .map(Context)
                .map_err(errors::to_py)
        })
    }

    /// Deletes a context (awaitable).
    #[pyo3(signature = (namespace, key, *, if_version = None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        if_version: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .delete_context(namespace, key, if_version)
                .await
                .map_err(errors::to_py)
        })
    }

    /// An async iterator over contexts (`async for c in db.contexts.list(): ...`).
    #[pyo3(signature = (*, namespace = None, tag = None, prefix = None, page_size = 100))]
    fn list(
        &self,
        namespace: Option<String>,
        tag: Option<String>,
        prefix: Option<String>,
        page_size: usize,
    ) -> AsyncContextIterator {
        AsyncContextIterator {
            engine: self.engine.clone(),
            pager: Arc::new(tokio::sync::Mutex::new(Pager::new(list_contexts_request(
                namespace, tag, prefix, page_size,
            )))),
        }
    }
}

/// Memories with awaitable methods (see `omnex.Memories`).
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncMemories {
    engine: Engine,
}

#[pymethods]
impl AsyncMemories {
    /// Stores a memory (awaitable).
    #[pyo3(signature = (content, *, metadata = None, namespace = None, user_id = None, agent_id = None, session_id = None, embedding = None, ttl_seconds = None))]
    #[allow(clippy::too_many_arguments)]
    fn add<'py>(
        &self,
        py: Python<'py>,
        content: String,
        metadata: Option<&Bound<'py, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let new = add_request(
            content,
            metadata,
            scope(namespace, user_id, agent_id, session_id),
            embedding,
            ttl_seconds,
        )?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .add_memory(new)
                .await
                .map(Memory)
                .map_err(errors::to_py)
        })
    }

    /// Stores up to 1,000 memories at once, all or nothing (awaitable).
    #[pyo3(signature = (items, *, namespace = None, user_id = None, agent_id = None, session_id = None))]
    fn add_many<'py>(
        &self,
        py: Python<'py>,
        items: Vec<Bound<'py, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = batch_request(&items, scope(namespace, user_id, agent_id, session_id))?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let added = engine.add_memories(batch).await.map_err(errors::to_py)?;
            Ok(added.into_iter().map(Memory).collect::<Vec<_>>())
        })
    }

    /// Reads a memory (awaitable).
    fn get<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = memory_id(id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .get_memory(id)
                .await
                .map(Memory)
                .map_err(errors::to_py)
        })
    }

    /// Changes a memory (awaitable).
    #[pyo3(signature = (id, *, content = None, metadata = None, embedding = None, ttl_seconds = None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        content: Option<String>,
        metadata: Option<&Bound<'py, PyAny>>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = memory_id(id)?;
        let update = update_request(content, metadata, embedding, ttl_seconds)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .update_memory(id, update)
                .await
                .map(Memory)
                .map_err(errors::to_py)
        })
    }

    /// Deletes a memory (awaitable).
    fn delete<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = memory_id(id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine.delete_memory(id).await.map_err(errors::to_py)
        })
    }

    /// An async iterator over memories in creation order.
    #[pyo3(signature = (*, namespace = None, user_id = None, agent_id = None, session_id = None, page_size = 100))]
    fn list(
        &self,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        page_size: usize,
    ) -> AsyncMemoryIterator {
        AsyncMemoryIterator {
            engine: self.engine.clone(),
            pager: Arc::new(tokio::sync::Mutex::new(Pager::new(list_memories_request(
                scope_filter(namespace, user_id, agent_id, session_id),
                page_size,
            )))),
        }
    }

    /// Semantic search (awaitable); returns a list of `SearchHit`.
    #[pyo3(signature = (query = None, *, vector = None, limit = 10, namespace = None, user_id = None, agent_id = None, session_id = None, filter = None, min_score = None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: Option<String>,
        vector: Option<Vec<f32>>,
        limit: usize,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        filter: Option<&Bound<'py, PyAny>>,
        min_score: Option<f32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scope = scope_filter(namespace, user_id, agent_id, session_id);
        let req = search_request(query, vector, limit, scope, filter, min_score)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let hits = engine.search(req).await.map_err(errors::to_py)?;
            Python::attach(|py| {
                hits.into_iter()
                    .map(|h| SearchHit::new(py, h))
                    .collect::<PyResult<Vec<_>>>()
            })
        })
    }
}

/// `async for` over contexts, following cursors.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncContextIterator {
    engine: Engine,
    pager: Arc<tokio::sync::Mutex<Pager<ListContexts, omnex_core::model::Context>>>,
}

#[pymethods]
impl AsyncContextIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (engine, pager) = (self.engine.clone(), self.pager.clone());
        future_into_py(py, async move {
            let next = pager.lock().await.next(|r| engine.list_contexts(r)).await;
            end_or(next.map_err(errors::to_py)?.map(Context))
        })
    }
}

/// `async for` over memories, following cursors.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncMemoryIterator {
    engine: Engine,
    pager: Arc<tokio::sync::Mutex<Pager<ListMemories, omnex_core::model::Memory>>>,
}

#[pymethods]
impl AsyncMemoryIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (engine, pager) = (self.engine.clone(), self.pager.clone());
        future_into_py(py, async move {
            let next = pager.lock().await.next(|r| engine.list_memories(r)).await;
            end_or(next.map_err(errors::to_py)?.map(Memory))
        })
    }
}

/// The item, or the end of an `async for`.
fn end_or<T>(item: Option<T>) -> PyResult<T> {
    item.ok_or_else(|| PyStopAsyncIteration::new_err(()))
}
