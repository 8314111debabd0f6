//! A Rust client of the HTTP API with the same methods and types as the
//! [`Omnex`](omnex_core::Omnex) facade, so code (and the Python `omnex.Client`)
//! can switch between an embedded engine and a remote `omnex serve`.
//!
//! ```no_run
//! # async fn demo() -> omnex_core::Result<()> {
//! use omnex_core::model::{NewMemory, SearchRequest};
//! let client = omnex_http::client::Client::new("http://127.0.0.1:8080", None)?;
//! client.add_memory(NewMemory::new("Alice likes green tea")).await?;
//! let hits = client.search(SearchRequest::query("what does alice drink?")).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use omnex_core::{
    error::Entity,
    model::{
        Context, ListContexts, ListMemories, Memory, MemoryId, MemoryUpdate, NewMemory, Page,
        PutContext, SearchHit, SearchRequest,
    },
    Error, Result,
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

const BACKEND: &str = "omnex server";

/// Field names the server reports on `invalid_input`, as the core's `&'static str`s.
const FIELDS: &[&str] = &[
    "namespace",
    "key",
    "value",
    "tags",
    "content",
    "metadata",
    "user_id",
    "agent_id",
    "session_id",
    "embedding",
    "vector",
    "query",
    "filter",
    "limit",
    "cursor",
    "min_score",
    "if_version",
    "ttl_seconds",
    "expires_at",
    "memories",
    "id",
];

/// A client of one `omnex serve`.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ProblemBody {
    code: String,
    detail: String,
    #[serde(default)]
    field: Option<String>,
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Deserialize)]
struct Hits {
    hits: Vec<SearchHit>,
}

/// Percent-encodes one path segment (or a key, keeping its `/`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`),
    /// sending `api_key` as a bearer token when given.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::invalid_input(
                "url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal(BACKEND, e))?;
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Option<T>> {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .query(query);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| Error::unavailable(BACKEND, e))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| Error::unavailable(BACKEND, e))?;
        if status.is_success() {
            if status == StatusCode::NO_CONTENT || bytes.is_empty() {
                return Ok(None);
            }
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(BACKEND, e));
        }
        let problem: ProblemBody = serde_json::from_slice(&bytes).map_err(|_| {
            Error::internal(
                BACKEND,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            )
        })?;
        Err(error_from_problem(status, problem))
    }

    async fn expect<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T> {
        self.call(method, path, query, body)
            .await?
            .ok_or_else(|| Error::internal(BACKEND, "empty response"))
    }

    /// See [`Omnex::put_context`](omnex_core::Omnex::put_context).
    pub async fn put_context(&self, req: PutContext) -> Result<Context> {
        let path = format!(
            "/contexts/{}/{}",
            encode(&req.namespace, false),
            encode(&req.key, true)
        );
        let body = json!({
            "value": req.value, "tags": req.tags, "if_version": req.if_version,
            "ttl_seconds": req.ttl_seconds, "expires_at": req.expires_at,
        });
        self.expect(Method::PUT, &path, &[], Some(body)).await
    }

    /// See [`Omnex::get_context`](omnex_core::Omnex::get_context).
    pub async fn get_context(&self, namespace: &str, key: &str) -> Result<Context> {
        let path = format!(
            "/contexts/{}/{}",
            encode(namespace, false),
            encode(key, true)
        );
        self.expect(Method::GET, &path, &[], None).await
    }

    /// See [`Omnex::delete_context`](omnex_core::Omnex::delete_context).
    pub async fn delete_context(
        &self,
        namespace: &str,
        key: &str,
        if_version: Option<u64>,
    ) -> Result<()> {
        let path = format!(
            "/contexts/{}/{}",
            encode(namespace, false),
            encode(key, true)
        );
        let query: Vec<(&str, String)> = if_version
            .map(|v| ("if_version", v.to_string()))
            .into_iter()
            .collect();
        self.call::<Value>(Method::DELETE, &path, &query, None)
            .await?;
        Ok(())
    }

    /// See [`Omnex::list_contexts`](omnex_core::Omnex::list_contexts).
    pub async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>> {
        let query: Vec<(&str, String)> = [
            ("namespace", req.namespace),
            ("tag", req.tag),
            ("prefix", req.prefix),
            ("limit", req.limit.map(|l| l.to_string())),
            ("cursor", req.cursor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.expect(Method::GET, "/contexts", &query, None).await
    }

    /// See [`Omnex::add_memory`](omnex_core::Omnex::add_memory).
    pub async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        let body = serde_json::to_value(&new).map_err(|e| Error::internal(BACKEND, e))?;
        self.expect(Method::POST, "/memories", &[], Some(body))
            .await
    }

    /// See [`Omnex::add_memories`](omnex_core::Omnex::add_memories).
    pub async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        let body = json!({ "memories": batch });
        let items: Items<Memory> = self
            .expect(Method::POST, "/memories/batch", &[], Some(body))
            .await?;
        Ok(items.items)
    }

    /// See [`Omnex::get_memory`](omnex_core::Omnex::get_memory).
    pub async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        self.expect(Method::GET, &format!("/memories/{id}"), &[], None)
            .await
    }

    /// See [`Omnex::update_memory`](omnex_core::Omnex::update_memory).
    pub async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        let body = serde_json::to_value(&update).map_err(|e| Error::internal(BACKEND, e))?;
        self.expect(Method::PATCH, &format!("/memories/{id}"), &[], Some(body))
            .await
    }

    /// See [`Omnex::delete_memory`](omnex_core::Omnex::delete_memory).
    pub async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        self.call::<Value>(Method::DELETE, &format!("/memories/{id}"), &[], None)
            .await?;
        Ok(())
    }

    /// See [`Omnex::list_memories`](omnex_core::Omnex::list_memories).
    pub async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>> {
        let f = req.filter;
        if !f.metadata.is_empty() {
            return Err(Error::invalid_input(
                "filter",
                "the HTTP API lists memories by scope only; use search for metadata filters",
            ));
        }
        let query: Vec<(&str, String)> = [
            ("namespace", f.namespace),
            ("user_id", f.user_id),
            ("agent_id", f.agent_id),
            ("session_id", f.session_id),
            ("limit", req.limit.map(|l| l.to_string())),
            ("cursor", req.cursor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.expect(Method::GET, "/memories", &query, None).await
    }

    /// See [`Omnex::search`](omnex_core::Omnex::search).
    pub async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        let f = req.filter;
        let body = json!({
            "query": req.query, "vector": req.vector, "limit": req.limit,
            "namespace": f.namespace, "user_id": f.user_id, "agent_id": f.agent_id,
            "session_id": f.session_id, "filter": f.metadata, "min_score": req.min_score,
        });
        let hits: Hits = self
            .expect(Method::POST, "/memories/search", &[], Some(body))
            .await?;
        Ok(hits.hits)
    }
}

