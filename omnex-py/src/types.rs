//! Result objects: attributes, `to_dict()`, `datetime` timestamps, `dict` values.

use omnex_core::model;
use pyo3::{prelude::*, types::PyDict};

use crate::convert::{datetime, metadata_to_py, to_py};

/// A memory: text with metadata, scope and timestamps.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Memory(pub(crate) model::Memory);

#[pymethods]
impl Memory {
    /// The memory id (a UUID string).
    #[getter]
    fn id(&self) -> String {
        self.0.id.to_string()
    }
    /// The remembered text.
    #[getter]
    fn content(&self) -> &str {
        &self.0.content
    }
    /// Caller metadata (a dict).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metadata_to_py(py, &self.0.metadata)
    }
    /// The tenant it belongs to (set by the server from the credentials).
    #[getter]
    fn tenant(&self) -> &str {
        self.0.tenant.as_str()
    }
    /// The namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.scope.namespace
    }
    /// The user it is about, or None.
    #[getter]
    fn user_id(&self) -> Option<&str> {
        self.0.scope.user_id.as_deref()
    }
    /// The agent keeping it, or None.
    #[getter]
    fn agent_id(&self) -> Option<&str> {
        self.0.scope.agent_id.as_deref()
    }
    /// The conversation it comes from, or None.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.0.scope.session_id.as_deref()
    }
    /// The embedding, when the engine returned it (embedded mode), else None.
    #[getter]
    fn embedding(&self) -> Option<Vec<f32>> {
        (!self.0.embedding.is_empty()).then(|| self.0.embedding.clone())
    }
    /// When it was added (aware UTC datetime).
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.created_at)
    }
    /// When it last changed.
    #[getter]
    fn updated_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.updated_at)
    }
    /// When it expires, or None.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .expires_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// All fields as a dict (timestamps as datetime; without the embedding).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("content", self.content())?;
        d.set_item("metadata", self.metadata(py)?)?;
        d.set_item("tenant", self.tenant())?;
        d.set_item("namespace", self.namespace())?;
        d.set_item("user_id", self.user_id())?;
        d.set_item("agent_id", self.agent_id())?;
        d.set_item("session_id", self.session_id())?;
        d.set_item("created_at", self.created_at(py)?)?;
        d.set_item("updated_at", self.updated_at(py)?)?;
        d.set_item("expires_at", self.expires_at(py)?)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!("Memory(id={:?}, content={:?})", self.id(), self.0.content)
    }
    fn __eq__(&self, other: &Self) -> bool {
        self.0.id == other.0.id && self.0.updated_at == other.0.updated_at
    }
}

/// A context: a JSON value under namespace/key, with tags and a version.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Context(pub(crate) model::Context);

#[pymethods]
impl Context {
    /// The tenant it belongs to (set by the server from the credentials).
    #[getter]
    fn tenant(&self) -> &str {
        self.0.tenant.as_str()
    }
    /// The namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.namespace
    }
    /// The key.
    #[getter]
    fn key(&self) -> &str {
        &self.0.key
    }
    /// The stored value (dict, list, str, int, float, bool or None).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.value)
    }
    /// The tags.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.tags.clone()
    }
    /// The version: 1 on create, +1 on every write; pass it as `if_version`.
    #[getter]
    fn version(&self) -> u64 {
        self.0.version
    }
    /// When it was created.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.created_at)
    }
    /// When it was last written.
    #[getter]
    fn updated_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.updated_at)
    }
    /// When it expires, or None.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .expires_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// All fields as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("tenant", self.tenant())?;
        d.set_item("namespace", self.namespace())?;
        d.set_item("key", self.key())?;
        d.set_item("value", self.value(py)?)?;
        d.set_item("tags", self.tags())?;
        d.set_item("version", self.version())?;
        d.set_item("created_at", self.created_at(py)?)?;
        d.set_item("updated_at", self.updated_at(py)?)?;
        d.set_item("expires_at", self.expires_at(py)?)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "Context(namespace={:?}, key={:?}, version={})",
            self.0.namespace, self.0.key, self.0.version
        )
    }
}

