//! # omnex-client
//!
//! A Rust client of the Omnex HTTP API. [`Client`] implements
//! [`OmnexApi`], the trait the embedded
//! [`Omnex`](omnex_core::Omnex) implements too, so code (and the Python
//! `omnex.Client`) runs unchanged on an engine in process or on a remote
//! `omnex serve`. Errors come back as the same [`ErrorKind`]s,
//! rebuilt from the problem document's `code`, `field`, `entity` and `id` members.
//!
//! This crate compiles no server, storage backend or embedder.
//!
//! ```no_run
//! # async fn demo() -> omnex_core::Result<()> {
//! use omnex_client::{Client, OmnexApi};
//! use omnex_core::model::{NewMemory, SearchRequest};
//! let client = Client::new("http://127.0.0.1:8080", None)?;
//! client.add_memory(NewMemory::new("Alice likes green tea")).await?;
//! let hits = client.search(SearchRequest::query("what does alice drink?")).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::time::Duration;

use async_trait::async_trait;
/// The API this client implements (as does the embedded `omnex_core::Omnex`).
pub use omnex_core::OmnexApi;
use omnex_core::{
    error::Entity,
    model::{
        Context, EventPage, Job, ListContexts, ListMemories, Memory, MemoryId, MemoryUpdate,
        NewMemory, Page, PutContext, SearchHit, SearchRequest,
    },
    Changes, Error, ErrorKind, Result,
};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

const BACKEND: &str = "omnex server";

/// The query of a call whose answer is a memory: with its embedding, as the embedded
/// engine returns it.
const WITH_EMBEDDING: &[(&str, &str)] = &[("include_embedding", "true")];
/// The query of a call without parameters.
const NO_QUERY: &[(&str, &str)] = &[];

/// A client of one `omnex serve`.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    /// With [`Client::use_tokens`]: the token the key was exchanged for, and when
    /// to exchange it again.
    token: Option<std::sync::Arc<tokio::sync::Mutex<Option<Issued>>>>,
}

/// A token and when to exchange the key for a new one.
type Issued = (String, std::time::Instant);

/// The answer of `POST /api/v1/auth/token`.
#[derive(Deserialize)]
struct IssuedToken {
    access_token: String,
    expires_in: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The members of a problem document the client reads.
#[derive(Deserialize)]
struct ProblemBody {
    code: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    id: Option<String>,
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

/// The query of a history page: `since`, and `limit` when given.
fn history_query(since: i64, limit: Option<usize>) -> Vec<(&'static str, String)> {
    let mut query = vec![("since", since.to_string())];
    query.extend(limit.map(|l| ("limit", l.to_string())));
    query
}

/// A response's JSON body (`None` when empty), or the error its problem document says.
async fn answer<T: DeserializeOwned>(res: reqwest::Response) -> Result<Option<T>> {
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
            token: None,
        })
    }

    /// Sends short-lived tokens instead of the API key: the key is exchanged at
    /// `POST /api/v1/auth/token` when first needed, and again before the token
    /// expires (or when the server refuses it), so the key itself crosses the wire
    /// only for the exchange.
    pub fn use_tokens(mut self) -> Self {
        self.token = Some(Default::default());
        self
    }

    /// The bearer credential of the next request.
    async fn bearer(&self, renew: bool) -> Result<Option<String>> {
        let (Some(cell), Some(key)) = (&self.token, &self.api_key) else {
            return Ok(self.api_key.clone());
        };
        let mut cached = cell.lock().await;
        if let Some((token, renew_at)) = cached.as_ref() {
            if !renew && std::time::Instant::now() < *renew_at {
                return Ok(Some(token.clone()));
            }
        }
        let res = self
            .http
            .post(format!("{}/api/v1/auth/token", self.base))
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| Error::unavailable(BACKEND, e))?;
        let issued: IssuedToken = answer(res)
            .await?
            .ok_or_else(|| Error::internal(BACKEND, "empty response"))?;
        // Renewed when a fifth of its life (at most a minute) is left.
        let margin = Duration::from_secs((issued.expires_in / 5).min(60));
        let renew_at = std::time::Instant::now()
            + Duration::from_secs(issued.expires_in).saturating_sub(margin);
        *cached = Some((issued.access_token.clone(), renew_at));
        Ok(Some(issued.access_token))
    }

    async fn call<T: DeserializeOwned, Q: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &Q,
        body: Option<Value>,
    ) -> Result<Option<T>> {
        let send = |bearer: Option<String>| {
            let mut req = self
                .http
                .request(method.clone(), format!("{}/api/v1{path}", self.base))
                .query(query);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            req.send()
        };
        let mut res = send(self.bearer(false).await?)
            .await
            .map_err(|e| Error::unavailable(BACKEND, e))?;
        if res.status() == StatusCode::UNAUTHORIZED && self.token.is_some() {
            // The token ran out early (a server restart with another secret): once more.
            res = send(self.bearer(true).await?)
                .await
                .map_err(|e| Error::unavailable(BACKEND, e))?;
        }
        answer(res).await
    }

    async fn expect<T: DeserializeOwned, Q: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &Q,
        body: Option<Value>,
    ) -> Result<T> {
        self.call(method, path, query, body)
            .await?
            .ok_or_else(|| Error::internal(BACKEND, "empty response"))
    }
}

