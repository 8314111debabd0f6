//! One engine behind both Python modes: the embedded facade or the HTTP client,
//! with the same methods, and the runtime the calls run on.

use std::future::Future;

use omnex_core::{
    model::{
        Context, ListContexts, ListMemories, Memory, MemoryId, MemoryUpdate, NewMemory, Page,
        PutContext, SearchHit, SearchRequest,
    },
    Omnex, Result,
};
use omnex_http::client::Client;
use pyo3::prelude::*;

use crate::errors;

/// Where calls go: an engine in this process, or an `omnex serve`.
#[derive(Clone, Debug)]
pub(crate) enum Engine {
    Local(Omnex),
    Remote(Client),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Engine::Local(o) => o.$method($($arg),*).await,
            Engine::Remote(c) => c.$method($($arg),*).await,
        }
    };
}

impl Engine {
    pub(crate) async fn put_context(&self, req: PutContext) -> Result<Context> {
        dispatch!(self.put_context(req))
    }
    pub(crate) async fn get_context(&self, namespace: String, key: String) -> Result<Context> {
        dispatch!(self.get_context(&namespace, &key))
    }
    pub(crate) async fn delete_context(
        &self,
        namespace: String,
        key: String,
        if_version: Option<u64>,
    ) -> Result<()> {
        dispatch!(self.delete_context(&namespace, &key, if_version))
    }
    pub(crate) async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>> {
        dispatch!(self.list_contexts(req))
    }
    pub(crate) async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        dispatch!(self.add_memory(new))
    }
    pub(crate) async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        dispatch!(self.add_memories(batch))
    }
    pub(crate) async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        dispatch!(self.get_memory(id))
    }
    pub(crate) async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        dispatch!(self.update_memory(id, update))
    }
    pub(crate) async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        dispatch!(self.delete_memory(id))
    }
    pub(crate) async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>> {
        dispatch!(self.list_memories(req))
    }
    pub(crate) async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        dispatch!(self.search(req))
    }
}

/// A listing request that pages with a cursor.
pub(crate) trait Paged: Clone {
    fn set_cursor(&mut self, cursor: Option<String>);
}

impl Paged for ListContexts {
    fn set_cursor(&mut self, cursor: Option<String>) {
        self.cursor = cursor;
    }
}

impl Paged for ListMemories {
    fn set_cursor(&mut self, cursor: Option<String>) {
        self.cursor = cursor;
    }
}

/// Where an iteration over a listing stands: fetches the next page when the
/// buffered one runs out, until the listing has no next cursor.
pub(crate) struct Pager<R, T> {
    req: R,
    buffer: std::collections::VecDeque<T>,
    done: bool,
}

impl<R: Paged, T> Pager<R, T> {
    pub(crate) fn new(req: R) -> Self {
        Self {
            req,
            buffer: Default::default(),
            done: false,
        }
    }

    /// The next item, fetching a page with `fetch` when needed.
    pub(crate) async fn next<F, Fut>(&mut self, fetch: F) -> Result<Option<T>>
    where
        F: FnOnce(R) -> Fut,
        Fut: Future<Output = Result<Page<T>>>,
    {
        if self.buffer.is_empty() && !self.done {
            let page = fetch(self.req.clone()).await?;
            self.buffer.extend(page.items);
            self.done = page.next_cursor.is_none();
            self.req.set_cursor(page.next_cursor);
        }
        Ok(self.buffer.pop_front())
    }
}

/// The one tokio runtime of the module (shared with the async API).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs a core call to completion with the GIL released, so other Python threads
/// run meanwhile. The call is made inside, so its future need not be `Send`.
pub(crate) fn block<T, F, Fut>(py: Python<'_>, call: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    py.detach(|| runtime().block_on(call()))
        .map_err(errors::to_py)
}
