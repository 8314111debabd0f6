//! Full-text search for SQLite: an FTS5 index of analyzed terms, ranked by `bm25()`.
//!
//! `memory_text` is a contentless FTS5 table: it keeps the terms' postings and each
//! document's length (what BM25 needs), not the text. Row `doc` of it belongs to the
//! memory whose `doc` column holds that number. Every change to it happens in the
//! transaction that changes the memory.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{map_err, push_filter, SqliteStore};
use crate::{
    model::{to_micros, Hit, MemoryId, TextQuery},
    text::Analyzer,
    Error, Result,
};

/// The store-wide setting that records which analyzer made the index.
const ANALYZER_KEY: &str = "text_analyzer";
/// Memories indexed per transaction when (re)building the index.
const REINDEX_BATCH: i64 = 1000;

/// How long a term's document count is trusted before it is counted again.
const COUNT_TTL: Duration = Duration::from_secs(30);
/// Terms whose counts are remembered at most.
const COUNTS_KEPT: usize = 10_000;

/// Document counts of the index and of recent query terms, each with when it was
/// counted. Keyword search uses them to leave out terms held by at least half of the
/// indexed memories: FTS5's BM25 clamps their weight to 10⁻⁶, so they cannot change
/// a ranking, yet scoring every memory that holds them is most of a search's cost.
/// A count up to [`COUNT_TTL`] old can only move a term that sits at the halfway
/// mark, whose weight is near nil either way.
#[derive(Debug, Default)]
pub(super) struct TermCounts {
    docs: Option<(i64, Instant)>,
    terms: HashMap<String, (i64, Instant)>,
}

/// The next free `doc` number (the caller holds the write lock).
pub(super) async fn next_doc(tx: &mut SqliteConnection) -> Result<i64> {
    sqlx::query_scalar::<_, i64>("SELECT coalesce(max(doc), 0) + 1 FROM memories")
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)
}

