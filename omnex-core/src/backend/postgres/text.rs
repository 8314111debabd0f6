//! Full-text search for PostgreSQL: a `tsvector` of analyzed terms with a GIN index,
//! ranked by BM25 computed in SQL.
//!
//! The tsvector is built from Omnex's own terms (not PostgreSQL's parser), so the same
//! text matches the same way as on SQLite. PostgreSQL's `ts_rank` knows nothing of how
//! rare a term is; BM25 does: the query's terms carry their inverse document frequency
//! (one GIN lookup each) and each candidate's term frequencies come from the tsvector's
//! positions.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::{push_filter, PostgresStore};
use crate::{
    model::{Hit, MemoryId, TextQuery},
    text::Analyzer,
    Error, Result,
};

/// The store-wide setting that records which analyzer made the index.
const ANALYZER_KEY: &str = "text_analyzer";
/// Memories indexed per transaction when (re)building the index.
const REINDEX_BATCH: i64 = 1000;
/// How long the corpus size and mean length are reused before being counted again.
const STATS_TTL: Duration = Duration::from_secs(10);
/// BM25's term-frequency saturation and length normalization.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// A tsvector keeps positions up to 16383, and at most 256 of them per lexeme.
const MAX_POSITION: usize = 16383;
const MAX_POSITIONS_PER_TERM: usize = 256;

/// Corpus statistics for BM25, counted now and then.
#[derive(Clone, Copy, Debug)]
pub(super) struct CorpusStats {
    at: Instant,
    docs: i64,
    mean_len: f64,
}

/// The tsvector literal of a document's terms (`'run':1,4 'fast':2`) and its length.
/// Terms are letters and digits only, so they need no escaping.
pub(super) fn tsvector(analyzer: Analyzer, content: &str) -> (String, i32) {
    let terms = analyzer.terms(content);
    let mut positions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in terms.iter().enumerate() {
        let p = positions.entry(t.as_str()).or_default();
        if p.len() < MAX_POSITIONS_PER_TERM {
            p.push((i + 1).min(MAX_POSITION));
        }
    }
    let mut out = String::with_capacity(content.len() + 16);
    for (term, ps) in positions {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('\'');
        out.push_str(term);
        out.push_str("':");
        let list: Vec<String> = ps.iter().map(usize::to_string).collect();
        out.push_str(&list.join(","));
    }
    (out, i32::try_from(terms.len()).unwrap_or(i32::MAX))
}

impl PostgresStore {
    pub(super) fn analyzer(&self) -> Option<Analyzer> {
        *self.analyzer.read()
    }

    async fn corpus_stats(&self) -> Result<CorpusStats> {
        if let Some(s) = *self.stats.lock() {
            if s.at.elapsed() < STATS_TTL {
                return Ok(s);
            }
        }
        let row = sqlx::query(
            "SELECT count(*) AS docs, coalesce(avg(terms_len), 0)::float8 AS mean_len \
             FROM memories WHERE terms IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        let stats = CorpusStats {
            at: Instant::now(),
            docs: row.try_get("docs").map_err(map_err)?,
            mean_len: row.try_get("mean_len").map_err(map_err)?,
        };
        *self.stats.lock() = Some(stats);
        Ok(stats)
    }

