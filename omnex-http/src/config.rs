//! Settings of the HTTP server (the `[server]` table of the `omnex` configuration file).

use std::{fmt, net::SocketAddr, time::Duration};

use serde::Deserialize;

/// HTTP server settings (the `[server]` table of the configuration file).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// The server's own key: an operator over every tenant. With it (or with any API
    /// key in the store), every `/api/v1` and `/mcp` request needs credentials.
    pub api_key: Option<String>,
    /// Largest accepted request body in bytes (default 1 MiB).
    pub body_limit: usize,
    /// Longest a request may run, in milliseconds (default 30,000).
    pub request_timeout_ms: u64,
    /// Longest a client may take to send a request's headers, in milliseconds
    /// (default 10,000); an idle keep-alive connection is closed after it too.
    pub header_timeout_ms: u64,
    /// Most connections open at once (default 4,096); past it the server accepts
    /// no more until one closes.
    pub max_connections: usize,
    /// Origins allowed by CORS (`*` for any); none by default.
    pub cors_origins: Vec<String>,
    /// Requests per second the server accepts before answering 429 (0 = no limit).
    pub rate_limit: u32,
    /// Requests per second each API key or token may make (0 = no limit); each
    /// tenant together may make ten times as many.
    pub key_rate_limit: u32,
    /// A Redis URL: share the per-key and per-tenant limits between servers.
    pub rate_limit_redis: Option<String>,
    /// Signing secret of the tokens `POST /api/v1/auth/token` issues (HS256). Servers
    /// behind one load balancer need the same one; unset, each process makes its own.
    pub token_secret: Option<String>,
    /// Lifetime of the tokens this server issues, in seconds (default 900).
    pub token_ttl_secs: u64,
    /// Accept the tokens of an external identity provider.
    pub jwt: Option<JwtProvider>,
}

/// An external identity provider whose JWTs the server accepts (`[server.jwt]`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtProvider {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` its tokens must carry (unchecked when unset).
    #[serde(default)]
    pub audience: Option<String>,
    /// Where its public keys are (RS256, ES256 and the others a JWKS names).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A shared HS256 secret instead of a JWKS.
    #[serde(default)]
    pub secret: Option<String>,
    /// The claim naming the tenant (default `tenant`).
    #[serde(default = "tenant_claim")]
    pub tenant_claim: String,
    /// The claim naming the permission, `read`, `write` or `admin` (default
    /// `permission`; without it, `scope` entries `omnex:read` … are used).
    #[serde(default = "permission_claim")]
    pub permission_claim: String,
}

fn tenant_claim() -> String {
    "tenant".to_owned()
}

fn permission_claim() -> String {
    "permission".to_owned()
}

impl JwtProvider {
    /// A provider by issuer, with the default claim names and nothing to verify with yet.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: None,
            jwks_url: None,
            secret: None,
            tenant_claim: tenant_claim(),
            permission_claim: permission_claim(),
        }
    }
}

impl fmt::Debug for JwtProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtProvider")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("tenant_claim", &self.tenant_claim)
            .field("permission_claim", &self.permission_claim)
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_key: None,
            body_limit: 1024 * 1024,
            request_timeout_ms: 30_000,
            header_timeout_ms: 10_000,
            max_connections: 4096,
            cors_origins: Vec::new(),
            rate_limit: 0,
            key_rate_limit: 0,
            rate_limit_redis: None,
            token_secret: None,
            token_ttl_secs: 900,
            jwt: None,
        }
    }
}

impl ServerOptions {
    /// The API key, if one is set (an empty key counts as none).
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.is_empty())
    }

    /// The header timeout as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("addr", &self.addr)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("body_limit", &self.body_limit)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("header_timeout_ms", &self.header_timeout_ms)
            .field("max_connections", &self.max_connections)
            .field("cors_origins", &self.cors_origins)
            .field("rate_limit", &self.rate_limit)
            .field("key_rate_limit", &self.key_rate_limit)
            .field("rate_limit_redis", &self.rate_limit_redis)
            .field("token_secret", &self.token_secret.as_ref().map(|_| "***"))
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("jwt", &self.jwt)
            .finish()
    }
}
