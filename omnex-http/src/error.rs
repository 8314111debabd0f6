//! Errors as `application/problem+json` (RFC 9457), and extractors whose
//! rejections use the same body.

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts,
    },
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use omnex_core::{Error, ErrorKind};
use serde::Serialize;
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

/// A JSON body whose rejections are problem responses.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct AppJson<T>(pub T);

/// Query parameters whose rejections are problem responses.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct AppQuery<T>(pub T);

/// Path parameters whose rejections are problem responses.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct AppPath<T>(pub T);