/// Indexes `content` as document `doc`.
pub(super) async fn index(
    tx: &mut SqliteConnection,
    analyzer: Analyzer,
    doc: i64,
    content: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO memory_text (rowid, terms) VALUES (?, ?)")
        .bind(doc)
        .bind(analyzer.document(content))
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// Removes document `doc` from the index.
pub(super) async fn unindex(tx: &mut SqliteConnection, doc: i64) -> Result<()> {
    sqlx::query("DELETE FROM memory_text WHERE rowid = ?")
        .bind(doc)
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}

impl SqliteStore {
    pub(super) fn analyzer(&self) -> Option<Analyzer> {
        *self.analyzer.read()
    }

    /// BM25 search: any of the terms, filter inside, best first (equal scores in
    /// the order the memories were indexed).
    pub(super) async fn text_search(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        if self.analyzer().is_none() {
            return Err(Error::Unsupported {
                operation: "keyword search (the full-text index is off)",
                backend: "sqlite",
            });
        }
        if q.terms.is_empty() || q.k == 0 {
            return Ok(Vec::new());
        }
        // Terms hold letters and digits only; quoting makes each a literal token.
        let expr = self
            .weighted_terms(&q.terms)
            .await?
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        // First the best few by BM25 alone (ties by document number), then the filter
        // on those: that is the answer when it fills the page, or when the match
        // had no more than the few. Otherwise the whole match is filtered and ranked.
        let cut = q.k.saturating_mul(4).max(40);
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let mut qb = QueryBuilder::<Sqlite>::new(
            "WITH h AS MATERIALIZED (SELECT rowid AS doc, bm25(memory_text) AS rank_score \
             FROM memory_text WHERE memory_text MATCH ",
        );
        qb.push_bind(expr.clone())
            .push(" ORDER BY rank_score, rowid LIMIT ")
            .push_bind(limit(cut))
            .push(
                ") SELECT m.id AS id, h.rank_score AS rank_score, \
                 (SELECT count(*) FROM h) AS matched FROM h \
                 CROSS JOIN memories m ON m.doc = h.doc WHERE 1",
            );
        push_filter(&mut qb, &q.filter, to_micros(q.now));
        qb.push(" ORDER BY h.rank_score, h.doc LIMIT ")
            .push_bind(limit(q.k));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let answered = rows.len() == q.k
            || match rows.first() {
                Some(row) => {
                    let matched: i64 = row.try_get("matched").map_err(map_err)?;
                    usize::try_from(matched).is_ok_and(|m| m < cut)
                }
                None => false,
            };
        let rows = if answered {
            rows
        } else {
            let mut qb = QueryBuilder::<Sqlite>::new(
                // CROSS JOIN keeps the full-text match as the outer loop: the planner
                // would otherwise walk the memories of the filter and probe the
                // index for each one.
                "SELECT m.id AS id, bm25(memory_text) AS rank_score FROM memory_text \
                 CROSS JOIN memories m ON m.doc = memory_text.rowid WHERE memory_text MATCH ",
            );
            qb.push_bind(expr);
            push_filter(&mut qb, &q.filter, to_micros(q.now));
            qb.push(" ORDER BY rank_score, m.doc LIMIT ")
                .push_bind(limit(q.k));
            qb.build().fetch_all(&self.pool).await.map_err(map_err)?
        };
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").map_err(map_err)?;
                let score: f64 = row.try_get("rank_score").map_err(map_err)?;
                // FTS5's bm25() is negated so that smaller sorts first.
                Ok(Hit {
                    id: MemoryId::parse(&id)?,
                    score: (-score) as f32,
                })
            })
            .collect()
    }

    /// The query terms that carry weight: those held by fewer than half of the
    /// indexed memories, or all of them when none is (see [`TermCounts`]).
    async fn weighted_terms<'t>(&self, terms: &'t [String]) -> Result<Vec<&'t str>> {
        let all = || terms.iter().map(String::as_str).collect();
        if terms.len() < 2 {
            return Ok(all());
        }
        let now = Instant::now();
        let fresh = |at: Instant| now.duration_since(at) < COUNT_TTL;
        let (mut docs, stale) = {
            let counts = self.term_counts.lock();
            let docs = counts.docs.filter(|&(_, at)| fresh(at)).map(|(n, _)| n);
            let stale: Vec<&String> = terms
                .iter()
                .filter(|t| !counts.terms.get(*t).is_some_and(|&(_, at)| fresh(at)))
                .collect();
            (docs, stale)
        };
        if docs.is_none() {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM memories WHERE doc IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
            docs = Some(n);
        }
        let mut counted = Vec::with_capacity(stale.len());
        for term in stale {
            let n: Option<i64> =
                sqlx::query_scalar("SELECT doc FROM memory_text_vocab WHERE term = ?")
                    .bind(term)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
            counted.push((term.clone(), n.unwrap_or(0)));
        }
        let docs = docs.unwrap_or(0);
        let mut counts = self.term_counts.lock();
        if counts.docs.is_none_or(|(_, at)| !fresh(at)) {
            counts.docs = Some((docs, now));
        }
        if counts.terms.len() + counted.len() > COUNTS_KEPT {
            counts.terms.retain(|_, &mut (_, at)| fresh(at));
            if counts.terms.len() + counted.len() > COUNTS_KEPT {
                counts.terms.clear();
            }
        }
        for (term, n) in counted {
            counts.terms.insert(term, (n, now));
        }
        let weighted: Vec<&str> = terms
            .iter()
            .filter(|t| counts.terms.get(*t).is_none_or(|&(n, _)| 2 * n < docs))
            .map(String::as_str)
            .collect();
        Ok(if weighted.is_empty() { all() } else { weighted })
    }

    /// Makes `analyzer` the index's analyzer: re-indexes everything when the index was
    /// made with another one, then indexes memories that have no `doc` yet (written
    /// before the index existed).
    pub(super) async fn use_analyzer(&self, analyzer: Option<Analyzer>) -> Result<()> {
        *self.analyzer.write() = analyzer;
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(ANALYZER_KEY)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let name = analyzer.map_or("none", Analyzer::as_str);
        if stored.as_deref() != Some(name) {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(map_err)?;
            sqlx::query("INSERT INTO memory_text (memory_text) VALUES ('delete-all')")
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("UPDATE memories SET doc = NULL WHERE doc IS NOT NULL")
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
                .bind(ANALYZER_KEY)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
        }
        let Some(analyzer) = analyzer else {
            return Ok(());
        };
        loop {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(map_err)?;
            let rows = sqlx::query("SELECT id, content FROM memories WHERE doc IS NULL LIMIT ?")
                .bind(REINDEX_BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
            if rows.is_empty() {
                return tx.commit().await.map_err(map_err);
            }
            let mut doc = next_doc(&mut tx).await?;
            for row in &rows {
                let id: String = row.try_get("id").map_err(map_err)?;
                let content: String = row.try_get("content").map_err(map_err)?;
                sqlx::query("UPDATE memories SET doc = ? WHERE id = ?")
                    .bind(doc)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                index(&mut tx, analyzer, doc, &content).await?;
                doc += 1;
            }
            tx.commit().await.map_err(map_err)?;
        }
    }
}
