//! `contexts` and `memories`, written once for both Python APIs.
//!
//! Each method below is one definition: [`twin_methods!`] expands it to a blocking
//! method on the sync class (the GIL released while it runs) and an awaitable one on
//! the async class, so the two APIs cannot drift apart.

use omnex_core::model::{ListContexts, ListMemories, ScopeArgs};
use pyo3::{exceptions::PyStopAsyncIteration, prelude::*};
use pyo3_async_runtimes::tokio::future_into_py;

use crate::{
    engine::{block, Engine, Pager},
    errors,
    events::whole_history,
    requests::{
        add_request, batch_request, list_contexts_request, list_memories_request, memory_id,
        put_request, search_request, update_request, Ranking,
    },
    types::{Context, Event, Job, Memory, SearchHit},
};

/// Expands one list of method definitions into the `#[pymethods]` of a sync class
/// and of its async twin. A definition names the engine, prepares the core request
/// from the arguments (`prepare`), makes the core call (`call`, awaited) and turns
/// its result into Python values (`convert`, with the GIL held). The `listing`
/// returns an iterator over the engine (`$Iter` and `$AsyncIter`); `head` items go
/// as written into the sync and the async class (a constructor, `__repr__`).
macro_rules! twin_methods {
    (
        $Sync:ident => $Iter:ident, $Async:ident => $AsyncIter:ident;
        $(head { $($shead:tt)* } { $($ahead:tt)* })?
        $(
            $(#[$meta:meta])*
            fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $out:ty {
                prepare($engine:ident) { $($prepare:stmt;)* }
                call { $($call:tt)* }
                convert(|$py:pat_param, $result:ident| $convert:expr)
            }
        )*
        listing:
        $(#[$lmeta:meta])*
        fn $list:ident(&self $(, $larg:ident : $lty:ty)* $(,)?) {
            prepare { $($lprepare:stmt;)* }
            request($req:expr)
        }
    ) => {
        #[pymethods]
        impl $Sync {
            $($($shead)*)?

            $(#[$lmeta])*
            #[allow(clippy::too_many_arguments)]
            fn $list(&self $(, $larg: $lty)*) -> PyResult<$Iter> {
                $($lprepare;)*
                Ok($Iter::new(self.engine.clone(), $req))
            }

            $(
                $(#[$meta])*
                #[allow(clippy::too_many_arguments, clippy::let_unit_value)]
                fn $name(&self, py: Python<'_> $(, $arg: $ty)*) -> PyResult<$out> {
                    let $engine = self.engine.clone();
                    $($prepare;)*
                    let $result = block(py, move || async move { $($call)* })?;
                    let convert = |$py: Python<'_>| -> PyResult<$out> { $convert };
                    convert(py)
                }
            )*
        }

        #[pymethods]
        impl $Async {
            $($($ahead)*)?

            $(#[$lmeta])*
            #[allow(clippy::too_many_arguments)]
            fn $list(&self $(, $larg: $lty)*) -> PyResult<$AsyncIter> {
                $($lprepare;)*
                Ok($AsyncIter::new(self.engine.clone(), $req))
            }

            $(
                $(#[$meta])*
                #[allow(clippy::too_many_arguments, clippy::let_unit_value)]
                fn $name<'py>(&self, py: Python<'py> $(, $arg: $ty)*) -> PyResult<Bound<'py, PyAny>> {
                    let $engine = self.engine.clone();
                    $($prepare;)*
                    future_into_py(py, async move {
                        let $result = async move { $($call)* }.await.map_err(errors::to_py)?;
                        Python::attach(|$py| -> PyResult<$out> { $convert })
                    })
                }
            )*
        }
    };
}

pub(crate) use twin_methods;

/// A sync and an async collection class over one engine.
macro_rules! twin_classes {
    ($(#[$doc:meta])* $Sync:ident, $(#[$adoc:meta])* $Async:ident) => {
        $(#[$doc])*
        #[pyclass(module = "omnex", frozen)]
        pub(crate) struct $Sync {
            pub(crate) engine: Engine,
        }

        $(#[$adoc])*
        #[pyclass(module = "omnex", frozen)]
        pub(crate) struct $Async {
            pub(crate) engine: Engine,
        }
    };
}

twin_classes!(
    /// Contexts: structured JSON values under `namespace/key`, with tags and versions.
    Contexts,
    /// Contexts with awaitable methods (see `omnex.Contexts`).
    AsyncContexts
);

twin_classes!(
    /// Memories: text with metadata, scoped to a namespace, user, agent and session.
    Memories,
    /// Memories with awaitable methods (see `omnex.Memories`).
    AsyncMemories
);

twin_methods! {
    Contexts => ContextIterator, AsyncContexts => AsyncContextIterator;

    /// Creates or replaces the context `namespace/key`. With `if_version`, only if
    /// the stored version matches (else `ConflictError`); `if_version=0` creates only.
    #[pyo3(signature = (namespace, key, value, *, tags = None, if_version = None, ttl_seconds = None))]
    fn put(
        &self,
        namespace: String,
        key: String,
        value: &Bound<'_, PyAny>,
        tags: Option<Vec<String>>,
        if_version: Option<u64>,
        ttl_seconds: Option<u64>,
    ) -> Context {
        prepare(engine) {
            let req = put_request(namespace, key, value, tags, if_version, ttl_seconds)?;
        }
        call { engine.put_context(req).await }
        convert(|_py, ctx| Ok(Context(ctx)))
    }

    /// Reads a context (`NotFoundError` if absent or expired).
    fn get(&self, namespace: String, key: String) -> Context {
        prepare(engine) {}
        call { engine.get_context(&namespace, &key).await }
        convert(|_py, ctx| Ok(Context(ctx)))
    }

    /// Deletes a context (`NotFoundError` if absent).
    #[pyo3(signature = (namespace, key, *, if_version = None))]
    fn delete(&self, namespace: String, key: String, if_version: Option<u64>) -> () {
        prepare(engine) {}
        call { engine.delete_context(&namespace, &key, if_version).await }
        convert(|_py, done| Ok(done))
    }

    /// Every change kept of the context `namespace/key`, across deletes and
    /// re-creations, oldest first: each version with its value (`data`), who wrote
    /// it and when (`NotFoundError` if there is none).
    fn history(&self, namespace: String, key: String) -> Vec<Event> {
        prepare(engine) {}
        call {
            whole_history(|since, limit| engine.context_history(&namespace, &key, since, limit)).await
        }
        convert(|_py, events| Ok(events.into_iter().map(Event).collect()))
    }

    listing:
    /// Iterates over contexts by (namespace, key), fetching `page_size` at a time
    /// (default 50); `async for` on the async class.
    #[pyo3(signature = (*, namespace = None, tag = None, prefix = None, page_size = None))]
    fn list(
        &self,
        namespace: Option<String>,
        tag: Option<String>,
        prefix: Option<String>,
        page_size: Option<usize>,
    ) {
        prepare {}
        request(list_contexts_request(namespace, tag, prefix, page_size))
    }

}

twin_methods! {
    Memories => MemoryIterator, AsyncMemories => AsyncMemoryIterator;

    /// Stores `content` as a memory (embedded unless `embedding` is given).
    #[pyo3(signature = (content, *, metadata = None, namespace = None, user_id = None, agent_id = None, session_id = None, embedding = None, ttl_seconds = None))]
    fn add(
        &self,
        content: String,
        metadata: Option<&Bound<'_, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> Memory {
        prepare(engine) {
            let scope = ScopeArgs::new(namespace, user_id, agent_id, session_id).into_scope();
            let new = add_request(content, metadata, scope, embedding, ttl_seconds)?;
        }
        call { engine.add_memory(new).await }
        convert(|_py, m| Ok(Memory(m)))
    }

    /// Stores up to 1,000 memories at once, all or nothing. Each item is a str or a
    /// dict with `content` and optionally `metadata`, `embedding`, `ttl_seconds` and
    /// scope fields; the keyword scope applies to items that give none.
    #[pyo3(signature = (items, *, namespace = None, user_id = None, agent_id = None, session_id = None))]
    fn add_many(
        &self,
        items: Vec<Bound<'_, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
    ) -> Vec<Memory> {
        prepare(engine) {
            let batch = batch_request(&items, ScopeArgs::new(namespace, user_id, agent_id, session_id))?;
        }
        call { engine.add_memories(batch).await }
        convert(|_py, added| Ok(added.into_iter().map(Memory).collect()))
    }

    /// Queues up to 100,000 memories (items as in `add_many`) to be embedded and
    /// added by a background worker, and returns the job at once; follow it with
    /// `job(id)`. The items are checked now, so a bad one raises here.
    #[pyo3(signature = (items, *, namespace = None, user_id = None, agent_id = None, session_id = None))]
    fn add_async(
        &self,
        items: Vec<Bound<'_, PyAny>>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
    ) -> Job {
        prepare(engine) {
            let batch = batch_request(&items, ScopeArgs::new(namespace, user_id, agent_id, session_id))?;
        }
        call { engine.add_memories_async(batch).await }
        convert(|_py, job| Ok(Job(job)))
    }

    /// Reads a memory by id (`NotFoundError` if absent or expired).
    fn get(&self, id: &str) -> Memory {
        prepare(engine) {
            let id = memory_id(id)?;
        }
        call { engine.get_memory(id).await }
        convert(|_py, m| Ok(Memory(m)))
    }

    /// Changes a memory's text (re-embedded), metadata (replaced) or expiry.
    #[pyo3(signature = (id, *, content = None, metadata = None, embedding = None, ttl_seconds = None))]
    fn update(
        &self,
        id: &str,
        content: Option<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        embedding: Option<Vec<f32>>,
        ttl_seconds: Option<u64>,
    ) -> Memory {
        prepare(engine) {
            let id = memory_id(id)?;
            let update = update_request(content, metadata, embedding, ttl_seconds)?;
        }
        call { engine.update_memory(id, update).await }
        convert(|_py, m| Ok(Memory(m)))
    }

    /// Deletes a memory (`NotFoundError` if absent).
    fn delete(&self, id: &str) -> () {
        prepare(engine) {
            let id = memory_id(id)?;
        }
        call { engine.delete_memory(id).await }
        convert(|_py, done| Ok(done))
    }

    /// Every change kept of the memory `id`, oldest first, with the memory as each
    /// change left it (`data`), who made it and when; a deleted memory keeps its
    /// history until the retention removes it (`NotFoundError` if there is none).
    fn history(&self, id: &str) -> Vec<Event> {
        prepare(engine) {
            let id = memory_id(id)?;
        }
        call { whole_history(|since, limit| engine.memory_history(id, since, limit)).await }
        convert(|_py, events| Ok(events.into_iter().map(Event).collect()))
    }

    /// The best memories for `query` (or `vector`, or both), best first, within the
    /// given scope; `filter` requires metadata values. `limit` defaults to 10.
    /// `mode` is "semantic", "keyword" or "hybrid" (the default with an embedder);
    /// `rrf_k`, `semantic_weight` and `keyword_weight` tune the fusion;
    /// `recency_half_life` ("30d") and `boost_field` ("importance") re-rank;
    /// `explain=True` adds each hit's rank and score per leg.
    #[pyo3(signature = (query = None, *, vector = None, mode = None, limit = None, namespace = None, user_id = None, agent_id = None, session_id = None, filter = None, min_score = None, rrf_k = None, semantic_weight = None, keyword_weight = None, recency_half_life = None, boost_field = None, explain = false, include_embedding = false))]
    fn search(
        &self,
        query: Option<String>,
        vector: Option<Vec<f32>>,
        mode: Option<String>,
        limit: Option<usize>,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        filter: Option<&Bound<'_, PyAny>>,
        min_score: Option<f32>,
        rrf_k: Option<f32>,
        semantic_weight: Option<f32>,
        keyword_weight: Option<f32>,
        recency_half_life: Option<String>,
        boost_field: Option<String>,
        explain: bool,
        include_embedding: bool,
    ) -> Vec<SearchHit> {
        prepare(engine) {
            let scope = ScopeArgs::new(namespace, user_id, agent_id, session_id);
            let ranking = Ranking { mode, min_score, rrf_k, semantic_weight, keyword_weight, recency_half_life, boost_field, explain };
            let req = search_request(query, vector, limit, scope, filter, ranking, include_embedding)?;
        }
        call { engine.search(req).await }
        convert(|py, hits| hits.into_iter().map(|h| SearchHit::new(py, h)).collect())
    }

    listing:
    /// Iterates over memories in creation order, fetching `page_size` at a time
    /// (default 50); `filter` requires metadata values, as in `search`; `async for`
    /// on the async class.
    #[pyo3(signature = (*, namespace = None, user_id = None, agent_id = None, session_id = None, filter = None, page_size = None, include_embedding = false))]
    fn list(
        &self,
        namespace: Option<String>,
        user_id: Option<String>,
        agent_id: Option<String>,
        session_id: Option<String>,
        filter: Option<&Bound<'_, PyAny>>,
        page_size: Option<usize>,
        include_embedding: bool,
    ) {
        prepare {
            let scope = ScopeArgs::new(namespace, user_id, agent_id, session_id);
        }
        request(list_memories_request(scope, filter, page_size, include_embedding)?)
    }

}

/// A sync iterator (`for`) and an async iterator (`async for`) over one listing,
/// each following `next_cursor` page by page.
macro_rules! twin_iterators {
    ($Iter:ident, $AsyncIter:ident, $Req:ty, $Item:ident, $list:ident) => {
        /// Follows `next_cursor` page by page.
        #[pyclass(module = "omnex")]
        pub(crate) struct $Iter {
            engine: Engine,
            pager: Pager<$Req, omnex_core::model::$Item>,
        }

        impl $Iter {
            fn new(engine: Engine, req: $Req) -> Self {
                Self {
                    engine,
                    pager: Pager::new(req),
                }
            }
        }

        #[pymethods]
        impl $Iter {
            fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
                slf
            }
            fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<$Item>> {
                let Self { engine, pager } = self;
                Ok(block(py, || pager.next(|r| engine.$list(r)))?.map($Item))
            }
        }

        /// `async for` over a listing, following cursors.
        #[pyclass(module = "omnex", frozen)]
        pub(crate) struct $AsyncIter {
            engine: Engine,
            pager: std::sync::Arc<tokio::sync::Mutex<Pager<$Req, omnex_core::model::$Item>>>,
        }

        impl $AsyncIter {
            fn new(engine: Engine, req: $Req) -> Self {
                Self {
                    engine,
                    pager: std::sync::Arc::new(tokio::sync::Mutex::new(Pager::new(req))),
                }
            }
        }

        #[pymethods]
        impl $AsyncIter {
            fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
                slf
            }
            fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let (engine, pager) = (self.engine.clone(), self.pager.clone());
                future_into_py(py, async move {
                    let next = pager.lock().await.next(|r| engine.$list(r)).await;
                    next.map_err(errors::to_py)?
                        .map($Item)
                        .ok_or_else(|| PyStopAsyncIteration::new_err(()))
                })
            }
        }
    };
}

twin_iterators!(
    ContextIterator,
    AsyncContextIterator,
    ListContexts,
    Context,
    list_contexts
);
twin_iterators!(
    MemoryIterator,
    AsyncMemoryIterator,
    ListMemories,
    Memory,
    list_memories
);
