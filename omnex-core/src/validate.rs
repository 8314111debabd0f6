//! Every input rule, once. Frontends never re-check.
//!
//! With the `openapi` feature, [`schema`] states the same rules as JSON Schemas
//! for the HTTP API's document, built from the constants below.

#[cfg(feature = "openapi")]
pub mod schema;

use crate::{
    model::{Filter, Metadata, Scope, SearchMode, Timestamp},
    Error, Result,
};

/// Longest namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 128;
/// Longest context key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Longest user, agent or session id, in bytes.
pub const MAX_SCOPE_ID_LEN: usize = 256;
/// Largest memory content, in bytes.
pub const MAX_CONTENT_LEN: usize = 64 * 1024;
/// Largest serialized metadata object, in bytes.
pub const MAX_METADATA_LEN: usize = 64 * 1024;
/// Largest serialized context value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;
/// Most tags on a context.
pub const MAX_TAGS: usize = 64;
/// Longest tag, in bytes.
pub const MAX_TAG_LEN: usize = 128;
/// Most memories in one batch.
pub const MAX_BATCH: usize = 1000;
/// Largest page size of a listing.
pub const MAX_PAGE: usize = 1000;
/// Default page size of a listing.
pub const DEFAULT_PAGE: usize = 50;
/// Largest number of search hits.
pub const MAX_SEARCH_LIMIT: usize = 100;
/// Default number of search hits.
pub const DEFAULT_SEARCH_LIMIT: usize = 10;
/// Default number of events in a read of the event log.
pub const DEFAULT_EVENT_LIMIT: usize = 100;
/// Most memories in one asynchronous batch (a job).
pub const MAX_ASYNC_BATCH: usize = 100_000;
/// Longest time to live: 100 years, in seconds.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 86_400;
/// Longest metadata key a filter names (and a search boosts by), in bytes.
pub const MAX_FILTER_KEY_LEN: usize = 256;
/// Longest webhook URL, in bytes.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;
/// Shortest and longest webhook signing secret, in bytes.
pub const WEBHOOK_SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;
/// Largest reciprocal-rank fusion constant.
pub const MAX_RRF_K: f32 = 10_000.0;
/// Largest weight of a search leg.
pub const MAX_LEG_WEIGHT: f32 = 1000.0;
/// Shortest and longest recency half-life, in seconds (1 second to 100 years).
pub const HALF_LIFE_SECS: std::ops::RangeInclusive<f64> = 1.0..=(MAX_TTL_SECONDS as f64);
/// The characters besides ASCII letters and digits a namespace may hold.
pub const NAMESPACE_SYMBOLS: &str = "_-.:@";
/// Longest name of an API key, in bytes.
pub const MAX_KEY_NAME_LEN: usize = 128;
/// Longest tenant name, in bytes.
pub const MAX_TENANT_LEN: usize = 64;
/// The characters besides ASCII letters and digits a tenant name may hold.
pub const TENANT_SYMBOLS: &str = "_-.";

/// A namespace: 1 to 128 bytes of ASCII letters, digits, `_`, `-`, `.`, `:` and `@`.
pub fn namespace(ns: &str) -> Result<()> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_LEN {
        return Err(Error::invalid_input(
            "namespace",
            format!("must be 1 to {MAX_NAMESPACE_LEN} bytes long"),
        ));
    }
    if let Some(c) = ns
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || NAMESPACE_SYMBOLS.contains(*c)))
    {
        return Err(Error::invalid_input(
            "namespace",
            format!("{c:?} is not allowed; use ASCII letters, digits and _ - . : @"),
        ));
    }
    Ok(())
}

/// A context key: 1 to 512 bytes of printable text (no control characters).
pub fn key(key: &str) -> Result<()> {
    printable("key", key, MAX_KEY_LEN)
}

