//! The one error type of Omnex, with a stable machine-readable kind.

use std::{borrow::Cow, fmt, str::FromStr};

/// A boxed error used as the source of [`Error::Unavailable`] and [`Error::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used across Omnex.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an error is about, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A context (`namespace/key`).
    Context,
    /// A memory (by id).
    Memory,
    /// A model or its files.
    Model,
    /// An API key.
    ApiKey,
    /// A webhook subscription.
    Webhook,
    /// A background job.
    Job,
}

impl Entity {
    /// The stable wire name (`context`, `memory`, `model`), as in problem responses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Context => "context",
            Self::Memory => "memory",
            Self::Model => "model",
            Self::ApiKey => "api_key",
            Self::Webhook => "webhook",
            Self::Job => "job",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Entity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            Self::Context,
            Self::Memory,
            Self::Model,
            Self::ApiKey,
            Self::Webhook,
            Self::Job,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
        .ok_or_else(|| Error::invalid_input("entity", format!("{s:?} is not an entity")))
    }
}

/// Every error Omnex returns. Match on [`Error::kind`] rather than on variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The item does not exist (or has expired).
    #[error("{entity} not found: {id}")]
    NotFound {
        /// What was looked up.
        entity: Entity,
        /// Its id or path.
        id: String,
    },
    /// The local embedding model is not installed, and opening was not asked to
    /// install it. A `NotFound`: the message says how to install it.
    #[error(
        "the embedding model {model} is not installed: install it with `omnex model install` \
         (or set OMNEX_MODEL_DIR to a directory holding it, or open with `install_model` enabled)"
    )]
    ModelNotInstalled {
        /// The model's name.
        model: String,
    },
    /// A precondition failed: a stale `if_version`, or the item already exists.
    #[error("conflict on {entity} {id}: {detail}")]
    Conflict {
        /// What conflicted.
        entity: Entity,
        /// Its id or path.
        id: String,
        /// Why.
        detail: String,
    },
    /// The caller sent something Omnex will not accept.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: Cow<'static, str>,
        /// What is wrong with it and what would be accepted.
        reason: String,
    },
    /// The caller did not prove who it is: no credentials, or wrong or expired ones.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// What was wrong with the credentials.
        reason: String,
    },
    /// The credentials are valid but do not allow this call (a read-only key writing, a
    /// key limited to other namespaces, a tenant's quota used up).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// The backend cannot do this.
    #[error("{operation} is not supported by {backend}")]
    Unsupported {
        /// The operation asked for.
        operation: &'static str,
        /// The backend that cannot do it.
        backend: &'static str,
    },
    /// A backend cannot be reached right now; retrying later may succeed.
    #[error("{backend} is unavailable: {source}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A bug or an unexpected backend failure.
    #[error("internal error in {backend}: {source}")]
    Internal {
        /// Which component.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// The stable classification of an [`Error`], shared by every frontend.
///
/// Deliberately exhaustive: adding a kind must break every frontend's `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Unauthorized`].
    Unauthorized,
    /// See [`Error::Forbidden`].
    Forbidden,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::Unavailable`].
    Unavailable,
    /// See [`Error::Internal`].
    Internal,
}

impl ErrorKind {
    /// The stable wire code (`not_found`, `conflict`, ...), used by HTTP, MCP and Python.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidInput => "invalid_input",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Unsupported => "unsupported",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Every kind, in a stable order.
    pub const ALL: [Self; 8] = [
        Self::NotFound,
        Self::Conflict,
        Self::InvalidInput,
        Self::Unauthorized,
        Self::Forbidden,
        Self::Unsupported,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The kind of a wire code (the inverse of [`code`](Self::code)).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::ModelNotInstalled { .. } => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The field an [`Error::InvalidInput`] is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The entity a [`Error::NotFound`] or [`Error::Conflict`] is about.
    pub fn entity(&self) -> Option<Entity> {
        match self {
            Self::NotFound { entity, .. } | Self::Conflict { entity, .. } => Some(*entity),
            Self::ModelNotInstalled { .. } => Some(Entity::Model),
            _ => None,
        }
    }

    /// The id or path a [`Error::NotFound`] or [`Error::Conflict`] is about.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::NotFound { id, .. } | Self::Conflict { id, .. } => Some(id),
            Self::ModelNotInstalled { model } => Some(model),
            _ => None,
        }
    }

    /// The message without the kind's prefix: the reason of an input, credential or
    /// conflict error, the source of an availability or internal error. Frontends
    /// send it as the detail, so a client can rebuild the same error.
    pub fn reason(&self) -> String {
        match self {
            Self::InvalidInput { reason, .. }
            | Self::Unauthorized { reason }
            | Self::Forbidden { reason } => reason.clone(),
            Self::Conflict { detail, .. } => detail.clone(),
            Self::Unavailable { source, .. } | Self::Internal { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }

    /// Names the batch item an input error is about (`... (batch item 3)`).
    pub fn at_item(self, index: usize) -> Self {
        match self {
            Self::InvalidInput { field, reason } => Self::InvalidInput {
                field,
                reason: format!("{reason} (batch item {index})"),
            },
            other => other,
        }
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid_input(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Unauthorized`].
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::Unauthorized {
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Forbidden`].
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden {
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::NotFound`].
    pub fn not_found(entity: Entity, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }

    /// Builds an [`Error::Internal`] from any error.
    pub fn internal(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            backend,
            source: source.into(),
        }
    }

    /// Builds an [`Error::Unavailable`] from any error.
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            backend,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let all = [
            (ErrorKind::NotFound, "not_found"),
            (ErrorKind::Conflict, "conflict"),
            (ErrorKind::InvalidInput, "invalid_input"),
            (ErrorKind::Forbidden, "forbidden"),
            (ErrorKind::Unsupported, "unsupported"),
            (ErrorKind::Unavailable, "unavailable"),
            (ErrorKind::Internal, "internal"),
        ];
        for (kind, code) in all {
            assert_eq!(kind.code(), code);
            assert_eq!(ErrorKind::from_code(code), Some(kind));
        }
        assert_eq!(
            ErrorKind::from_code("unauthorized"),
            Some(ErrorKind::Unauthorized)
        );
        assert_eq!(ErrorKind::from_code("nope"), None);
        for entity in [Entity::Context, Entity::Memory, Entity::Model] {
            assert_eq!(entity.as_str().parse::<Entity>().unwrap(), entity);
        }
        let e = Error::not_found(Entity::Memory, "m1");
        assert_eq!((e.entity(), e.id()), (Some(Entity::Memory), Some("m1")));
        assert_eq!(
            Error::unauthorized("bad key").kind(),
            ErrorKind::Unauthorized
        );
        let e = Error::invalid_input("content", "too long");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.field(), Some("content"));
        assert!(!e.is_retryable());
        assert!(Error::unavailable("sqlite", "down").is_retryable());
    }
}
