//! Errors as `application/problem+json` (RFC 9457), and extractors whose
//! rejections use the same body.

use axum::{
    body::Bytes,
    extract::{
        rejection::{JsonRejection, MissingJsonContentType, PathRejection, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use omnex_core::{Error, ErrorKind};
use serde::{de::DeserializeOwned, Serialize};
use utoipa::ToSchema;

/// Where the error codes are documented; `type` of every problem is this plus `#code`.
const ERRORS_DOC: &str = "https://github.com/omnex/omnex/blob/main/docs/errors.md";
/// Seconds a client should wait after a 503 before retrying.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// An RFC 9457 problem document, the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (the error-code table plus `#code`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request, and how to fix it.
    pub detail: String,
    /// Stable machine-readable code (see `docs/errors.md`).
    pub code: &'static str,
    /// The request field that is wrong, for `invalid_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the error is about (`context`, `memory`, `model`), for `not_found` and `conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<&'static str>,
    /// The id (a memory) or path (`namespace/key` of a context), for `not_found` and `conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// An error response. Built from an [`omnex_core::Error`] or by the HTTP layer itself.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    /// The extension members (boxed: most errors have none, and results stay small).
    members: Option<Box<Members>>,
}

/// The extension members of a problem that carry an error's data.
#[derive(Debug, Default)]
struct Members {
    field: Option<String>,
    entity: Option<&'static str>,
    id: Option<String>,
}

impl ApiError {
    /// An error with this status, stable code and detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            members: None,
        }
    }

    /// A 400 `invalid_input` for `field`.
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Self {
            members: Some(Box::new(Members {
                field: Some(field.to_owned()),
                ..Members::default()
            })),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidInput.code(),
                "Invalid input",
                detail,
            )
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let kind = err.kind();
        let (status, title) = match kind {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "Not found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "Conflict"),
            ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "Invalid input"),
            ErrorKind::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "Forbidden"),
            ErrorKind::Unsupported => (StatusCode::NOT_IMPLEMENTED, "Not supported"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Backend unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        };
        let detail = if kind == ErrorKind::Internal {
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "internal error");
            "an internal error occurred; the server log has the details (search it for the x-request-id of this response)".to_owned()
        } else {
            if kind == ErrorKind::Unavailable {
                tracing::warn!(error = %err, "backend unavailable");
            }
            err.to_string()
        };
        Self {
            status,
            code: kind.code(),
            title,
            detail,
            members: Some(Box::new(Members {
                field: err.field().map(str::to_owned),
                entity: err.entity().map(|e| e.as_str()),
                id: err.id().map(str::to_owned),
            })),
        }
    }
}

impl ApiError {
    /// The problem document of this error (what its response carries; also sent as
    /// the last message of a stream that fails).
    pub fn problem(self) -> Problem {
        let members = self.members.map(|m| *m).unwrap_or_default();
        Problem {
            type_uri: format!("{ERRORS_DOC}#{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
            field: members.field,
            entity: members.entity,
            id: members.id,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = self.problem();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (status, bytes).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) && !headers.contains_key(header::RETRY_AFTER)
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        res
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let detail = r.body_text();
        match r {
            JsonRejection::JsonDataError(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable_json",
                "Unprocessable JSON",
                detail,
            ),
            JsonRejection::JsonSyntaxError(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "Malformed JSON",
                detail,
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
            other => Self::new(other.status(), "bad_request", "Bad request", detail),
        }
    }
}

/// The 413 response (also used by the body-limit layer).
pub(crate) fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload too large",
        "the request body is larger than the server's limit (`body_limit`, 1 MiB by default)",
    )
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid("query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::invalid("path", r.body_text())
    }
}

/// A JSON body (an object) whose rejections are problem responses.
///
/// Where an integer is expected, a number with a zero fraction (`75.0`, `1e3`) is read
/// as that integer: JSON Schema, and every client whose numbers are doubles, make no
/// difference between them. The body is read as sent first; only when that fails is
/// it read again with such numbers made integers, so valid requests pay nothing, and
/// a request that still fails gets the first error.
#[derive(Debug)]
pub(crate) struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(JsonRejection::from(MissingJsonContentType::default()).into());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        let value = match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => value,
            Err(JsonRejection::JsonDataError(e)) => match with_integral_numbers(&bytes) {
                Some(value) => value,
                None => return Err(JsonRejection::JsonDataError(e).into()),
            },
            Err(other) => return Err(other.into()),
        };
        // serde reads a struct from an array of its fields too (`[null, null]`); every
        // body of this API is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable_json",
                "Unprocessable JSON",
                "the body must be a JSON object",
            ));
        }
        Ok(Self(value))
    }
}

/// Whether the request says its body is JSON: `application/json`, or any
/// `application/…+json` (what `axum::Json` accepts).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application")
        && (subtype == "json" || (subtype.ends_with("+json") && subtype.len() > "+json".len()))
}

/// `bytes` read as a `T` after turning each number with a zero fraction into an integer,
/// if there is any such number and that makes them a `T`.
fn with_integral_numbers<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !integral_numbers(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// Turns every float in `value` that equals an integer (within the 64-bit integers)
/// into that integer; says whether it changed anything.
fn integral_numbers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()).and_then(as_integer) {
            Some(i) => {
                *n = i;
                true
            }
            None => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| integral_numbers(v) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| integral_numbers(v) | changed),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// The integer a float equals, when it has no fraction and fits 64 bits. The ends are
/// left out: a float of -2^63 or 2^64 may stand for an integer literal outside the range
/// that was rounded onto it.
fn as_integer(f: f64) -> Option<serde_json::Number> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if !f.is_finite() || f.fract() != 0.0 {
        None
    } else if (0.0..TWO_64).contains(&f) {
        Some((f as u64).into())
    } else if f > -TWO_63 && f < 0.0 {
        Some((f as i64).into())
    } else {
        None
    }
}

/// Query parameters whose rejections are problem responses.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct AppQuery<T>(pub T);

/// Path parameters whose rejections are problem responses.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct AppPath<T>(pub T);
