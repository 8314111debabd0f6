//! `/api/v1/changes` (the change feed: a page, a Server-Sent Events stream, a
//! WebSocket) and the history of memories and contexts.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    http::HeaderMap,
    response::{
        sse::{Event as SseEvent, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::get,
    Json, Router,
};
use futures::Stream;
use omnex_core::{
    model::{Event, EventKind, EventPage, MemoryId},
    validate::schema,
    Changes, Omnex,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    auth::Caller,
    error::{ApiError, AppPath, AppQuery, Problem},
};

pub(crate) fn routes() -> Router<Omnex> {
    Router::new()
        .route("/changes", get(changes))
        .route("/changes/stream", get(stream))
        .route("/changes/ws", get(websocket))
        .route("/memories/{id}/history", get(memory_history))
        // Context keys may hold `/`, so `/contexts/{namespace}/{*key}` takes every
        // path below it: the history of a context has a path of its own.
        .route("/history/contexts/{namespace}/{*key}", get(context_history))
}

/// How often a live feed looks for other processes' writes (this process's wake
/// it at once).
const POLL: Duration = Duration::from_millis(500);

/// Query parameters of the change feed.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesParams {
    /// Events after this position (default 0: from the oldest kept). A stream's
    /// `Last-Event-ID` header takes its place on a reconnect.
    pub since: Option<i64>,
    /// Only these namespaces, comma-separated.
    #[param(value_type = Option<schema::NamespaceList>)]
    pub namespace: Option<String>,
    /// Only these kinds, comma-separated: `memory.add`, `memory.update`,
    /// `memory.delete`, `memory.expire`, `context.put`, `context.delete`,
    /// `context.expire`, or `memory.*`, `context.*`.
    #[param(value_type = Option<schema::EventKindList>)]
    pub kind: Option<String>,
    /// Include each record's data (content and metadata, or value and tags).
    #[serde(default)]
    pub include_data: bool,
    /// Page size (default 100, at most 1000; pages only).
    #[param(value_type = Option<schema::PageLimit>)]
    pub limit: Option<usize>,
}

impl ChangesParams {
    fn request(self, since: Option<i64>) -> Result<Changes, ApiError> {
        let list = |v: Option<String>| -> Vec<String> {
            v.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
        };
        let mut kinds = Vec::new();
        for k in list(self.kind) {
            for kind in EventKind::parse_set(&k)? {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        Ok(Changes {
            since: since.or(self.since).unwrap_or(0),
            namespaces: list(self.namespace),
            kinds,
            include_data: self.include_data,
            limit: self.limit,
        })
    }
}

/// Read the change feed: the caller's tenant's events after `since`, oldest first.
///
/// Resume with `next`; it moves past events the filters left out, so a reader that
/// always passes it back sees every matching event once. When `since` is below
/// `oldest - 1`, events were pruned by the retention setting.
#[utoipa::path(
    get, path = "/api/v1/changes", tag = "events",
    params(ChangesParams),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 403, description = "A namespace the caller may not read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn changes(
    omnex: Caller,
    AppQuery(q): AppQuery<ChangesParams>,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(omnex.changes(q.request(None)?).await?))
}

/// A live read of the change feed: the events after a position, then each new one
/// as it commits.
struct Feed {
    omnex: Omnex,
    req: Changes,
    pending: VecDeque<Event>,
    more: bool,
    wake: tokio::sync::watch::Receiver<u64>,
}

impl Feed {
    /// Opens a feed, reading its first page now so that a bad request is answered
    /// with a problem before the stream starts.
    async fn open(omnex: Omnex, mut req: Changes) -> Result<Self, ApiError> {
        req.limit = Some(500);
        let wake = omnex.watch_changes();
        let page = omnex.changes(req.clone()).await?;
        req.since = page.next;
        Ok(Self {
            omnex,
            req,
            pending: page.events.into(),
            more: page.more,
            wake,
        })
    }

    /// The next event, waiting for it if need be.
    async fn next(&mut self) -> Result<Event, omnex_core::Error> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            if !self.more {
                tokio::select! {
                    changed = self.wake.changed() => {
                        if changed.is_err() {
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            let page = self.omnex.changes(self.req.clone()).await?;
            self.req.since = page.next;
            self.more = page.more;
            self.pending = page.events.into();
        }
    }
}

/// The position a reconnecting SSE client sends.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            omnex_core::Error::invalid_input("Last-Event-ID", "is not an event position").into()
        })
}

fn event_json(e: &Event) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

