//! `omnex.Omnex` (embedded), `omnex.Client` (remote) and their async twins. Each
//! holds one engine behind [`OmnexApi`](omnex_core::OmnexApi) and exposes it as the
//! `contexts` and `memories` collections, plus the methods of the whole engine: the
//! change feed and jobs.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3_async_runtimes::tokio::future_into_py;

use crate::{
    collections::{twin_methods, AsyncContexts, AsyncMemories, Contexts, Memories},
    engine::{block, Engine},
    errors,
    events::{changes_request, follow_request, AsyncEventFollower, EventFollower},
    requests::config,
    types::{EventPage, Job},
};

/// An engine class: the engine and its collections.
macro_rules! engine_struct {
    ($(#[$doc:meta])* $Class:ident($Contexts:ident, $Memories:ident)) => {
        $(#[$doc])*
        #[pyclass(module = "omnex", frozen)]
        pub(crate) struct $Class {
            engine: Engine,
            /// Contexts: JSON values under namespace/key.
            #[pyo3(get)]
            contexts: Py<$Contexts>,
            /// Memories: text searchable by meaning.
            #[pyo3(get)]
            memories: Py<$Memories>,
            repr: String,
        }

        impl $Class {
            fn with(py: Python<'_>, engine: Engine, repr: String) -> PyResult<Self> {
                Ok(Self {
                    contexts: Py::new(py, $Contexts { engine: engine.clone() })?,
                    memories: Py::new(py, $Memories { engine: engine.clone() })?,
                    engine,
                    repr,
                })
            }
        }
    };
}

/// A sync engine class and its async twin, opened the same way: their collections,
/// the methods of the whole engine (the change feed and jobs, defined once for
/// both), how they open and how they print.
macro_rules! engine_classes {
    (
        $(#[$doc:meta])*
        $Sync:ident($Contexts:ident, $Memories:ident),
        $(#[$adoc:meta])*
        $Async:ident($AContexts:ident, $AMemories:ident);
        $(#[$new_meta:meta])*
        fn new($py:ident, $class:ident $(, $arg:ident : $ty:ty)* $(,)?) -> (engine, repr) $open:block
    ) => {
        engine_struct!($(#[$doc])* $Sync($Contexts, $Memories));
        engine_struct!($(#[$adoc])* $Async($AContexts, $AMemories));

        twin_methods! {
            $Sync => EventFollower, $Async => AsyncEventFollower;
            head {
                $(#[$new_meta])*
                #[new]
                #[allow(clippy::too_many_arguments)]
                fn new($py: Python<'_> $(, $arg: $ty)*) -> PyResult<Self> {
                    let $class = stringify!($Sync);
                    let (engine, repr): (Engine, String) = $open;
                    Self::with($py, engine, repr)
                }

                fn __repr__(&self) -> String {
                    self.repr.clone()
                }
            } {
                $(#[$new_meta])*
                #[new]
                #[allow(clippy::too_many_arguments)]
                fn new($py: Python<'_> $(, $arg: $ty)*) -> PyResult<Self> {
                    let $class = stringify!($Async);
                    let (engine, repr): (Engine, String) = $open;
                    Self::with($py, engine, repr)
                }

                fn __repr__(&self) -> String {
                    self.repr.clone()
                }
            }

            /// One page of the change feed: the events after `since` (0: from the
            /// oldest kept), oldest first; resume with the page's `next`.
            /// `namespaces` and `kinds` ("memory.add", "context.*", ...) narrow it;
            /// `include_data=True` adds each record's data; `limit` defaults to 100.
            #[pyo3(signature = (since = 0, *, namespaces = None, kinds = None, include_data = false, limit = None))]
            fn changes(
                &self,
                since: i64,
                namespaces: Option<Vec<String>>,
                kinds: Option<Vec<String>>,
                include_data: bool,
                limit: Option<usize>,
            ) -> EventPage {
                prepare(engine) {
                    let req = changes_request(since, namespaces, kinds, include_data, limit)?;
                }
                call { engine.changes(req).await }
                convert(|py, page| EventPage::new(py, page))
            }

            /// Reads a background job (`NotFoundError` if absent).
            fn job(&self, id: String) -> Job {
                prepare(engine) {}
                call { engine.get_job(&id).await }
                convert(|_py, job| Ok(Job(job)))
            }

            /// Cancels a job: a queued one at once, a running one at its next
            /// checkpoint; a finished one is returned as it is.
            fn cancel_job(&self, id: String) -> Job {
                prepare(engine) {}
                call { engine.cancel_job(&id).await }
                convert(|_py, job| Ok(Job(job)))
            }

            listing:
            /// Follows the change feed forever: the events after `since`, then each
            /// new one, reading every `poll_interval` seconds once caught up (with
            /// the GIL released); `async for` on the async class. Resume a later
            /// read with `since` set to the last event's `seq`.
            #[pyo3(signature = (since = 0, *, namespaces = None, kinds = None, include_data = false, poll_interval = 0.5))]
            fn follow(
                &self,
                since: i64,
                namespaces: Option<Vec<String>>,
                kinds: Option<Vec<String>>,
                include_data: bool,
                poll_interval: f64,
            ) {
                prepare {
                    let req = changes_request(since, namespaces, kinds, include_data, None)?;
                }
                request(follow_request(req, poll_interval)?)
            }
        }
    };
}

/// Opens an embedded engine (blocking, the GIL released).
fn open_local(
    py: Python<'_>,
    class: &str,
    path: &str,
    config: omnex_core::Config,
) -> PyResult<(Engine, String)> {
    let omnex = block(py, || omnex_core::Omnex::open(config))?;
    Ok((Arc::new(omnex), format!("omnex.{class}({path:?})")))
}

/// Makes a client of a server (no request is sent yet).
fn open_remote(
    class: &str,
    url: &str,
    api_key: Option<String>,
    use_tokens: bool,
) -> PyResult<(Engine, String)> {
    let mut client = omnex_client::Client::new(url, api_key).map_err(errors::to_py)?;
    if use_tokens {
        client = client.use_tokens();
    }
    Ok((Arc::new(client), format!("omnex.{class}({url:?})")))
}

engine_classes! {
    /// Durable memory in this process: SQLite in `path`, an HNSW index and the local
    /// embedding model (the same engine as `omnex serve`).
    ///
    /// >>> db = omnex.Omnex("./omnex-data")
    /// >>> db.memories.add("Alice is allergic to peanuts", user_id="alice")
    /// >>> db.memories.search("what can't alice eat?", user_id="alice")[0].memory.content
    Omnex(Contexts, Memories),
    /// Like `omnex.Omnex`, with awaitable methods. Opening happens in the constructor.
    AsyncOmnex(AsyncContexts, AsyncMemories);
    /// Opens (creating if needed) the data directory `path`. `storage`, `index`,
    /// `embedder`, `cache` and `model_dir` choose other backends, as in `omnex serve`
    /// (e.g. `embedder="http://127.0.0.1:11434/v1?model=nomic-embed-text"`).
    /// `install_model=True` installs the local model when it is missing (else
    /// opening raises `NotFoundError` saying how to install it).
    #[pyo3(signature = (path = "./omnex-data", *, storage = None, index = None, embedder = None, cache = None, model_dir = None, install_model = false))]
    fn new(py, class, path: &str, storage: Option<String>, index: Option<String>, embedder: Option<String>, cache: Option<String>, model_dir: Option<String>, install_model: bool) -> (engine, repr) {
        open_local(py, class, path, config(path, storage, index, embedder, cache, model_dir, install_model)?)?
    }
}

engine_classes! {
    /// The same API against a running `omnex serve`.
    ///
    /// >>> client = omnex.Client("http://127.0.0.1:8080", api_key=None)
    Client(Contexts, Memories),
    /// Like `omnex.Client`, with awaitable methods.
    AsyncClient(AsyncContexts, AsyncMemories);
    /// A client of the server at `url`, sending `api_key` (an API key, the server's
    /// key or a token) as a bearer credential. With `use_tokens=True` the key is
    /// exchanged for short-lived tokens, renewed before they expire, and only the
    /// tokens are sent with calls.
    #[pyo3(signature = (url = "http://127.0.0.1:8080", *, api_key = None, use_tokens = false))]
    fn new(py, class, url: &str, api_key: Option<String>, use_tokens: bool) -> (engine, repr) {
        open_remote(class, url, api_key, use_tokens)?
    }
}
