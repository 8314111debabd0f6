//! PostgreSQL storage through sqlx: a connection pool, migrations embedded in the
//! binary, JSONB metadata, and the change log as an outbox for vector indexes.
//!
//! URL: `postgres://user:pass@host:5432/db?schema=omnex&max_connections=16&acquire_timeout_ms=5000`.
//! `schema`, `max_connections`, `min_connections`, `acquire_timeout_ms`, `idle_timeout_secs`
//! and `migrate=false` are read by Omnex; every other parameter goes to the driver
//! (for example `sslmode`, `application_name`).

mod access;
mod events;
mod jobs;
mod store;
mod text;

use std::{str::FromStr, sync::Arc, time::Duration};

use parking_lot::{Mutex, RwLock};

use sqlx::{
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use crate::{text::Analyzer, Error, Result};

/// Schema migrations, embedded in the binary: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "full_text",
        include_str!("migrations/0002_full_text.sql"),
    ),
    (3, "tenants", include_str!("migrations/0003_tenants.sql")),
    (4, "events", include_str!("migrations/0004_events.sql")),
];

/// The embedded migrations as a source for sqlx's migrator (which records them in
/// `_sqlx_migrations` and serializes concurrent runs with an advisory lock): the
/// first `.0` of them (all but in the tests of upgrades).
#[derive(Debug)]
struct Embedded(usize);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .take(self.0)
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        (*description).into(),
                        MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// How to reach a PostgreSQL database, parsed from a URL.
#[derive(Clone)]
pub struct PgTarget {
    /// Options for the driver.
    pub options: PgConnectOptions,
    /// The schema the tables live in (`None`: the server's `search_path`).
    pub schema: Option<String>,
    /// Pool size.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a query waits for a free connection before `Unavailable`.
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this.
    pub idle_timeout: Duration,
    /// Apply migrations on open (default true).
    pub migrate: bool,
    /// The URL without credentials, for logs and errors.
    pub display: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl PgTarget {
    /// Parses `postgres://…` (or `postgresql://…`) with Omnex's own query parameters.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: String| Error::invalid_input("store", reason);
        let mut parsed =
            url::Url::parse(url).map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad(format!(
                "{:?} is not a postgres:// URL",
                parsed.scheme()
            )));
        }
        let mut target = Self {
            options: PgConnectOptions::new(),
            schema: None,
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            migrate: true,
            display: String::new(),
        };
        let number = |k: &str, v: &str| -> Result<u64> {
            v.parse()
                .map_err(|_| bad(format!("{k}={v:?} is not a number")))
        };
        let mut rest = Vec::new();
        for (k, v) in parsed.query_pairs() {
            match &*k {
                "schema" => {
                    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(bad(format!(
                            "schema={v:?}: use letters, digits and underscores"
                        )));
                    }
                    target.schema = Some(v.into_owned());
                }
                "max_connections" => {
                    target.max_connections = u32::try_from(number(&k, &v)?.max(1)).unwrap_or(1)
                }
                "min_connections" => {
                    target.min_connections = u32::try_from(number(&k, &v)?).unwrap_or(0)
                }
                "acquire_timeout_ms" => {
                    target.acquire_timeout = Duration::from_millis(number(&k, &v)?)
                }
                "idle_timeout_secs" => target.idle_timeout = Duration::from_secs(number(&k, &v)?),
                "migrate" => target.migrate = v != "false" && v != "0",
                _ => rest.push((k.into_owned(), v.into_owned())),
            }
        }
        target.min_connections = target.min_connections.min(target.max_connections);
        if rest.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(rest);
        }
        target.options = PgConnectOptions::from_str(parsed.as_str())
            .map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
        let _ = parsed.set_password(None);
        let _ = parsed.set_username("");
        target.display = parsed.to_string();
        Ok(target)
    }

    /// Opens a pool; every connection uses the target's schema first in its `search_path`,
    /// and the given session `settings`.
    pub async fn pool(&self, backend: &'static str, settings: &[(&str, &str)]) -> Result<PgPool> {
        let mut options = self.options.clone().options(settings.iter().copied());
        if let Some(schema) = &self.schema {
            options = options.options([("search_path", format!("{schema},public"))]);
        }
        let display = self.display.clone();
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(self.min_connections)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(Some(self.idle_timeout))
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::unavailable(backend, format!("cannot connect to {display}: {e}"))
            })?;
        if let Some(schema) = &self.schema {
            // Quoted identifier; the name was checked to be [A-Za-z0-9_]+.
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&pool)
                .await
                .map(|_| ())
                .or_else(|e| ignore_duplicate(e, ()))
                .map_err(|e| map_err(backend, e))?;
        }
        Ok(pool)
    }
}

