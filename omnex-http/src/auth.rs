//! Who is calling: the bearer credential of a request becomes a [`Principal`], and
//! handlers get an engine handle that runs for it ([`Caller`]).
//!
//! - the server's `--api-key` (compared in constant time): an operator;
//! - an API key made with `omnex keys create` or `POST /api/v1/keys` (`omx_…`): its
//!   tenant, permission and namespaces, checked by the core;
//! - a JWT: one this server issued for an API key (`POST /api/v1/auth/token`), or
//!   one of the configured identity provider ([`crate::tokens`]);
//! - no credential: the local user, but only on a server with neither an `--api-key`
//!   nor any stored key. Otherwise 401.

use std::{ops::Deref, sync::Arc};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use omnex_core::{model::Principal, ErrorKind, Omnex};

use crate::{error::ApiError, tokens::Tokens};

/// What the auth layer needs: the engine and the server's bootstrap key, if any.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) omnex: Omnex,
    pub(crate) bootstrap: Option<Arc<str>>,
    pub(crate) tokens: Arc<Tokens>,
}

/// How the request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// No credential (a server without keys).
    None,
    /// The server's `--api-key`.
    ServerKey,
    /// An API key.
    ApiKey,
    /// A JWT.
    Token,
}

/// The engine, acting for the request's principal.
pub(crate) struct Caller(Omnex);

impl Deref for Caller {
    type Target = Omnex;

    fn deref(&self) -> &Omnex {
        &self.0
    }
}

impl FromRequestParts<Omnex> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, omnex: &Omnex) -> Result<Self, Self::Rejection> {
        Ok(Caller(match parts.extensions.get::<Principal>() {
            Some(p) => omnex.with_principal(p.clone()),
            None => omnex.clone(),
        }))
    }
}

/// The bearer token of a request, if it sends one.
fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refused(err: omnex_core::Error) -> Response {
    let mut res = ApiError::from(err).into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// Resolves the request's principal and puts it in the request's extensions.
pub(crate) async fn authenticate(
    State(auth): State<Auth>,
    mut req: Request,
    next: Next,
) -> Response {
    let (principal, credential) = match bearer(&req) {
        Some(token)
            if auth
                .bootstrap
                .as_deref()
                .is_some_and(|k| constant_time_eq(token.as_bytes(), k.as_bytes())) =>
        {
            let p = Principal {
                subject: "server-api-key".to_owned(),
                ..Principal::local()
            };
            (p, Credential::ServerKey)
        }
        Some(token) if token.matches('.').count() == 2 => match auth.tokens.verify(token).await {
            Ok(p) => (p, Credential::Token),
            Err(e) => {
                if e.kind() == ErrorKind::Unauthorized {
                    auth.omnex.auth_failed(None, "invalid token").await;
                }
                return refused(e);
            }
        },
        Some(token) => match auth.omnex.authenticate_key(token).await {
            Ok(p) => (p, Credential::ApiKey),
            Err(e) if e.kind() == ErrorKind::Unauthorized => {
                return refused(omnex_core::Error::unauthorized(
                    "the API key is not valid: send `Authorization: Bearer <key>` with a key \
                     that is neither revoked nor expired",
                ))
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => {
            let required = auth.bootstrap.is_some()
                || match auth.omnex.has_api_keys().await {
                    Ok(any) => any,
                    Err(e) => return ApiError::from(e).into_response(),
                };
            if required {
                return refused(omnex_core::Error::unauthorized(
                    "send an API key as `Authorization: Bearer <key>`",
                ));
            }
            (Principal::local(), Credential::None)
        }
    };
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(credential);
    req.extensions_mut().insert(auth.tokens.clone());
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
