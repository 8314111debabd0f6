//! The exception hierarchy: every error is an `omnex.OmnexError` with `.code`.

use omnex_core::{Error, ErrorKind};
use pyo3::{create_exception, exceptions::PyException, prelude::*};

create_exception!(
    omnex,
    OmnexError,
    PyException,
    "Base class of every Omnex error; `.code` is the stable error code."
);
create_exception!(
    omnex,
    NotFoundError,
    OmnexError,
    "The context or memory does not exist (or has expired)."
);
create_exception!(
    omnex,
    ConflictError,
    OmnexError,
    "A stale `if_version`: re-read and retry."
);
create_exception!(
    omnex,
    InvalidInputError,
    OmnexError,
    "The input breaks a rule; `.field` names the argument."
);
create_exception!(
    omnex,
    UnsupportedError,
    OmnexError,
    "The backend cannot do this."
);
create_exception!(
    omnex,
    UnauthorizedError,
    OmnexError,
    "The server refused the credentials (a missing, wrong or expired API key)."
);
create_exception!(
    omnex,
    ForbiddenError,
    OmnexError,
    "The credentials are valid but do not allow this call (permission, namespace or quota)."
);
create_exception!(
    omnex,
    UnavailableError,
    OmnexError,
    "A backend or the server cannot be reached; retrying may succeed."
);
create_exception!(
    omnex,
    InternalError,
    OmnexError,
    "An unexpected failure inside Omnex."
);

/// The Python exception for a core error (one exhaustive match, as in every frontend).
pub(crate) fn to_py(err: Error) -> PyErr {
    let kind = err.kind();
    let message = err.to_string();
    let py_err = match kind {
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Conflict => ConflictError::new_err(message),
        ErrorKind::InvalidInput => InvalidInputError::new_err(message),
        ErrorKind::Unauthorized => UnauthorizedError::new_err(message),
        ErrorKind::Forbidden => ForbiddenError::new_err(message),
        ErrorKind::Unsupported => UnsupportedError::new_err(message),
        ErrorKind::Unavailable => UnavailableError::new_err(message),
        ErrorKind::Internal => InternalError::new_err(message),
    };
    Python::attach(|py| {
        let value = py_err.value(py);
        let _ = value.setattr("code", kind.code());
        let _ = value.setattr("field", err.field());
    });
    py_err
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OmnexError", py.get_type::<OmnexError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("UnauthorizedError", py.get_type::<UnauthorizedError>())?;
    m.add("ForbiddenError", py.get_type::<ForbiddenError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("UnavailableError", py.get_type::<UnavailableError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