/// Concurrent `CREATE … IF NOT EXISTS` can still race to a unique violation; that is success.
pub(crate) fn ignore_duplicate<T>(e: sqlx::Error, ok: T) -> std::result::Result<T, sqlx::Error> {
    match &e {
        sqlx::Error::Database(db)
            if matches!(
                db.code().as_deref(),
                Some("23505" | "42P06" | "42P07" | "42710")
            ) =>
        {
            Ok(ok)
        }
        _ => Err(e),
    }
}

/// The PostgreSQL store. Any number of processes may share one database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    target: PgTarget,
    /// How content becomes full-text terms (shared by the clones of this store).
    analyzer: Arc<RwLock<Option<Analyzer>>>,
    /// Corpus size and mean length for BM25, counted now and then.
    stats: Arc<Mutex<Option<text::CorpusStats>>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.target.display)
            .field("schema", &self.target.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, applying pending migrations unless `migrate=false`.
    pub async fn open_url(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        if store.target.migrate {
            store.migrate().await?;
        } else {
            store.check_migrated().await?;
        }
        Ok(store)
    }

    /// Connects without touching the schema (see [`migrate`](Self::migrate)).
    pub async fn connect(url: &str) -> Result<Self> {
        let target = PgTarget::parse(url)?;
        let pool = target.pool("postgres", &[]).await?;
        Ok(Self {
            pool,
            target,
            analyzer: Arc::new(RwLock::new(Some(Analyzer::default()))),
            stats: Arc::default(),
        })
    }

    /// Applies pending migrations (concurrent callers wait on an advisory lock) and
    /// returns the versions applied by this call.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.applied_migrations().await.unwrap_or_default();
        Migrator::new(Embedded(MIGRATIONS.len()))
            .await
            .map_err(|e| Error::internal("postgres", e))?
            .run(&self.pool)
            .await
            .map_err(|e| Error::unavailable("postgres", format!("migration failed: {e}")))?;
        let after = self.applied_migrations().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    /// Versions of the migrations this database has.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("postgres", e))
    }

    /// Versions of the migrations this build knows.
    pub fn known_migrations() -> Vec<i64> {
        MIGRATIONS.iter().map(|m| m.0).collect()
    }

    async fn check_migrated(&self) -> Result<()> {
        let have = self.applied_migrations().await.unwrap_or_default();
        let missing: Vec<i64> = Self::known_migrations()
            .into_iter()
            .filter(|v| !have.contains(v))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::unavailable(
                "postgres",
                format!(
                    "the database lacks migrations {missing:?}; run `omnex migrate` (or drop migrate=false)"
                ),
            ))
        }
    }

    /// The pool, for backends that share the database (pgvector).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where the store connects, without credentials.
    pub fn target(&self) -> &PgTarget {
        &self.target
    }
}

/// Appends `AND <filter>` conditions on a table with Omnex's scope, metadata and
/// expiry columns (the memories table, and pgvector's tables).
pub(crate) fn push_filter(
    qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
    filter: &crate::model::Filter,
    now: crate::model::Timestamp,
) {
    qb.push(" AND tenant = ")
        .push_bind(filter.tenant.to_string())
        .push(" AND (expires_at IS NULL OR expires_at > ")
        .push_bind(now)
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
    if !filter.metadata.is_empty() {
        // JSONB containment compares numbers by value (1 = 1.0) and uses the GIN index.
        qb.push(" AND metadata @> ")
            .push_bind(sqlx::types::Json(filter.metadata.clone()));
    }
}