/// A search result: a memory and its score.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct SearchHit {
    memory: Py<Memory>,
    score: f32,
    explain: Option<serde_json::Value>,
}

impl SearchHit {
    pub(crate) fn new(py: Python<'_>, hit: model::SearchHit) -> PyResult<Self> {
        Ok(Self {
            memory: Py::new(py, Memory(hit.memory))?,
            score: hit.score,
            explain: hit
                .explain
                .map(|e| serde_json::to_value(e).unwrap_or_default()),
        })
    }
}

#[pymethods]
impl SearchHit {
    /// The memory.
    #[getter]
    fn memory(&self, py: Python<'_>) -> Py<Memory> {
        self.memory.clone_ref(py)
    }
    /// Higher is better: cosine similarity (semantic), BM25 (keyword) or the fused
    /// score in [0, 1] (hybrid), times any ranking signals.
    #[getter]
    fn score(&self) -> f32 {
        self.score
    }
    /// With `explain=True`: `{"semantic": {"rank", "score"}, "keyword": {...},
    /// "base_score", "recency", "boost"}` (legs that missed the hit are absent).
    #[getter]
    fn explain<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.explain.as_ref().map(|e| to_py(py, e)).transpose()
    }
    /// `{"memory": {...}, "score": ..., "explain": ...}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("memory", self.memory.get().to_dict(py)?)?;
        d.set_item("score", self.score)?;
        d.set_item("explain", self.explain(py)?)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "SearchHit(score={:.3}, memory={})",
            self.score,
            self.memory.get().__repr__()
        )
    }
}

/// One change to a context or a memory, as the change feed and histories show it.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Event(pub(crate) model::Event);

#[pymethods]
impl Event {
    /// Its position in the event log: strictly increasing, in commit order.
    #[getter]
    fn seq(&self) -> i64 {
        self.0.seq
    }
    /// What happened: "memory.add", "memory.update", "memory.delete",
    /// "memory.expire", "context.put", "context.delete" or "context.expire".
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    /// When (aware UTC datetime).
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.at)
    }
    /// The tenant of the record.
    #[getter]
    fn tenant(&self) -> &str {
        self.0.tenant.as_str()
    }
    /// The namespace of the record.
    #[getter]
    fn namespace(&self) -> &str {
        &self.0.namespace
    }
    /// The memory id, or the context's id.
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }
    /// The context's key (contexts only), else None.
    #[getter]
    fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }
    /// The memory's user (memories only), else None.
    #[getter]
    fn user_id(&self) -> Option<&str> {
        self.0.user_id.as_deref()
    }
    /// The memory's agent (memories only), else None.
    #[getter]
    fn agent_id(&self) -> Option<&str> {
        self.0.agent_id.as_deref()
    }
    /// The memory's session (memories only), else None.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }
    /// The record's version after the change (a delete carries the version it removed).
    #[getter]
    fn version(&self) -> u64 {
        self.0.version
    }
    /// Who made the change (a key prefix, a token subject, "local", or "system"
    /// for expiry), or None.
    #[getter]
    fn actor(&self) -> Option<&str> {
        self.0.actor.as_deref()
    }
    /// The record as the change left it (`content`, `metadata`, `expires_at` of a
    /// memory; `value`, `tags`, `expires_at` of a context), or None for deletes
    /// and unless asked for with `include_data=True`. Histories always carry it.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.data.as_ref().map(|d| to_py(py, d)).transpose()
    }
    /// All fields as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("seq", self.seq())?;
        d.set_item("kind", self.kind())?;
        d.set_item("at", self.at(py)?)?;
        d.set_item("tenant", self.tenant())?;
        d.set_item("namespace", self.namespace())?;
        d.set_item("id", self.id())?;
        d.set_item("key", self.key())?;
        d.set_item("user_id", self.user_id())?;
        d.set_item("agent_id", self.agent_id())?;
        d.set_item("session_id", self.session_id())?;
        d.set_item("version", self.version())?;
        d.set_item("actor", self.actor())?;
        d.set_item("data", self.data(py)?)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "Event(seq={}, kind={:?}, id={:?}, version={})",
            self.0.seq,
            self.kind(),
            self.0.id,
            self.0.version
        )
    }
    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// A page of the change feed: events oldest first, and where to resume.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct EventPage {
    events: Vec<Py<Event>>,
    next: i64,
    more: bool,
    oldest: i64,
}

