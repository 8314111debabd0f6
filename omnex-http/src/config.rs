//! Settings of the HTTP server (the `[server]` table of the `omnex` configuration file).

use std::{fmt, net::SocketAddr, time::Duration};

use serde::Deserialize;

/// HTTP server settings (the `[server]` table of the configuration file).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// When set, every `/api/v1` route requires `Authorization: Bearer <api_key>`.
    pub api_key: Option<String>,
    /// Largest accepted request body in bytes (default 1 MiB).
    pub body_limit: usize,
    /// Longest a request may run, in milliseconds (default 30,000).
    pub request_timeout_ms: u64,
    /// Origins allowed by CORS (`*` for any); none by default.
    pub cors_origins: Vec<String>,
    /// Requests per second the server accepts before answering 429 (0 = no limit).
    pub rate_limit: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_key: None,
            body_limit: 1024 * 1024,
            request_timeout_ms: 30_000,
            cors_origins: Vec::new(),
            rate_limit: 0,
        }
    }
}

impl ServerOptions {
    /// The API key, if one is set (an empty key counts as none).
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.is_empty())
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
            .field("cors_origins", &self.cors_origins)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}
