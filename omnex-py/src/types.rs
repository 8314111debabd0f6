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