fn printable(field: &'static str, s: &str, max: usize) -> Result<()> {
    if s.is_empty() || s.len() > max {
        return Err(Error::invalid_input(
            field,
            format!("must be 1 to {max} bytes long"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A scope: a valid namespace and short printable ids.
pub fn scope(scope: &Scope) -> Result<()> {
    namespace(&scope.namespace)?;
    scope_ids(&scope.user_id, &scope.agent_id, &scope.session_id)
}

fn scope_ids(
    user: &Option<String>,
    agent: &Option<String>,
    session: &Option<String>,
) -> Result<()> {
    for (field, v) in [
        ("user_id", user),
        ("agent_id", agent),
        ("session_id", session),
    ] {
        if let Some(v) = v {
            printable(field, v, MAX_SCOPE_ID_LEN)?;
        }
    }
    Ok(())
}

/// Memory content: non-empty after trimming, at most 64 KiB, no NUL.
pub fn content(content: &str) -> Result<()> {
    if content.trim().is_empty() {
        return Err(Error::invalid_input("content", "must not be empty"));
    }
    if content.len() > MAX_CONTENT_LEN {
        return Err(Error::invalid_input(
            "content",
            format!(
                "is {} bytes; at most {MAX_CONTENT_LEN} are accepted",
                content.len()
            ),
        ));
    }
    if content.contains('\0') {
        return Err(Error::invalid_input(
            "content",
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// Metadata: a JSON object of at most 64 KiB.
pub fn metadata(metadata: &Metadata) -> Result<()> {
    let len = serde_json::to_vec(metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > MAX_METADATA_LEN {
        return Err(Error::invalid_input(
            "metadata",
            format!("is {len} bytes serialized; at most {MAX_METADATA_LEN} are accepted"),
        ));
    }
    no_nul_in_json("metadata", &serde_json::Value::Object(metadata.clone()))
}

/// JSON text must not hold U+0000 in a string or key: PostgreSQL cannot store it, so
/// every store refuses it alike.
fn no_nul_in_json(field: &'static str, v: &serde_json::Value) -> Result<()> {
    let bad = match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => {
            return items.iter().try_for_each(|i| no_nul_in_json(field, i))
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                if k.contains('\0') {
                    return Err(nul(field));
                }
                no_nul_in_json(field, item)?;
            }
            false
        }
        _ => false,
    };
    if bad {
        Err(nul(field))
    } else {
        Ok(())
    }
}

fn nul(field: &'static str) -> Error {
    Error::invalid_input(field, "must not contain the NUL character (\\u0000)")
}

/// Metadata given as any JSON value: it must be an object.
pub fn metadata_value(value: serde_json::Value) -> Result<Metadata> {
    match value {
        serde_json::Value::Object(map) => {
            metadata(&map)?;
            Ok(map)
        }
        serde_json::Value::Null => Ok(Metadata::new()),
        other => Err(Error::invalid_input(
            "metadata",
            format!("must be a JSON object, not {}", json_type(&other)),
        )),
    }
}

/// A metadata filter given as JSON text (a query parameter): a JSON object, or
/// nothing when the text is empty. Errors name the field `filter`.
pub fn filter_json(text: &str) -> Result<Metadata> {
    if text.trim().is_empty() {
        return Ok(Metadata::new());
    }
    let value = serde_json::from_str(text)
        .map_err(|e| Error::invalid_input("filter", format!("is not JSON: {e}")))?;
    metadata_value(value).map_err(|e| match e {
        Error::InvalidInput { reason, .. } => Error::invalid_input("filter", reason),
        other => other,
    })
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A context value: any JSON of at most 1 MiB serialized.
pub fn value(value: &serde_json::Value) -> Result<()> {
    let len = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > MAX_VALUE_LEN {
        return Err(Error::invalid_input(
            "value",
            format!("is {len} bytes serialized; at most {MAX_VALUE_LEN} are accepted"),
        ));
    }
    no_nul_in_json("value", value)
}

/// Tags: at most 64, each 1 to 128 printable bytes.
pub fn tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid_input(
            "tags",
            format!("{} tags given; at most {MAX_TAGS} are accepted", tags.len()),
        ));
    }
    tags.iter()
        .try_for_each(|t| printable("tags", t, MAX_TAG_LEN))
}

/// A tag to filter a listing by: 1 to 128 printable bytes, as a tag is.
pub fn tag(tag: &str) -> Result<()> {
    printable("tag", tag, MAX_TAG_LEN)
}

/// A filter: valid scope fields, and metadata conditions on scalar values.
pub fn filter(filter: &Filter) -> Result<()> {
    if let Some(ns) = &filter.namespace {
        namespace(ns)?;
    }
    scope_ids(&filter.user_id, &filter.agent_id, &filter.session_id)?;
    for (k, v) in &filter.metadata {
        if k.is_empty()
            || k.len() > MAX_FILTER_KEY_LEN
            || k.contains(['"', '\\'])
            || k.chars().any(char::is_control)
        {
            return Err(Error::invalid_input(
                "filter",
                format!(
                    "metadata key {k:?} must be 1 to {MAX_FILTER_KEY_LEN} bytes without quotes, \
                     backslashes or control characters"
                ),
            ));
        }
        if v.is_array() || v.is_object() {
            return Err(Error::invalid_input(
                "filter",
                format!("the value for {k:?} must be a string, number, boolean or null"),
            ));
        }
        no_nul_in_json("filter", v)?;
    }
    Ok(())
}

/// A vector: the index's dimension, finite, not all zeros.
pub fn vector(field: &'static str, v: &[f32], dimension: usize) -> Result<()> {
    if v.len() != dimension {
        return Err(Error::invalid_input(
            field,
            format!("has {} dimensions; this index holds {dimension}", v.len()),
        ));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::invalid_input(
            field,
            "contains NaN or infinite values",
        ));
    }
    if v.iter().all(|x| *x == 0.0) {
        return Err(Error::invalid_input(
            field,
            "is all zeros; cosine similarity is undefined",
        ));
    }
    Ok(())
}

/// A page size: 1 to 1000, default 50.
pub fn page_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid_input(
            "limit",
            format!("{n} is out of range; use 1 to {MAX_PAGE}"),
        )),
    }
}

/// A read of the event log: 1 to 1000 events, default 100.
pub fn event_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_EVENT_LIMIT),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid_input(
            "limit",
            format!("{n} is out of range; use 1 to {MAX_PAGE}"),
        )),
    }
}

