//! A vector index in PostgreSQL with the pgvector extension: one table per embedding
//! model and dimension, an HNSW index on cosine distance, filters in the `WHERE` clause.
//!
//! pgvector 0.8's iterative index scan (`hnsw.iterative_scan = strict_order`) keeps
//! walking the graph until enough rows pass the filter, so a filtered search returns
//! `k` hits whenever `k` rows match (up to `hnsw.max_scan_tuples`, 20,000 by default).
//!
//! The plan is chosen by selectivity: a filter that at most `EXACT_ROWS` rows pass
//! (one user among many, found through the B-tree indexes on the scope columns) is
//! answered exactly over those rows, since walking the graph for them would visit
//! about a hundred rows for each one kept.

use async_trait::async_trait;
use pgvector::Vector;
use sqlx::{Executor, PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::postgres::{ignore_duplicate, map_err as pg_err, push_filter, PgTarget};
use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{Filter, Hit, IndexEntry, MemoryId, VectorQuery},
    validate, Error, Result,
};

const BACKEND: &str = "pgvector";
/// Filters that at most this many rows pass are searched exactly.
const EXACT_ROWS: i64 = 4000;

fn map_err(e: sqlx::Error) -> Error {
    pg_err(BACKEND, e)
}

/// A pgvector-backed index.
#[derive(Clone)]
pub struct PgVectorIndex {
    pool: PgPool,
    table: String,
    dimension: usize,
    display: String,
    /// Filters that at most this many rows pass are searched exactly.
    exact_rows: i64,
}

impl std::fmt::Debug for PgVectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgVectorIndex")
            .field("url", &self.display)
            .field("table", &self.table)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

/// A table name for a model and dimension: `omnex_vectors_<model>_<dim>`, lowercase
/// letters, digits and underscores, at most 63 bytes (PostgreSQL's identifier limit).
pub fn table_name(model: &str, dimension: usize) -> String {
    let mut slug: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(32);
    let name = format!("omnex_vectors_{}_{dimension}", slug.trim_matches('_'));
    name.replace("__", "_")
}

