//! The flags of each command, and the configuration file they may name. Flags win
//! over `OMNEX_*` variables, which win over the file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use omnex_core::{
    config::{CacheSpec, EmbedderSpec, IndexSpec, StoreSpec},
    model::ScopeArgs,
    text::Analyzer,
    Config,
};
use omnex_http::ServerOptions;
use serde::Deserialize;

/// A configuration file: `[server]` for the HTTP server, `[omnex]` for the backends.
///
/// ```toml
/// [server]
/// addr = "0.0.0.0:8080"
/// api_key = "change-me"
///
/// [omnex]
/// data_dir = "/var/lib/omnex"
/// index = "hnsw"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// HTTP server settings.
    pub(crate) server: ServerOptions,
    /// Backends and the data directory.
    pub(crate) omnex: Config,
}

impl FileConfig {
    /// Reads a TOML configuration file.
    async fn load(path: &Path) -> anyhow::Result<Self> {
        let text = tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid", path.display()))
    }
}

/// Settings of `omnex serve`.
#[derive(Args, Clone, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) backend: BackendArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "OMNEX_ADDR")]
    addr: Option<std::net::SocketAddr>,
    /// Require `Authorization: Bearer <key>` on /api/v1.
    #[arg(long, env = "OMNEX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "OMNEX_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Request timeout in milliseconds [default: 30000].
    #[arg(long, env = "OMNEX_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Time a client has to send a request's headers, in milliseconds; idle
    /// keep-alive connections close after it too [default: 10000].
    #[arg(long, env = "OMNEX_HEADER_TIMEOUT_MS")]
    header_timeout_ms: Option<u64>,
    /// Most connections open at once [default: 4096].
    #[arg(long, env = "OMNEX_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Allowed CORS origin (repeat, or comma-separate; `*` for any).
    #[arg(
        long = "cors-origin",
        env = "OMNEX_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Requests per second before answering 429 (0 = no limit).
    #[arg(long, env = "OMNEX_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Requests per second per API key or token; a tenant may make ten times as
    /// many (0 = no limit).
    #[arg(long, env = "OMNEX_KEY_RATE_LIMIT")]
    key_rate_limit: Option<u32>,
    /// Share the per-key limits between servers through this Redis.
    #[arg(long, env = "OMNEX_RATE_LIMIT_REDIS")]
    rate_limit_redis: Option<String>,
    /// Signing secret of the tokens `POST /api/v1/auth/token` issues (give every
    /// server behind one load balancer the same; default: random per process).
    #[arg(long, env = "OMNEX_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// Lifetime of issued tokens in seconds [default: 900].
    #[arg(long, env = "OMNEX_TOKEN_TTL_SECS")]
    token_ttl_secs: Option<u64>,
    /// Accept JWTs of this external issuer (`iss`), checked with `--jwt-jwks-url`
    /// or `--jwt-secret`.
    #[arg(long, env = "OMNEX_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// The audience (`aud`) the external tokens must name.
    #[arg(long, env = "OMNEX_JWT_AUDIENCE", requires = "jwt_issuer")]
    jwt_audience: Option<String>,
    /// The external issuer's JWKS URL.
    #[arg(long, env = "OMNEX_JWT_JWKS_URL", requires = "jwt_issuer")]
    jwt_jwks_url: Option<String>,
    /// The external issuer's shared HS256 secret.
    #[arg(
        long,
        env = "OMNEX_JWT_SECRET",
        hide_env_values = true,
        requires = "jwt_issuer"
    )]
    jwt_secret: Option<String>,
    /// Background workers in this process (0 when `omnex worker` processes run
    /// the jobs) [default: 1].
    #[arg(long, env = "OMNEX_WORKERS")]
    workers: Option<usize>,
}

impl ServeArgs {
    /// The server options and the engine's configuration.
    pub(crate) async fn options(&self) -> anyhow::Result<(ServerOptions, Config)> {
        let file = self.backend.file().await?;
        let mut opts = file.server;
        if let Some(v) = self.addr {
            opts.addr = v;
        }
        if let Some(v) = &self.api_key {
            opts.api_key = Some(v.clone());
        }
        if let Some(v) = self.body_limit {
            opts.body_limit = v;
        }
        if let Some(v) = self.request_timeout_ms {
            opts.request_timeout_ms = v;
        }
        if let Some(v) = self.header_timeout_ms {
            opts.header_timeout_ms = v;
        }
        if let Some(v) = self.max_connections {
            opts.max_connections = v;
        }
        if !self.cors_origins.is_empty() {
            opts.cors_origins = self.cors_origins.clone();
        }
        if let Some(v) = self.rate_limit {
            opts.rate_limit = v;
        }
        if let Some(v) = self.key_rate_limit {
            opts.key_rate_limit = v;
        }
        if let Some(v) = &self.rate_limit_redis {
            opts.rate_limit_redis = Some(v.clone());
        }
        if let Some(v) = &self.token_secret {
            opts.token_secret = Some(v.clone());
        }
        if let Some(v) = self.token_ttl_secs {
            opts.token_ttl_secs = v;
        }
        if let Some(issuer) = &self.jwt_issuer {
            let mut jwt = opts
                .jwt
                .take()
                .filter(|j| &j.issuer == issuer)
                .unwrap_or_else(|| omnex_http::JwtProvider::new(issuer.clone()));
            if let Some(v) = &self.jwt_audience {
                jwt.audience = Some(v.clone());
            }
            if let Some(v) = &self.jwt_jwks_url {
                jwt.jwks_url = Some(v.clone());
            }
            if let Some(v) = &self.jwt_secret {
                jwt.secret = Some(v.clone());
            }
            opts.jwt = Some(jwt);
        }
        let mut config = self.backend.apply(file.omnex)?;
        if let Some(n) = self.workers {
            config.workers = n;
        }
        Ok((opts, config))
    }
}