/// A webhook's address: an absolute `http` or `https` URL with a host.
pub fn webhook_url(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid_input("url", format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid_input(
            "url",
            "must be an http or https URL with a host",
        ));
    }
    if url.len() > MAX_WEBHOOK_URL_LEN {
        return Err(Error::invalid_input(
            "url",
            format!("is longer than {MAX_WEBHOOK_URL_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A webhook's signing secret: 16 to 256 printable ASCII characters.
pub fn webhook_secret(secret: &str) -> Result<()> {
    if !WEBHOOK_SECRET_LEN.contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::invalid_input(
            "secret",
            format!(
                "must be {} to {} printable ASCII characters without spaces",
                WEBHOOK_SECRET_LEN.start(),
                WEBHOOK_SECRET_LEN.end()
            ),
        ));
    }
    Ok(())
}

/// A search limit: 1 to 100, default 10.
pub fn search_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_SEARCH_LIMIT),
        Some(n) if (1..=MAX_SEARCH_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid_input(
            "limit",
            format!("{n} is out of range; use 1 to {MAX_SEARCH_LIMIT}"),
        )),
    }
}

/// A minimum score for a search in `mode`: cosine similarity in [-1, 1] (semantic),
/// a BM25 score of 0 or more (keyword), a fused score in [0, 1] (hybrid).
pub fn min_score(mode: SearchMode, min: Option<f32>) -> Result<()> {
    let Some(m) = min else { return Ok(()) };
    let (lo, hi) = match mode {
        SearchMode::Semantic => (-1.0, 1.0),
        SearchMode::Keyword => (0.0, f32::MAX),
        SearchMode::Hybrid => (0.0, 1.0),
    };
    if m.is_finite() && (lo..=hi).contains(&m) {
        return Ok(());
    }
    let range = match mode {
        SearchMode::Semantic => "-1.0 to 1.0 (cosine similarity)",
        SearchMode::Keyword => "0 or more (BM25 score)",
        SearchMode::Hybrid => "0.0 to 1.0 (fused score)",
    };
    Err(Error::invalid_input(
        "min_score",
        format!("{m} is out of range for {mode} search; use {range}"),
    ))
}

/// The default reciprocal-rank fusion constant. The original paper's 60 was made for
/// fusing many deep result lists; with two legs of 50 candidates it lets memories that
/// both legs rank mediocrely outrank one leg's clear first. Measured through Omnex
/// (`docs/benchmarks.md`), 1 to 10 is a plateau on SciFact and LoCoMo and 60 is worse
/// on both.
pub const DEFAULT_RRF_K: f32 = 10.0;

/// The reciprocal-rank fusion constant: finite, 0 or more (default 10).
pub fn rrf_k(k: Option<f32>) -> Result<f32> {
    match k {
        None => Ok(DEFAULT_RRF_K),
        Some(k) if k.is_finite() && (0.0..=MAX_RRF_K).contains(&k) => Ok(k),
        Some(k) => Err(Error::invalid_input(
            "rrf_k",
            format!("{k} is out of range; use 0 to {MAX_RRF_K} (default 10)"),
        )),
    }
}