#[async_trait]
impl OmnexApi for Client {
    async fn put_context(&self, req: PutContext) -> Result<Context> {
        let path = format!(
            "/contexts/{}/{}",
            encode(&req.namespace, false),
            encode(&req.key, true)
        );
        let body = json!({
            "value": req.value, "tags": req.tags, "if_version": req.if_version,
            "ttl_seconds": req.ttl_seconds, "expires_at": req.expires_at,
        });
        self.expect(Method::PUT, &path, NO_QUERY, Some(body)).await
    }

    async fn get_context(&self, namespace: &str, key: &str) -> Result<Context> {
        let path = format!(
            "/contexts/{}/{}",
            encode(namespace, false),
            encode(key, true)
        );
        self.expect(Method::GET, &path, NO_QUERY, None).await
    }

    async fn delete_context(
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
        self.call::<Value, _>(Method::DELETE, &path, &query, None)
            .await?;
        Ok(())
    }

    async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>> {
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

    async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        let body = serde_json::to_value(&new).map_err(|e| Error::internal(BACKEND, e))?;
        self.expect(Method::POST, "/memories", WITH_EMBEDDING, Some(body))
            .await
    }

    async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        let body = json!({ "memories": batch });
        let items: Items<Memory> = self
            .expect(Method::POST, "/memories/batch", WITH_EMBEDDING, Some(body))
            .await?;
        Ok(items.items)
    }

    async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        self.expect(
            Method::GET,
            &format!("/memories/{id}"),
            WITH_EMBEDDING,
            None,
        )
        .await
    }

    async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        let body = serde_json::to_value(&update).map_err(|e| Error::internal(BACKEND, e))?;
        self.expect(
            Method::PATCH,
            &format!("/memories/{id}"),
            WITH_EMBEDDING,
            Some(body),
        )
        .await
    }

    async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        self.call::<Value, _>(Method::DELETE, &format!("/memories/{id}"), NO_QUERY, None)
            .await?;
        Ok(())
    }

    async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>> {
        let f = req.filter;
        let metadata = (!f.metadata.is_empty())
            .then(|| serde_json::to_string(&f.metadata))
            .transpose()
            .map_err(|e| Error::internal(BACKEND, e))?;
        let query: Vec<(&str, String)> = [
            ("namespace", f.namespace),
            ("user_id", f.user_id),
            ("agent_id", f.agent_id),
            ("session_id", f.session_id),
            ("filter", metadata),
            ("limit", req.limit.map(|l| l.to_string())),
            ("cursor", req.cursor),
            (
                "include_embedding",
                req.include_embedding.then(|| "true".to_owned()),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.expect(Method::GET, "/memories", &query, None).await
    }

    async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        let f = req.filter;
        let body = json!({
            "query": req.query, "vector": req.vector, "limit": req.limit,
            "namespace": f.namespace, "user_id": f.user_id, "agent_id": f.agent_id,
            "session_id": f.session_id, "filter": f.metadata, "min_score": req.min_score,
            "mode": req.mode, "rrf_k": req.rrf_k, "semantic_weight": req.semantic_weight,
            "keyword_weight": req.keyword_weight, "recency_half_life": req.recency_half_life,
            "boost_field": req.boost_field, "explain": req.explain,
            "include_embedding": req.include_embedding,
        });
        let hits: Hits = self
            .expect(Method::POST, "/memories/search", NO_QUERY, Some(body))
            .await?;
        Ok(hits.hits)
    }

    async fn changes(&self, req: Changes) -> Result<EventPage> {
        let join = |items: Vec<String>| (!items.is_empty()).then(|| items.join(","));
        let kinds = req.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        let query: Vec<(&str, String)> = [
            ("since", Some(req.since.to_string())),
            ("namespace", join(req.namespaces)),
            ("kind", join(kinds)),
            ("include_data", req.include_data.then(|| "true".to_owned())),
            ("limit", req.limit.map(|l| l.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.expect(Method::GET, "/changes", &query, None).await
    }

    async fn memory_history(
        &self,
        id: MemoryId,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        let path = format!("/memories/{id}/history");
        self.expect(Method::GET, &path, &history_query(since, limit), None)
            .await
    }

    async fn context_history(
        &self,
        namespace: &str,
        key: &str,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        let path = format!(
            "/history/contexts/{}/{}",
            encode(namespace, false),
            encode(key, true)
        );
        self.expect(Method::GET, &path, &history_query(since, limit), None)
            .await
    }

    async fn add_memories_async(&self, batch: Vec<NewMemory>) -> Result<Job> {
        let body = json!({ "memories": batch, "async": true });
        self.expect(Method::POST, "/memories/batch", NO_QUERY, Some(body))
            .await
    }

    async fn get_job(&self, id: &str) -> Result<Job> {
        let path = format!("/jobs/{}", encode(id, false));
        self.expect(Method::GET, &path, NO_QUERY, None).await
    }

    async fn cancel_job(&self, id: &str) -> Result<Job> {
        let path = format!("/jobs/{}", encode(id, false));
        self.expect(Method::DELETE, &path, NO_QUERY, None).await
    }
}

/// The core error a problem response stands for: the kind from `code`, the
/// entity, id and field from the members of the same names, the reason from `detail`.
fn error_from_problem(status: StatusCode, p: ProblemBody) -> Error {
    let Some(kind) = ErrorKind::from_code(&p.code) else {
        // Codes of the HTTP layer itself (malformed JSON, rate limits, ...).
        return match p.code.as_str() {
            "timeout" | "rate_limited" => Error::unavailable(BACKEND, p.detail),
            _ if status.is_client_error() => {
                Error::invalid_input(p.field.unwrap_or_else(|| "request".to_owned()), p.detail)
            }
            _ => Error::internal(BACKEND, format!("HTTP {status}: {}", p.detail)),
        };
    };
    let entity = p
        .entity
        .as_deref()
        .and_then(|e| e.parse::<Entity>().ok())
        .unwrap_or(Entity::Memory);
    let id = p.id.unwrap_or_default();
    // The detail is the core error's message; its kind's fixed prefix is not part of the reason.
    let reason = |prefix: String| {
        p.detail
            .strip_prefix(&prefix)
            .map_or_else(|| p.detail.clone(), str::to_owned)
    };
    match kind {
        ErrorKind::NotFound => Error::not_found(entity, id),
        ErrorKind::Conflict => Error::Conflict {
            detail: reason(format!("conflict on {entity} {id}: ")),
            entity,
            id,
        },
        ErrorKind::InvalidInput => {
            let field = p.field.clone().unwrap_or_else(|| "request".to_owned());
            let why = reason(format!("invalid {field}: "));
            Error::invalid_input(field, why)
        }
        ErrorKind::Unauthorized => Error::unauthorized(reason("unauthorized: ".to_owned())),
        ErrorKind::Forbidden => Error::forbidden(reason("forbidden: ".to_owned())),
        ErrorKind::Unsupported => Error::Unsupported {
            operation: "request",
            backend: BACKEND,
        },
        ErrorKind::Unavailable => Error::unavailable(BACKEND, p.detail),
        ErrorKind::Internal => Error::internal(BACKEND, p.detail),
    }
}
