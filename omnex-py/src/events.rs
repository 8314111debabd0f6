//! The change feed in Python: its request, the histories read to the end, and
//! `follow()`, a sync and an async iterator that read the feed forever.

use std::{collections::VecDeque, future::Future, sync::Arc, time::Duration};

use omnex_core::{
    model::{self, EventKind, EventPage},
    Changes, Error, Result,
};
use pyo3::prelude::*;
use pyo3_async_runtimes::tokio::future_into_py;

use crate::{
    engine::{block, Engine},
    errors,
    types::Event,
};

/// Largest page a history or a feed reads at once.
const PAGE: usize = 1000;

/// The request of `changes()` and `follow()`: event kinds by name (`memory.*`
/// names every memory kind).
pub(crate) fn changes_request(
    since: i64,
    namespaces: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
    include_data: bool,
    limit: Option<usize>,
) -> PyResult<Changes> {
    let mut parsed: Vec<EventKind> = Vec::new();
    for name in kinds.unwrap_or_default() {
        for kind in EventKind::parse_set(&name).map_err(errors::to_py)? {
            if !parsed.contains(&kind) {
                parsed.push(kind);
            }
        }
    }
    Ok(Changes {
        since,
        namespaces: namespaces.unwrap_or_default(),
        kinds: parsed,
        include_data,
        limit,
    })
}

/// Every event of a history: pages fetched from `since = 0`, following `next`.
pub(crate) async fn whole_history<F, Fut>(mut fetch: F) -> Result<Vec<model::Event>>
where
    F: FnMut(i64, Option<usize>) -> Fut,
    Fut: Future<Output = Result<EventPage>>,
{
    let mut events = Vec::new();
    let mut since = 0;
    loop {
        let page = fetch(since, Some(PAGE)).await?;
        events.extend(page.events);
        if !page.more {
            return Ok(events);
        }
        since = page.next;
    }
}

/// What `follow()` reads, and how long it waits once it has caught up.
#[derive(Clone, Debug)]
pub(crate) struct Follow {
    req: Changes,
    poll: Duration,
}

/// The request of `follow()`.
pub(crate) fn follow_request(req: Changes, poll_interval: f64) -> PyResult<Follow> {
    let poll = Duration::try_from_secs_f64(poll_interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            errors::to_py(Error::invalid_input(
                "poll_interval",
                format!("{poll_interval} is not a positive number of seconds"),
            ))
        })?;
    Ok(Follow {
        req: Changes {
            limit: Some(req.limit.unwrap_or(PAGE)),
            ..req
        },
        poll,
    })
}

/// Where a live read of the feed stands: the events of the last page not yet
/// yielded, and whether it has caught up (its last page was not full).
#[derive(Debug)]
struct Feed {
    follow: Follow,
    buffer: VecDeque<model::Event>,
    caught_up: bool,
}

impl Feed {
    fn new(follow: Follow) -> Self {
        Self {
            follow,
            buffer: VecDeque::new(),
            caught_up: false,
        }
    }

    /// One step of the read: a buffered event, else the first event of the next
    /// page, read after waiting `poll` if the feed had caught up. `None` when that
    /// page was empty (the caller checks for signals and steps again).
    async fn step(&mut self, engine: &Engine) -> Result<Option<model::Event>> {
        if self.buffer.is_empty() {
            if self.caught_up {
                tokio::time::sleep(self.follow.poll).await;
            }
            let page = engine.changes(self.follow.req.clone()).await?;
            self.follow.req.since = page.next;
            self.caught_up = !page.more;
            self.buffer.extend(page.events);
        }
        Ok(self.buffer.pop_front())
    }
}

/// `for event in db.follow()`: the change feed, forever. It waits `poll_interval`
/// between reads once it has caught up, with the GIL released; Ctrl-C stops it.
#[pyclass(module = "omnex")]
pub(crate) struct EventFollower {
    engine: Engine,
    feed: Feed,
}

impl EventFollower {
    pub(crate) fn new(engine: Engine, follow: Follow) -> Self {
        Self {
            engine,
            feed: Feed::new(follow),
        }
    }
}

#[pymethods]
impl EventFollower {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Event> {
        let Self { engine, feed } = self;
        loop {
            if let Some(e) = block(py, || feed.step(engine))? {
                return Ok(Event(e));
            }
            py.check_signals()?;
        }
    }
}

/// `async for event in db.follow()`: the change feed, forever (see `EventFollower`).
#[pyclass(module = "omnex", frozen)]
pub(crate) struct AsyncEventFollower {
    engine: Engine,
    feed: Arc<tokio::sync::Mutex<Feed>>,
}

impl AsyncEventFollower {
    pub(crate) fn new(engine: Engine, follow: Follow) -> Self {
        Self {
            engine,
            feed: Arc::new(tokio::sync::Mutex::new(Feed::new(follow))),
        }
    }
}

#[pymethods]
impl AsyncEventFollower {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (engine, feed) = (self.engine.clone(), self.feed.clone());
        future_into_py(py, async move {
            let mut feed = feed.lock().await;
            loop {
                if let Some(e) = feed.step(&engine).await.map_err(errors::to_py)? {
                    return Ok(Event(e));
                }
            }
        })
    }
}