/// A leg's weight in the fusion: finite, 0 or more (default 1).
pub fn leg_weight(field: &'static str, w: Option<f32>) -> Result<f32> {
    match w {
        None => Ok(1.0),
        Some(w) if w.is_finite() && (0.0..=MAX_LEG_WEIGHT).contains(&w) => Ok(w),
        Some(w) => Err(Error::invalid_input(
            field,
            format!("{w} is out of range; use 0 to {MAX_LEG_WEIGHT} (default 1)"),
        )),
    }
}

/// A half-life such as `"30d"`, `"12h"`, `"90m"`, `"3600s"` or `"2w"`: a positive
/// number and a unit.
pub fn half_life(text: &str) -> Result<std::time::Duration> {
    let bad = || {
        Error::invalid_input(
            "recency_half_life",
            format!(
                "{text:?} is not a duration; write a positive number and a unit: s, m, h, d or w (\"30d\")"
            ),
        )
    };
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return Err(bad()),
    };
    let secs = n * unit_secs;
    if !(secs.is_finite() && HALF_LIFE_SECS.contains(&secs)) {
        return Err(Error::invalid_input(
            "recency_half_life",
            format!("{text:?} is out of range; use 1 second to 100 years"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A metadata field to boost by: a non-empty key of at most 256 bytes.
pub fn boost_field(field: &str) -> Result<()> {
    if field.is_empty() || field.len() > MAX_FILTER_KEY_LEN {
        return Err(Error::invalid_input(
            "boost_field",
            format!("name a metadata field of 1 to {MAX_FILTER_KEY_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A batch size: 1 to 1000 items.
pub fn batch_len(n: usize) -> Result<()> {
    if n == 0 || n > MAX_BATCH {
        return Err(Error::invalid_input(
            "memories",
            format!("{n} items given; send 1 to {MAX_BATCH}"),
        ));
    }
    Ok(())
}

/// A search query: a text, a vector, or both; a text is non-empty content, a
/// vector has the index's dimension.
pub fn search_query(query: Option<&str>, vector: Option<&[f32]>, dimension: usize) -> Result<()> {
    if query.is_none() && vector.is_none() {
        return Err(Error::invalid_input(
            "query",
            "give a query text, a vector, or both",
        ));
    }
    if let Some(q) = query {
        content(q).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid_input("query", reason),
            other => other,
        })?;
    }
    if let Some(v) = vector {
        self::vector("vector", v, dimension)?;
    }
    Ok(())
}

/// An expiry: `expires_at` in the future or `ttl_seconds` of 1 to
/// [`MAX_TTL_SECONDS`] from `now`, not both. Returns when the item expires.
pub fn expiry(
    expires_at: Option<Timestamp>,
    ttl_seconds: Option<u64>,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    match (expires_at, ttl_seconds) {
        (Some(_), Some(_)) => Err(Error::invalid_input(
            "ttl_seconds",
            "give either expires_at or ttl_seconds, not both",
        )),
        (Some(t), None) if t <= now => Err(Error::invalid_input("expires_at", "is in the past")),
        (Some(t), None) => Ok(Some(t)),
        (None, Some(0)) => Err(Error::invalid_input("ttl_seconds", "must be at least 1")),
        (None, Some(s)) if s > MAX_TTL_SECONDS => Err(Error::invalid_input(
            "ttl_seconds",
            format!("is more than {MAX_TTL_SECONDS} (100 years)"),
        )),
        (None, Some(s)) => i64::try_from(s)
            .ok()
            .and_then(chrono::TimeDelta::try_seconds)
            .and_then(|d| now.checked_add_signed(d))
            .map(Some)
            .ok_or_else(|| Error::invalid_input("ttl_seconds", "is too large")),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = crate::model::now();
        assert_eq!(expiry(None, None, now).unwrap(), None);
        assert!(expiry(None, Some(0), now).is_err());
        assert!(expiry(Some(now), None, now).is_err());
        assert!(expiry(Some(now), Some(5), now).is_err());
        assert!(expiry(None, Some(u64::MAX), now).is_err());
        assert_eq!(
            expiry(None, Some(10), now).unwrap(),
            Some(now + chrono::TimeDelta::seconds(10))
        );
    }

    #[test]
    fn filters_as_json_text() {
        assert_eq!(filter_json("").unwrap(), Metadata::new());
        assert_eq!(filter_json(r#"{"a":1}"#).unwrap()["a"], 1);
        assert_eq!(filter_json("{").unwrap_err().field(), Some("filter"));
        assert_eq!(filter_json("[1]").unwrap_err().field(), Some("filter"));
    }

    #[test]
    fn search_queries() {
        assert!(search_query(Some("tea"), None, 2).is_ok());
        assert!(search_query(None, Some(&[0.1, 0.2]), 2).is_ok());
        assert_eq!(
            search_query(None, None, 2).unwrap_err().field(),
            Some("query")
        );
        assert_eq!(
            search_query(Some("  "), None, 2).unwrap_err().field(),
            Some("query")
        );
        assert!(search_query(Some("tea"), Some(&[0.1, 0.2]), 2).is_ok());
        assert!(search_query(Some("tea"), Some(&[0.1]), 2).is_err());
        assert_eq!(
            search_query(None, Some(&[0.1]), 2).unwrap_err().field(),
            Some("vector")
        );
    }

    #[test]
    fn half_lives_and_fusion_parameters() {
        assert_eq!(half_life("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(half_life(" 1.5 h ").unwrap().as_secs(), 5400);
        assert_eq!(half_life("2w").unwrap().as_secs(), 14 * 86_400);
        for bad in ["", "30", "d", "-1d", "0s", "1 fortnight", "1e9w", "NaNd"] {
            assert_eq!(
                half_life(bad).unwrap_err().field(),
                Some("recency_half_life"),
                "{bad:?}"
            );
        }
        assert_eq!(rrf_k(None).unwrap(), DEFAULT_RRF_K);
        assert!(rrf_k(Some(-1.0)).is_err());
        assert!(rrf_k(Some(f32::INFINITY)).is_err());
        assert_eq!(leg_weight("keyword_weight", None).unwrap(), 1.0);
        assert_eq!(
            leg_weight("keyword_weight", Some(-2.0))
                .unwrap_err()
                .field(),
            Some("keyword_weight")
        );
        assert!(boost_field("").is_err());
        assert!(boost_field("importance").is_ok());
    }

    #[test]
    fn namespaces() {
        assert!(namespace("default").is_ok());
        assert!(namespace("app.v2:user@x").is_ok());
        for bad in ["", "has space", "slash/", &"x".repeat(129), "é"] {
            let e = namespace(bad).unwrap_err();
            assert_eq!(e.field(), Some("namespace"), "{bad:?}");
        }
    }

    #[test]
    fn contents() {
        assert!(content("hello").is_ok());
        assert!(content("   ").is_err());
        assert!(content(&"a".repeat(MAX_CONTENT_LEN + 1)).is_err());
        assert!(content("a\0b").is_err());
    }

    #[test]
    fn vectors() {
        assert!(vector("vector", &[0.1, 0.2], 2).is_ok());
        assert!(vector("vector", &[0.1], 2)
            .unwrap_err()
            .to_string()
            .contains("1 dimensions"));
        assert!(vector("vector", &[f32::NAN, 0.0], 2).is_err());
        assert!(vector("vector", &[0.0, 0.0], 2).is_err());
    }

    #[test]
    fn nul_in_json_text_is_refused() {
        assert!(value(&serde_json::json!({"a": ["ok", "b\u{0}"]})).is_err());
        assert!(value(&serde_json::json!({"k\u{0}": 1})).is_err());
        assert!(value(&serde_json::json!({"a": "fine"})).is_ok());
        let m = metadata_value(serde_json::json!({"x": "y\u{0}"}));
        assert!(m.is_err());
    }

    #[test]
    fn metadata_must_be_object() {
        assert!(metadata_value(serde_json::json!({"a": 1})).is_ok());
        assert!(metadata_value(serde_json::json!([1]))
            .unwrap_err()
            .to_string()
            .contains("an array"));
        let big = serde_json::json!({"a": "x".repeat(MAX_METADATA_LEN)});
        assert!(metadata_value(big).is_err());
    }

    #[test]
    fn filters_and_limits() {
        let f = Filter::default().with_metadata("k", serde_json::json!([1]));
        assert!(filter(&f).is_err());
        let f = Filter::default().with_metadata("a\"b", serde_json::json!(1));
        assert!(filter(&f).is_err());
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE);
        assert!(page_limit(Some(0)).is_err());
        assert!(search_limit(Some(101)).is_err());
        assert!(min_score(SearchMode::Semantic, Some(f32::NAN)).is_err());
        assert!(min_score(SearchMode::Semantic, Some(-0.5)).is_ok());
        assert!(min_score(SearchMode::Keyword, Some(-0.5)).is_err());
        assert!(min_score(SearchMode::Keyword, Some(12.0)).is_ok());
        assert!(min_score(SearchMode::Hybrid, Some(1.5)).is_err());
        assert!(tags(&["ok".into(), "".into()]).is_err());
        assert!(key("a/b/c").is_ok());
        assert!(key("a\nb").is_err());
    }
}