/// Settings of `omnex worker`.
#[derive(Args, Clone, Debug)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    pub(crate) backend: BackendArgs,
    /// Jobs run at once.
    #[arg(long, default_value_t = 2)]
    pub(crate) concurrency: usize,
    /// Seconds a job stays this worker's without a checkpoint; the job of a worker
    /// that died goes to another after it.
    #[arg(long, default_value_t = 30)]
    pub(crate) lease_secs: u64,
}

/// Settings of `omnex mcp`: the backends, and the scope applied to calls that name none.
#[derive(Args, Clone, Debug)]
pub(crate) struct McpArgs {
    #[command(flatten)]
    pub(crate) backend: BackendArgs,
    /// Namespace used when a tool call gives none.
    #[arg(long, env = "OMNEX_NAMESPACE")]
    namespace: Option<String>,
    /// User every memory belongs to unless a call says otherwise.
    #[arg(long, env = "OMNEX_USER_ID")]
    user_id: Option<String>,
    /// Agent every memory belongs to unless a call says otherwise.
    #[arg(long, env = "OMNEX_AGENT_ID")]
    agent_id: Option<String>,
}

impl McpArgs {
    /// The scope the server fills in where a call names none.
    pub(crate) fn scope(&self) -> ScopeArgs {
        ScopeArgs {
            namespace: self.namespace.clone(),
            user_id: self.user_id.clone(),
            agent_id: self.agent_id.clone(),
            session_id: None,
        }
    }
}

/// Backend selection, shared by every command.
#[derive(Args, Clone, Debug)]
pub(crate) struct BackendArgs {
    /// TOML configuration file (`[server]` and `[omnex]` tables).
    #[arg(long, env = "OMNEX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the embedded default.
    #[arg(long, env = "OMNEX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL: `sqlite://DATA_DIR/omnex.db` (default) or `postgres://user@host:5432/db`.
    #[arg(long, env = "OMNEX_STORE")]
    storage: Option<StoreSpec>,
    /// Vector index: hnsw (default), exact, pgvector, pgvector:postgres://…, or qdrant://host:6334.
    #[arg(long, env = "OMNEX_INDEX")]
    index: Option<IndexSpec>,
    /// Embedder: local, openai, or an OpenAI-compatible URL (http://host/v1?model=NAME).
    #[arg(long, env = "OMNEX_EMBEDDER")]
    embedder: Option<EmbedderSpec>,
    /// Cache: memory (default), none, or redis://host:6379.
    #[arg(long, env = "OMNEX_CACHE")]
    cache: Option<CacheSpec>,
    /// Directory of the local model files.
    #[arg(long, env = "OMNEX_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Keyword-search analyzer: `english` (stemming, stop words) or `simple` (any
    /// language) [default: english]. Changing it re-indexes the text at start.
    #[arg(long, env = "OMNEX_ANALYZER")]
    analyzer: Option<Analyzer>,
}

impl BackendArgs {
    async fn file(&self) -> anyhow::Result<FileConfig> {
        match &self.config {
            Some(path) => FileConfig::load(path).await,
            None => Ok(FileConfig::default()),
        }
    }

    /// The engine's configuration: the file, then the variables, then the flags.
    /// The engine's configuration for every command but `serve`: without background
    /// workers, so a short command never claims a job it will not live to finish
    /// (`omnex worker` runs its own).
    pub(crate) async fn config(&self) -> anyhow::Result<Config> {
        let mut config = self.apply(self.file().await?.omnex)?;
        config.workers = 0;
        Ok(config)
    }

    fn apply(&self, mut c: Config) -> anyhow::Result<Config> {
        c.apply_env()?;
        if let Some(v) = &self.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = &self.storage {
            c.store = Some(v.clone());
        }
        if let Some(v) = &self.index {
            c.index = v.clone();
        }
        if let Some(v) = &self.embedder {
            c.embedder = v.clone();
        }
        if let Some(v) = &self.cache {
            c.cache = v.clone();
        }
        if let Some(v) = &self.model_dir {
            c.model_dir = Some(v.clone());
        }
        if let Some(v) = self.analyzer {
            c.analyzer = v;
        }
        // The command line is an application: on a fresh machine, its first run
        // installs the model (the library alone never does unless asked).
        c.install_model = true;
        Ok(c)
    }
}