/// Stream the change feed as Server-Sent Events.
///
/// Each event's `id` is its position and its `event` its kind; the data is the
/// event as `GET /changes` returns it. A reconnecting client (every EventSource
/// does this by itself) sends `Last-Event-ID` and resumes after it with no gap and
/// no duplicate, across server restarts too. A comment line is sent every 15 s
/// while the feed is idle.
#[utoipa::path(
    get, path = "/api/v1/changes/stream", tag = "events",
    params(ChangesParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this position (sent by reconnecting clients)")),
    responses(
        (status = 200, description = "text/event-stream of events", content_type = "text/event-stream"),
        (status = 403, description = "A namespace the caller may not read", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stream(
    omnex: Caller,
    headers: HeaderMap,
    AppQuery(q): AppQuery<ChangesParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let req = q.request(last_event_id(&headers)?)?;
    let feed = Feed::open(omnex.clone(), req).await?;
    let events = futures::stream::unfold(Some(feed), |feed| async move {
        let mut feed = feed?;
        match feed.next().await {
            Ok(e) => {
                let sse = SseEvent::default()
                    .id(e.seq.to_string())
                    .event(e.kind.as_str())
                    .data(event_json(&e));
                Some((Ok(sse), Some(feed)))
            }
            // The stream ends with an `error` event; the client reconnects.
            Err(e) => {
                let problem = ApiError::from(e).problem();
                let data = serde_json::to_string(&problem).unwrap_or_default();
                Some((Ok(SseEvent::default().event("error").data(data)), None))
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Stream the change feed over a WebSocket: one text message per event (the event
/// as JSON). Reconnect with `since` set to the last `seq` received.
#[utoipa::path(
    get, path = "/api/v1/changes/ws", tag = "events",
    params(ChangesParams),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Invalid parameters, or not a WebSocket request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn websocket(
    omnex: Caller,
    AppQuery(q): AppQuery<ChangesParams>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let req = q.request(None)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::from(omnex_core::Error::invalid_input(
            "upgrade",
            format!("this endpoint speaks WebSocket: {e}"),
        ))
    })?;
    let feed = Feed::open(omnex.clone(), req).await?;
    Ok(upgrade
        .on_upgrade(move |socket| send_feed(socket, feed))
        .into_response())
}

async fn send_feed(mut socket: WebSocket, mut feed: Feed) {
    loop {
        tokio::select! {
            next = feed.next() => {
                let text = match next {
                    Ok(e) => event_json(&e),
                    Err(e) => {
                        let problem = ApiError::from(e).problem();
                        let text = serde_json::to_string(&problem).unwrap_or_default();
                        let _ = socket.send(Message::Text(text.into())).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Query parameters of a history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Changes after this position (the `next` of the previous page).
    pub since: Option<i64>,
    /// Page size (default 100, at most 1000).
    #[param(value_type = Option<schema::PageLimit>)]
    pub limit: Option<usize>,
}

/// Path of one memory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct MemoryPath {
    /// The memory id.
    #[param(value_type = MemoryId)]
    pub id: String,
}

/// The history of a memory: who changed what and when, oldest first, with the
/// memory as each change left it. A deleted memory keeps its history until the
/// retention (`event_retention_secs`, 30 days by default) removes it.
#[utoipa::path(
    get, path = "/api/v1/memories/{id}/history", tag = "events",
    params(MemoryPath, HistoryParams),
    responses(
        (status = 200, description = "The memory's changes", body = EventPage),
        (status = 404, description = "No history for this id in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn memory_history(
    omnex: Caller,
    AppPath(p): AppPath<MemoryPath>,
    AppQuery(q): AppQuery<HistoryParams>,
) -> Result<Json<EventPage>, ApiError> {
    let id = MemoryId::parse(&p.id)?;
    Ok(Json(
        omnex
            .memory_history(id, q.since.unwrap_or(0), q.limit)
            .await?,
    ))
}

/// Path of one context.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ContextPath {
    /// The namespace.
    #[param(value_type = schema::Namespace)]
    pub namespace: String,
    /// The key.
    #[param(value_type = schema::ContextKey)]
    pub key: String,
}

/// The history of the context at `namespace/key`, across deletes and
/// re-creations: every version with its value, who wrote it and when. (Under
/// `/history`, because a key may hold `/`.)
#[utoipa::path(
    get, path = "/api/v1/history/contexts/{namespace}/{key}", tag = "events",
    params(ContextPath, HistoryParams),
    responses(
        (status = 200, description = "The context's changes", body = EventPage),
        (status = 404, description = "No history for this key in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn context_history(
    omnex: Caller,
    AppPath(p): AppPath<ContextPath>,
    AppQuery(q): AppQuery<HistoryParams>,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(
        omnex
            .context_history(&p.namespace, &p.key, q.since.unwrap_or(0), q.limit)
            .await?,
    ))
}
