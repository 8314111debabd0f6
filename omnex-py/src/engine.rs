//! One engine behind both Python modes (the embedded facade or the HTTP client,
//! through [`OmnexApi`]), the pager of listings, and the runtime the calls run on.

use std::{future::Future, sync::Arc};

use omnex_core::{
    model::{ListContexts, ListMemories, Page},
    OmnexApi, Result,
};
use pyo3::prelude::*;

use crate::errors;

/// Where calls go: the embedded engine or a client of an `omnex serve`, behind the
/// one API both implement.
pub(crate) type Engine = Arc<dyn OmnexApi>;

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