impl PgVectorIndex {
    /// How many rows pass `q`'s filter, counted up to `exact_rows + 1`.
    async fn matching(&self, q: &VectorQuery) -> Result<i64> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE TRUE",
            self.table
        ));
        push_filter(&mut qb, &q.filter, q.now);
        qb.push(" LIMIT ")
            .push_bind(self.exact_rows + 1)
            .push(") AS m");
        qb.build_query_scalar::<i64>()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    /// Connects to the database at `url` (a `postgres://` URL, with `schema=` if wanted)
    /// and creates the extension, the table and its indexes when missing.
    pub async fn connect(url: &str, table: &str, dimension: usize) -> Result<Self> {
        if dimension == 0 || dimension > 16_000 {
            return Err(Error::invalid_input(
                "dimension",
                format!("pgvector holds 1 to 16000 dimensions, not {dimension}"),
            ));
        }
        if table.is_empty()
            || table.len() > 63
            || !table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(Error::invalid_input(
                "index",
                format!("{table:?} is not a usable table name"),
            ));
        }
        let target = PgTarget::parse(url)?;
        let display = match &target.schema {
            Some(s) => format!("{}?schema={s}", target.display),
            None => target.display.clone(),
        };
        // Filtered searches keep scanning the graph until k rows pass the filter.
        let pool = target
            .pool(
                BACKEND,
                &[
                    ("hnsw.iterative_scan", "strict_order"),
                    ("hnsw.ef_search", "100"),
                ],
            )
            .await?;
        let index = Self {
            pool,
            table: table.to_owned(),
            dimension,
            display,
            exact_rows: EXACT_ROWS,
        };
        index.setup().await?;
        Ok(index)
    }

    async fn setup(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let has_vector: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
        if !has_vector {
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
                .await
                .map(|_| ())
                .or_else(|e| ignore_duplicate(e, ()))
                .map_err(|e| {
                    Error::unavailable(
                        BACKEND,
                        format!(
                            "the pgvector extension is not available in this PostgreSQL \
                             (CREATE EXTENSION vector failed: {e}); install pgvector on the server"
                        ),
                    )
                })?;
        }
        let t = &self.table;
        let dim = self.dimension;
        for ddl in [
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 id UUID PRIMARY KEY, embedding vector({dim}) NOT NULL, \
                 namespace TEXT NOT NULL, user_id TEXT, agent_id TEXT, session_id TEXT, \
                 metadata JSONB NOT NULL DEFAULT '{{}}', expires_at TIMESTAMPTZ)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {t}_hnsw ON {t} USING hnsw (embedding vector_cosine_ops)"
            ),
            // Tables made before tenants hold only the default tenant's entries.
            format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS tenant TEXT NOT NULL DEFAULT 'default'"),
            format!("CREATE INDEX IF NOT EXISTS {t}_tenant ON {t} (tenant, namespace)"),
            format!("CREATE INDEX IF NOT EXISTS {t}_namespace ON {t} (namespace)"),
            format!("CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id) WHERE user_id IS NOT NULL"),
            format!("CREATE INDEX IF NOT EXISTS {t}_agent ON {t} (agent_id) WHERE agent_id IS NOT NULL"),
            format!("CREATE INDEX IF NOT EXISTS {t}_session ON {t} (session_id) WHERE session_id IS NOT NULL"),
            format!("CREATE INDEX IF NOT EXISTS {t}_metadata ON {t} USING GIN (metadata jsonb_path_ops)"),
        ] {
            conn.execute(&*ddl)
                .await
                .map(|_| ())
                .or_else(|e| ignore_duplicate(e, ()))
                .map_err(map_err)?;
        }
        // A table made earlier for another dimension cannot take these vectors.
        let typmod: Option<i32> = sqlx::query_scalar(
            "SELECT atttypmod FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = 'embedding'",
        )
        .bind(t)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
        match typmod {
            Some(d) if usize::try_from(d).ok() != Some(dim) => Err(Error::invalid_input(
                "index",
                format!("table {t} holds {d}-dimensional vectors, not {dim}"),
            )),
            _ => Ok(()),
        }
    }

    /// The table this index writes.
    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl VectorIndex for PgVectorIndex {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn location(&self) -> String {
        format!("{}#{}", self.display, self.table)
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn capabilities(&self) -> IndexCapabilities {
        IndexCapabilities {
            shared: true,
            exact: false,
            ..IndexCapabilities::default()
        }
    }

    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        for e in entries {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        let ids: Vec<Uuid> = entries.iter().map(|e| e.id.0).collect();
        let vectors: Vec<Vector> = entries
            .iter()
            .map(|e| Vector::from(e.vector.clone()))
            .collect();
        let namespaces: Vec<&str> = entries
            .iter()
            .map(|e| e.fields.scope.namespace.as_str())
            .collect();
        let tenants: Vec<&str> = entries.iter().map(|e| e.fields.tenant.as_str()).collect();
        let users: Vec<Option<&str>> = entries
            .iter()
            .map(|e| e.fields.scope.user_id.as_deref())
            .collect();
        let agents: Vec<Option<&str>> = entries
            .iter()
            .map(|e| e.fields.scope.agent_id.as_deref())
            .collect();
        let sessions: Vec<Option<&str>> = entries
            .iter()
            .map(|e| e.fields.scope.session_id.as_deref())
            .collect();
        let metadata: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| serde_json::Value::Object(e.fields.metadata.clone()))
            .collect();
        let expires: Vec<Option<crate::model::Timestamp>> =
            entries.iter().map(|e| e.fields.expires_at).collect();
        let t = &self.table;
        sqlx::query(&format!(
            "INSERT INTO {t} (id, embedding, namespace, user_id, agent_id, session_id, metadata, expires_at, tenant) \
             SELECT * FROM unnest($1::uuid[], $2::vector[], $3::text[], $4::text[], $5::text[], \
                                  $6::text[], $7::jsonb[], $8::timestamptz[], $9::text[]) \
             ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding, tenant = excluded.tenant, \
             namespace = excluded.namespace, user_id = excluded.user_id, \
             agent_id = excluded.agent_id, session_id = excluded.session_id, \
             metadata = excluded.metadata, expires_at = excluded.expires_at"
        ))
        .bind(&ids)
        .bind(&vectors)
        .bind(&namespaces)
        .bind(&users)
        .bind(&agents)
        .bind(&sessions)
        .bind(&metadata)
        .bind(&expires)
        .bind(&tenants)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        sqlx::query(&format!("DELETE FROM {} WHERE id = ANY($1)", self.table))
            .bind(&uuids)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let query = Vector::from(q.vector.clone());
        let exact = q.filter != Filter::default() && self.matching(q).await? <= self.exact_rows;
        let mut qb = QueryBuilder::<Postgres>::new("");
        if exact {
            // Materialized, the matching rows are read through the scope indexes and
            // scored one by one; the HNSW index is not used.
            qb.push(format!(
                "WITH matching AS MATERIALIZED (SELECT id, embedding FROM {} WHERE TRUE",
                self.table
            ));
            push_filter(&mut qb, &q.filter, q.now);
            qb.push(") SELECT id, embedding <=> ")
                .push_bind(query)
                .push(" AS distance FROM matching");
        } else {
            qb.push("SELECT id, embedding <=> ")
                .push_bind(query)
                .push(format!(" AS distance FROM {} WHERE TRUE", self.table));
            push_filter(&mut qb, &q.filter, q.now);
        }
        qb.push(" ORDER BY distance LIMIT ")
            .push_bind(i64::try_from(q.k).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in rows {
            let distance: f64 = row.try_get("distance").map_err(map_err)?;
            let score = (1.0 - distance) as f32;
            if q.min_score.is_some_and(|m| score < m) {
                break;
            }
            hits.push(Hit {
                id: MemoryId(row.try_get("id").map_err(map_err)?),
                score,
            });
        }
        Ok(hits)
    }

    async fn len(&self) -> Result<usize> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", self.table))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn clear(&self) -> Result<()> {
        sqlx::query(&format!("TRUNCATE {}", self.table))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

#[cfg(test)]
mod conformance {
    use super::*;

    async fn make(dimension: usize) -> Option<PgVectorIndex> {
        let url = crate::backend::postgres::testing::fresh_url(BACKEND)?;
        Some(
            PgVectorIndex::connect(&url, &table_name("test", dimension), dimension)
                .await
                .unwrap(),
        )
    }

    crate::index_conformance!(make);

    mod graph_only {
        // Every filtered search through the HNSW index's iterative scan.
        crate::index_conformance!(|dim| async move {
            let mut index = super::make(dim).await?;
            index.exact_rows = -1;
            Some(index)
        });
    }

    #[test]
    fn table_names_are_identifiers() {
        let t = table_name("sentence-transformers/all-MiniLM-L6-v2", 384);
        assert!(t.starts_with("omnex_vectors_sentence_transformers_"), "{t}");
        assert!(t.ends_with("_384"), "{t}");
        assert!(table_name(&"x".repeat(200), 16_000).len() <= 63);
    }
}
