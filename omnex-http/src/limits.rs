//! Per-caller rate limits: every API key or token (by its subject) and every tenant
//! (ten times the key's rate) has a budget of requests per second. In one process the
//! budgets are token buckets; with a Redis URL they are one-second windows counted in
//! Redis, so servers behind one load balancer share them. When Redis cannot be
//! reached the process's own buckets decide, so Redis down costs precision, never
//! availability.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use omnex_core::model::Principal;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// A tenant may make this many times a key's rate, all its keys together.
const TENANT_FACTOR: u32 = 10;

/// The limits of one server.
pub(crate) struct KeyLimits {
    per_key: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    redis_url: Option<String>,
    redis: OnceCell<Option<redis::aio::ConnectionManager>>,
}

/// What a request may still do in the current second.
struct Verdict {
    limit: u32,
    remaining: u32,
    /// Seconds until the budget is back (0 when the request passes).
    retry_after: u64,
}

impl KeyLimits {
    pub(crate) fn new(per_key: u32, redis_url: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            per_key,
            buckets: Mutex::new(HashMap::new()),
            redis_url: redis_url.filter(|u| !u.is_empty()),
            redis: OnceCell::new(),
        })
    }

    /// Takes one request from `name`'s bucket of `rate` per second.
    fn take_local(&self, name: &str, rate: u32) -> Verdict {
        let rate_f = f64::from(rate);
        let mut buckets = self.buckets.lock();
        if buckets.len() > 100_000 {
            // Idle callers' buckets are full anyway: forgetting them changes nothing.
            buckets.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(2));
        }
        let now = Instant::now();
        let (tokens, last) = buckets.entry(name.to_owned()).or_insert((rate_f, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate_f).min(rate_f);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Verdict {
                limit: rate,
                remaining: *tokens as u32,
                retry_after: 0,
            }
        } else {
            Verdict {
                limit: rate,
                remaining: 0,
                retry_after: ((1.0 - *tokens) / rate_f).ceil().max(1.0) as u64,
            }
        }
    }

    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        let url = self.redis_url.as_deref()?;
        self.redis
            .get_or_init(|| async move {
                let client = redis::Client::open(url).ok()?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(Duration::from_millis(500)))
                    .set_number_of_retries(0);
                match redis::aio::ConnectionManager::new_with_config(client, config).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limits stay per process: Redis cannot be reached");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Counts one request of `name` in Redis's window of this second.
    async fn take_shared(&self, name: &str, rate: u32) -> Option<Verdict> {
        let mut conn = self.connection().await?;
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let key = format!("omnex:ratelimit:{name}:{second}");
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 2)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(
                |e| tracing::debug!(error = %e, "Redis rate limit failed; using the local one"),
            )
            .ok()?;
        let used = u32::try_from(count).unwrap_or(u32::MAX);
        Some(Verdict {
            limit: rate,
            remaining: rate.saturating_sub(used),
            retry_after: u64::from(used > rate),
        })
    }

    async fn take(&self, name: &str, rate: u32) -> Verdict {
        match self.take_shared(name, rate).await {
            Some(v) => v,
            None => self.take_local(name, rate),
        }
    }
}

/// Answers 429 with `Retry-After` when the caller's key or tenant is over its rate;
/// every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
/// `RateLimit-Reset`.
pub(crate) async fn limit_callers(
    State(limits): State<Arc<KeyLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(p) = req.extensions().get::<Principal>().cloned() else {
        return next.run(req).await;
    };
    let key = limits
        .take(&format!("key:{}", p.subject), limits.per_key)
        .await;
    let tenant = limits
        .take(
            &format!("tenant:{}", p.tenant),
            limits.per_key.saturating_mul(TENANT_FACTOR),
        )
        .await;
    let (verdict, who) = if tenant.retry_after > key.retry_after {
        (tenant, "tenant")
    } else {
        (key, "key")
    };
    let mut res = if verdict.retry_after > 0 {
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            format!(
                "this {who} may make {} requests per second; retry after {} s",
                verdict.limit, verdict.retry_after
            ),
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(verdict.retry_after));
        res
    } else {
        next.run(req).await
    };
    let headers = res.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(verdict.limit)),
        ("ratelimit-remaining", u64::from(verdict.remaining)),
        ("ratelimit-reset", verdict.retry_after.max(1)),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_has_its_own_bucket() {
        let limits = KeyLimits::new(3, None);
        for _ in 0..3 {
            assert_eq!(limits.take_local("a", 3).retry_after, 0);
        }
        let over = limits.take_local("a", 3);
        assert!(over.retry_after >= 1 && over.remaining == 0);
        assert_eq!(limits.take_local("b", 3).retry_after, 0, "b is not a");
    }
}
