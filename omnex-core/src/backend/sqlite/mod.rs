//! SQLite storage through sqlx: WAL mode, migrations embedded in the binary.

mod access;
mod context_cache;
mod events;
mod jobs;
mod rows;
mod store;
mod text;

use std::{str::FromStr, sync::Arc, time::Duration};

use parking_lot::RwLock;

use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    ConnectOptions, Connection, SqliteConnection, SqlitePool,
};

use crate::{model::Filter, text::Analyzer, Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records the last one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_full_text.sql")),
    (3, include_str!("migrations/0003_term_counts.sql")),
    (4, include_str!("migrations/0004_tenants.sql")),
    (5, include_str!("migrations/0005_events.sql")),
];

/// The SQLite store. Several processes may open the same file at once.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    location: String,
    /// How content becomes full-text terms (shared by the clones of this store).
    analyzer: Arc<RwLock<Option<Analyzer>>>,
    /// Recent document counts of query terms (shared by the clones of this store).
    term_counts: Arc<parking_lot::Mutex<text::TermCounts>>,
    /// Contexts read lately, for a file database in WAL mode (see [`context_cache`]).
    contexts: Option<Arc<context_cache::ContextCache>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open_path(path: &std::path::Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                Error::invalid_input(
                    "store",
                    format!("cannot create data directory {}: {e}", dir.display()),
                )
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(opts, 8, path.display().to_string()).await
    }

    /// Opens from a `sqlite://path` or `sqlite::memory:` URL.
    pub async fn open_url(url: &str) -> Result<Self> {
        match crate::config::sqlite_file(url)? {
            Some(path) => Self::open_path(path).await,
            None => Self::in_memory().await,
        }
    }

    /// A private in-memory database (for tests and throw-away use).
    pub async fn in_memory() -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:").map_err(map_err)?;
        Self::connect(opts, 1, ":memory:".into()).await
    }

    async fn connect(opts: SqliteConnectOptions, max: u32, location: String) -> Result<Self> {
        let opts = opts
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Reads map the file (up to 256 MiB) instead of copying pages out of the
            // kernel into each connection's small cache: in a profile of keyword
            // search at 100k memories, those copies were the largest cost.
            .pragma("mmap_size", "268435456");
        // Another process may be creating the same database at this moment: switching
        // a new file to WAL takes an exclusive lock that does not wait, so retry.
        let mut attempt = 0u32;
        loop {
            match Self::try_connect(opts.clone(), max, &location).await {
                Err(e) if e.is_retryable() && attempt < 40 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt.min(8)))).await;
                }
                other => return other,
            }
        }
    }

    async fn try_connect(opts: SqliteConnectOptions, max: u32, location: &str) -> Result<Self> {
        let unavailable =
            |e: sqlx::Error| Error::unavailable("sqlite", format!("cannot open {location}: {e}"));
        let in_memory = location == ":memory:";
        if !in_memory {
            // One connection sets up the file (WAL, migrations) before the pool opens more.
            let mut setup = opts.connect().await.map_err(unavailable)?;
            migrate(&mut setup).await?;
            setup.close().await.map_err(unavailable)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // On a full disk SQLite may end a transaction by itself; the driver then
            // still counts it as open and every later BEGIN on that connection
            // fails. Such a connection is closed and another one opened.
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(opts.clone())
            .await
            .map_err(unavailable)?;
        let contexts = if in_memory {
            // A private in-memory database lives in the pool's only connection.
            let mut conn = pool.acquire().await.map_err(unavailable)?;
            migrate(&mut conn).await?;
            None
        } else {
            context_cache::ContextCache::open(&opts).await.map(Arc::new)
        };
        Ok(Self {
            pool,
            location: location.to_owned(),
            analyzer: Arc::new(RwLock::new(Some(Analyzer::default()))),
            term_counts: Arc::default(),
            contexts,
        })
    }
}

async fn migrate(conn: &mut SqliteConnection) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {version}"))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)
}

/// Appends `AND <filter>` conditions on the memories table.
pub(crate) fn push_filter(
    qb: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>,
    filter: &Filter,
    now_us: i64,
) {
    qb.push(" AND tenant = ")
        .push_bind(filter.tenant.to_string())
        .push(" AND (expires_at IS NULL OR expires_at > ")
        .push_bind(now_us)
        .push(")");
    for (col, v) in [
        ("namespace", &filter.namespace),
        ("user_id", &filter.user_id),
        ("agent_id", &filter.agent_id),
        ("session_id", &filter.session_id),
    ] {
        if let Some(v) = v {
            qb.push(format!(" AND {col} = ")).push_bind(v.clone());
        }
    }
    for (k, v) in &filter.metadata {
        let path = format!("$.\"{k}\"");
        qb.push(" AND json_type(metadata, ").push_bind(path.clone());
        match v {
            serde_json::Value::Null => {
                qb.push(") = 'null'");
            }
            serde_json::Value::Bool(b) => {
                qb.push(if *b { ") = 'true'" } else { ") = 'false'" });
            }
            serde_json::Value::Number(n) => {
                qb.push(") IN ('integer', 'real') AND json_extract(metadata, ")
                    .push_bind(path)
                    .push(") = ")
                    .push_bind(n.as_f64().unwrap_or(f64::NAN));
            }
            serde_json::Value::String(s) => {
                qb.push(") = 'text' AND json_extract(metadata, ")
                    .push_bind(path)
                    .push(") = ")
                    .push_bind(s.clone());
            }
            // Rejected by validation; never matches if it gets here.
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                qb.push(") = 'never'");
            }
        }
    }
}

/// Translates sqlx errors into Omnex errors at the boundary.
pub(crate) fn map_err(e: sqlx::Error) -> Error {
    if is_disk_full(&e) {
        return Error::unavailable(
            "sqlite",
            format!(
                "the disk is full ({e}): the write was not made and nothing stored was \
                 lost; free space on the data directory's disk and retry"
            ),
        );
    }
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::unavailable("sqlite", e)
        }
        sqlx::Error::Database(db) => {
            let msg = db.message();
            if msg.contains("locked") || msg.contains("busy") {
                Error::unavailable("sqlite", e)
            } else {
                Error::internal("sqlite", e)
            }
        }
        _ => Error::internal("sqlite", e),
    }
}

/// SQLITE_FULL (13), or the operating system's "no space left on device".
fn is_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("13") || db.message().contains("disk is full")
        }
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

#[cfg(test)]
mod conformance {
    crate::store_conformance!(async { Some(super::SqliteStore::in_memory().await.unwrap()) });

    mod on_disk {
        crate::store_conformance!(async {
            let dir = tempfile::tempdir().unwrap();
            let store = super::super::SqliteStore::open_path(&dir.path().join("t.db"))
                .await
                .unwrap();
            std::mem::forget(dir);
            Some(store)
        });
    }
}