impl EventPage {
    pub(crate) fn new(py: Python<'_>, page: model::EventPage) -> PyResult<Self> {
        Ok(Self {
            events: page
                .events
                .into_iter()
                .map(|e| Py::new(py, Event(e)))
                .collect::<PyResult<_>>()?,
            next: page.next,
            more: page.more,
            oldest: page.oldest,
        })
    }
}

#[pymethods]
impl EventPage {
    /// The matching events, oldest first.
    #[getter]
    fn events(&self, py: Python<'_>) -> Vec<Py<Event>> {
        self.events.iter().map(|e| e.clone_ref(py)).collect()
    }
    /// Where to resume: pass it back as `since`.
    #[getter]
    fn next(&self) -> i64 {
        self.next
    }
    /// Whether more events follow at once (this page was full).
    #[getter]
    fn more(&self) -> bool {
        self.more
    }
    /// The oldest position still kept; a `since` below it missed pruned events.
    #[getter]
    fn oldest(&self) -> i64 {
        self.oldest
    }
    fn __repr__(&self) -> String {
        format!(
            "EventPage(events=<{} events>, next={}, more={})",
            self.events.len(),
            self.next,
            if self.more { "True" } else { "False" }
        )
    }
}

/// A background job, such as an asynchronous batch of memories.
#[pyclass(module = "omnex", frozen)]
pub(crate) struct Job(pub(crate) model::Job);

#[pymethods]
impl Job {
    /// The job id; pass it to `job()` to follow it.
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }
    /// What it does: "embed", "import", "export", "reindex", "cleanup" or "webhook".
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    /// Where it is: "queued", "running", "done", "cancelled" or "dead".
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    /// Whether it will not change any more (done, cancelled or dead).
    #[getter]
    fn finished(&self) -> bool {
        self.0.status.is_final()
    }
    /// Items done so far.
    #[getter]
    fn done(&self) -> u64 {
        self.0.done
    }
    /// Items in all, when known.
    #[getter]
    fn total(&self) -> Option<u64> {
        self.0.total
    }
    /// Attempts started.
    #[getter]
    fn attempts(&self) -> u32 {
        self.0.attempts
    }
    /// Attempts allowed before it is dead.
    #[getter]
    fn max_attempts(&self) -> u32 {
        self.0.max_attempts
    }
    /// The last attempt's error, or None.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// What it made (for example an import's counts), or None.
    #[getter]
    fn output<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.output.as_ref().map(|o| to_py(py, o)).transpose()
    }
    /// When it was queued.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.created_at)
    }
    /// When it last changed.
    #[getter]
    fn updated_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.0.updated_at)
    }
    /// When it finished, or None.
    #[getter]
    fn finished_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .finished_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// All fields as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("kind", self.kind())?;
        d.set_item("status", self.status())?;
        d.set_item("done", self.done())?;
        d.set_item("total", self.total())?;
        d.set_item("attempts", self.attempts())?;
        d.set_item("max_attempts", self.max_attempts())?;
        d.set_item("error", self.error())?;
        d.set_item("output", self.output(py)?)?;
        d.set_item("created_at", self.created_at(py)?)?;
        d.set_item("updated_at", self.updated_at(py)?)?;
        d.set_item("finished_at", self.finished_at(py)?)?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "Job(id={:?}, kind={:?}, status={:?}, done={})",
            self.0.id,
            self.kind(),
            self.status(),
            self.0.done
        )
    }
}