/// Translates sqlx errors into Omnex errors at the boundary.
pub(crate) fn map_err(backend: &'static str, e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::unavailable(backend, e),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Data exceptions: a value PostgreSQL cannot hold (for example \u0000 in JSON text).
            Some(code) if code.starts_with("22") => Error::invalid_input(
                "value",
                format!("{backend} refused the value: {}", db.message()),
            ),
            // Connection, resources, operator intervention (shutdown), serialization.
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code == "40001"
                    || code == "40P01" =>
            {
                Error::unavailable(backend, e)
            }
            _ => Error::internal(backend, e),
        },
        _ => Error::internal(backend, e),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A throw-away schema per test in the database named by `OMNEX_TEST_POSTGRES_URL`.

    /// A `postgres://` URL with a new schema, or `None` (with `SKIPPED`) when not configured.
    pub(crate) fn fresh_url(backend: &str) -> Option<String> {
        match std::env::var("OMNEX_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let sep = if url.contains('?') { '&' } else { '?' };
                Some(format!(
                    "{url}{sep}schema={}&max_connections=4",
                    crate::conformance::unique_namespace()
                ))
            }
            _ => {
                assert!(
                    !crate::conformance::required(backend),
                    "OMNEX_TEST_REQUIRE names {backend} but OMNEX_TEST_POSTGRES_URL is not set"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod conformance {
    crate::store_conformance!(async {
        let url = super::testing::fresh_url("postgres")?;
        Some(super::PostgresStore::open_url(&url).await.unwrap())
    });

    /// A schema made before tenants (migrations 1 and 2, as an older build left it)
    /// is upgraded on open: its rows belong to the default tenant, nothing is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_made_before_tenants_upgrades_with_nothing_lost() {
        use crate::{model::Tenant, store::Store};
        let Some(url) = super::testing::fresh_url("postgres") else {
            return;
        };
        let old = super::PostgresStore::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(super::Embedded(2))
            .await
            .unwrap()
            .run(&old.pool)
            .await
            .unwrap();
        sqlx::raw_sql(
            "INSERT INTO contexts (namespace, key, id, value, tags, created_at, updated_at, version) \
             VALUES ('app', 'settings', '0190b5c4-0000-7000-8000-000000000001', '{\"theme\": \"dark\"}', \
                     '{ui}', now(), now(), 3); \
             INSERT INTO memories (id, namespace, user_id, content, metadata, embedding, created_at, updated_at) \
             VALUES ('0190b5c4-0000-7000-8000-000000000002', 'app', 'alice', 'Alice likes green tea', \
                     '{}', '\\x0000803f0000803f', now(), now());",
        )
        .execute(&old.pool)
        .await
        .unwrap();
        let store = super::PostgresStore::open_url(&url).await.unwrap();
        let ctx = store
            .get_context(&Tenant::default(), "app", "settings")
            .await
            .unwrap()
            .expect("kept");
        assert_eq!(
            (ctx.version, ctx.value["theme"].as_str()),
            (3, Some("dark"))
        );
        let other = Tenant::new("someone-else").unwrap();
        assert!(store
            .get_context(&other, "app", "settings")
            .await
            .unwrap()
            .is_none());
        let m = store
            .get_memories(&[
                crate::model::MemoryId::parse("0190b5c4-0000-7000-8000-000000000002").unwrap(),
            ])
            .await
            .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].tenant.clone(), m[0].content.as_str()),
            (Tenant::default(), "Alice likes green tea")
        );
        assert_eq!(store.tenants().await.unwrap(), vec![Tenant::default()]);
    }

    #[test]
    fn url_parameters() {
        let t = super::PgTarget::parse(
            "postgres://u:secret@db:5433/omnex?schema=s1&max_connections=3&sslmode=disable",
        )
        .unwrap();
        assert_eq!(t.schema.as_deref(), Some("s1"));
        assert_eq!(t.max_connections, 3);
        assert!(!t.display.contains("secret"), "{}", t.display);
        assert!(super::PgTarget::parse("postgres://db/x?schema=a;drop").is_err());
        assert!(super::PgTarget::parse("mysql://db/x").is_err());
        assert!(super::PgTarget::parse("postgres://db/x?max_connections=many").is_err());
    }
}
