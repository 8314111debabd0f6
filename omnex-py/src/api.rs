//! `omnex.Omnex` (embedded), `omnex.Client` (remote) and their async twins. Each
//! holds one engine behind [`OmnexApi`](omnex_core::OmnexApi) and exposes it as the
//! `contexts` and `memories` collections.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::{
    collections::{AsyncContexts, AsyncMemories, Contexts, Memories},
    engine::{block, Engine},
    errors,
    requests::config,
};

/// An engine class: its collections, how it opens, and how it prints.
macro_rules! engine_class {
    (
        $(#[$doc:meta])*
        $Class:ident($Contexts:ident, $Memories:ident);
        $(#[$new_meta:meta])*
        fn new($py:ident $(, $arg:ident : $ty:ty)* $(,)?) -> (engine, repr) $open:block
    ) => {
        $(#[$doc])*
        #[pyclass(module = "omnex", frozen)]
        pub(crate) struct $Class {
            /// Contexts: JSON values under namespace/key.
            #[pyo3(get)]
            contexts: Py<$Contexts>,
            /// Memories: text searchable by meaning.
            #[pyo3(get)]
            memories: Py<$Memories>,
            repr: String,
        }

        #[pymethods]
        impl $Class {
            $(#[$new_meta])*
            #[new]
            #[allow(clippy::too_many_arguments)]
            fn new($py: Python<'_> $(, $arg: $ty)*) -> PyResult<Self> {
                let (engine, repr): (Engine, String) = $open;
                Ok(Self {
                    contexts: Py::new($py, $Contexts { engine: engine.clone() })?,
                    memories: Py::new($py, $Memories { engine })?,
                    repr,
                })
            }

            fn __repr__(&self) -> String {
                self.repr.clone()
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

engine_class! {
    /// Durable memory in this process: SQLite in `path`, an HNSW index and the local
    /// embedding model (the same engine as `omnex serve`).
    ///
    /// >>> db = omnex.Omnex("./omnex-data")
    /// >>> db.memories.add("Alice is allergic to peanuts", user_id="alice")
    /// >>> db.memories.search("what can't alice eat?", user_id="alice")[0].memory.content
    Omnex(Contexts, Memories);
    /// Opens (creating if needed) the data directory `path`. `storage`, `index`,
    /// `embedder`, `cache` and `model_dir` choose other backends, as in `omnex serve`
    /// (e.g. `embedder="http://127.0.0.1:11434/v1?model=nomic-embed-text"`).
    /// `install_model=True` installs the local model when it is missing (else
    /// opening raises `NotFoundError` saying how to install it).
    #[pyo3(signature = (path = "./omnex-data", *, storage = None, index = None, embedder = None, cache = None, model_dir = None, install_model = false))]
    fn new(py, path: &str, storage: Option<String>, index: Option<String>, embedder: Option<String>, cache: Option<String>, model_dir: Option<String>, install_model: bool) -> (engine, repr) {
        open_local(py, "Omnex", path, config(path, storage, index, embedder, cache, model_dir, install_model)?)?
    }
}

engine_class! {
    /// Like `omnex.Omnex`, with awaitable methods. Opening happens in the constructor.
    AsyncOmnex(AsyncContexts, AsyncMemories);
    /// Opens the data directory `path` (see `omnex.Omnex`).
    #[pyo3(signature = (path = "./omnex-data", *, storage = None, index = None, embedder = None, cache = None, model_dir = None, install_model = false))]
    fn new(py, path: &str, storage: Option<String>, index: Option<String>, embedder: Option<String>, cache: Option<String>, model_dir: Option<String>, install_model: bool) -> (engine, repr) {
        open_local(py, "AsyncOmnex", path, config(path, storage, index, embedder, cache, model_dir, install_model)?)?
    }
}

engine_class! {
    /// The same API against a running `omnex serve`.
    ///
    /// >>> client = omnex.Client("http://127.0.0.1:8080", api_key=None)
    Client(Contexts, Memories);
    /// A client of the server at `url`, sending `api_key` (an API key, the server's
    /// key or a token) as a bearer credential. With `use_tokens=True` the key is
    /// exchanged for short-lived tokens, renewed before they expire, and only the
    /// tokens are sent with calls.
    #[pyo3(signature = (url = "http://127.0.0.1:8080", *, api_key = None, use_tokens = false))]
    fn new(py, url: &str, api_key: Option<String>, use_tokens: bool) -> (engine, repr) {
        open_remote("Client", url, api_key, use_tokens)?
    }
}

engine_class! {
    /// Like `omnex.Client`, with awaitable methods.
    AsyncClient(AsyncContexts, AsyncMemories);
    /// A client of the server at `url`, sending `api_key` (an API key, the server's
    /// key or a token) as a bearer credential. With `use_tokens=True` the key is
    /// exchanged for short-lived tokens, renewed before they expire, and only the
    /// tokens are sent with calls.
    #[pyo3(signature = (url = "http://127.0.0.1:8080", *, api_key = None, use_tokens = false))]
    fn new(py, url: &str, api_key: Option<String>, use_tokens: bool) -> (engine, repr) {
        open_remote("AsyncClient", url, api_key, use_tokens)?
    }
}