    /// BM25 search: any of the terms, filter inside, best first.
    pub(super) async fn text_search(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        if self.analyzer().is_none() {
            return Err(Error::Unsupported {
                operation: "keyword search (the full-text index is off)",
                backend: "postgres",
            });
        }
        if q.terms.is_empty() || q.k == 0 {
            return Ok(Vec::new());
        }
        let stats = self.corpus_stats().await?;
        let any: String = q
            .terms
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(" | ");
        // idf = ln(1 + (N - df + 0.5) / (df + 0.5)), as in Lucene: never negative.
        let mut qb =
            QueryBuilder::<Postgres>::new("WITH q AS MATERIALIZED (SELECT term, ln(1 + (greatest(");
        qb.push_bind(stats.docs)
            .push("::float8, d.df) - d.df + 0.5) / (d.df + 0.5)) AS idf FROM unnest(")
            .push_bind(&q.terms)
            .push(
                "::text[]) AS term, LATERAL (SELECT count(*)::float8 AS df FROM memories \
                 WHERE terms @@ quote_literal(term)::tsquery) d) \
                 SELECT m.id AS id, sum(q.idf * cardinality(u.positions) * ",
            )
            .push(K1 + 1.0)
            .push(" / (cardinality(u.positions) + ")
            .push(K1)
            .push(" * (")
            .push(1.0 - B)
            .push(" + ")
            .push(B)
            .push(" * m.terms_len / ")
            .push_bind(stats.mean_len.max(1.0))
            .push(
                "::float8)))::float8 AS score FROM memories m \
                 CROSS JOIN LATERAL (SELECT lexeme, positions FROM unnest(m.terms) \
                 WHERE lexeme = ANY(",
            )
            .push_bind(&q.terms)
            .push(
                "::text[])) AS u \
                 JOIN q ON q.term = u.lexeme WHERE m.terms @@ ",
            )
            .push_bind(any)
            .push("::tsquery");
        push_filter(&mut qb, &q.filter, q.now);
        qb.push(" GROUP BY m.id ORDER BY score DESC, m.id LIMIT ")
            .push_bind(i64::try_from(q.k).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").map_err(map_err)?;
                let score: f64 = row.try_get("score").map_err(map_err)?;
                Ok(Hit {
                    id: MemoryId(id),
                    score: score as f32,
                })
            })
            .collect()
    }

    /// Makes `analyzer` the index's analyzer: re-indexes everything when the index was
    /// made with another one, then indexes rows that have no terms yet.
    pub(super) async fn use_analyzer(&self, analyzer: Option<Analyzer>) -> Result<()> {
        *self.analyzer.write() = analyzer;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // One process at a time decides; the others wait and then find it done.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('omnex_text_analyzer'))")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM omnex_meta WHERE key = $1")
                .bind(ANALYZER_KEY)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let name = analyzer.map_or("none", Analyzer::as_str);
        if stored.as_deref() != Some(name) {
            sqlx::query(
                "UPDATE memories SET terms = NULL, terms_len = NULL WHERE terms IS NOT NULL",
            )
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO omnex_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(ANALYZER_KEY)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        let Some(analyzer) = analyzer else {
            return Ok(());
        };
        loop {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            let rows = sqlx::query(
                "SELECT id, content FROM memories WHERE terms IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(REINDEX_BATCH)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            if rows.is_empty() {
                return tx.commit().await.map_err(map_err);
            }
            let mut ids = Vec::with_capacity(rows.len());
            let mut vectors = Vec::with_capacity(rows.len());
            let mut lens = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: Uuid = row.try_get("id").map_err(map_err)?;
                let content: String = row.try_get("content").map_err(map_err)?;
                let (v, n) = tsvector(analyzer, &content);
                ids.push(id);
                vectors.push(v);
                lens.push(n);
            }
            sqlx::query(
                "UPDATE memories m SET terms = u.terms::tsvector, terms_len = u.len \
                 FROM unnest($1::uuid[], $2::text[], $3::int4[]) AS u(id, terms, len) \
                 WHERE m.id = u.id",
            )
            .bind(&ids)
            .bind(&vectors)
            .bind(&lens)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
        }
    }
}

fn map_err(e: sqlx::Error) -> Error {
    super::map_err("postgres", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsvector_literal_has_positions_and_length() {
        let (v, n) = tsvector(Analyzer::Simple, "to be or not to be");
        assert_eq!(v, "'be':2,6 'not':4 'or':3 'to':1,5");
        assert_eq!(n, 6);
        assert_eq!(tsvector(Analyzer::English, "the of"), (String::new(), 0));
    }
}