/// The core error a problem response stands for (the inverse of the server's mapping).
fn error_from_problem(status: StatusCode, p: ProblemBody) -> Error {
    match p.code.as_str() {
        "not_found" => {
            let entity = if p.detail.starts_with("context") {
                Entity::Context
            } else {
                Entity::Memory
            };
            let id = p
                .detail
                .split_once(": ")
                .map_or(p.detail.as_str(), |(_, id)| id);
            Error::not_found(entity, id)
        }
        "conflict" => {
            // "conflict on context app/k: if_version is 1 but ..."
            let parsed = p.detail.strip_prefix("conflict on ").and_then(|rest| {
                let (entity, rest) = rest.split_once(' ')?;
                let (id, why) = rest.split_once(": ")?;
                Some((entity == "memory", id.to_owned(), why.to_owned()))
            });
            let (is_memory, id, detail) = parsed.unwrap_or((false, String::new(), p.detail));
            Error::Conflict {
                entity: if is_memory {
                    Entity::Memory
                } else {
                    Entity::Context
                },
                id,
                detail,
            }
        }
        "unauthorized" => Error::invalid_input("api_key", p.detail),
        "unavailable" | "timeout" | "rate_limited" => Error::unavailable(BACKEND, p.detail),
        "internal" => Error::internal(BACKEND, p.detail),
        "unsupported" => Error::Unsupported {
            operation: "request",
            backend: BACKEND,
        },
        _ if status.is_client_error() => {
            let field = p
                .field
                .as_deref()
                .and_then(|f| FIELDS.iter().find(|k| **k == f).copied())
                .unwrap_or("request");
            // Strip the "invalid <field>: " the server's message starts with.
            let reason = p
                .detail
                .strip_prefix(&format!("invalid {field}: "))
                .unwrap_or(&p.detail)
                .to_owned();
            Error::invalid_input(field, reason)
        }
        _ => Error::internal(BACKEND, format!("HTTP {status}: {}", p.detail)),
    }
}
