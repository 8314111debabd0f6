//! Core errors as tool results the model can read and act on.

use omnex_core::{Error, ErrorKind};
use rmcp::model::CallToolResult;

/// A failed tool call: `isError: true`, with the stable code, a message saying
/// what to change, and the offending field (for invalid input).
pub(crate) fn tool_error(err: Error) -> CallToolResult {
    let kind = err.kind();
    let hint = match kind {
        ErrorKind::NotFound => "check the id or key (list or search to find it)",
        ErrorKind::Conflict => "read the current version and retry with it",
        ErrorKind::InvalidInput => "fix the argument and call again",
        ErrorKind::Unauthorized => "the server refused the credentials; check the API key",
        ErrorKind::Forbidden => {
            "the credentials do not allow this; use a namespace or operation they cover"
        }
        ErrorKind::Unsupported => "this backend cannot do that",
        ErrorKind::Unavailable => "a backend is down; retry in a moment",
        ErrorKind::Internal => "an internal error; the server log has the details",
    };
    let message = if kind == ErrorKind::Internal {
        tracing::error!(error = %err, "internal error in a tool call");
        "internal error".to_owned()
    } else {
        err.to_string()
    };
    CallToolResult::structured_error(serde_json::json!({
        "code": kind.code(),
        "message": message,
        "field": err.field(),
        "hint": hint,
    }))
}
