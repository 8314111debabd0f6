//! Search: a semantic leg (query vector → index), a keyword leg (query terms → the
//! store's full-text index), reciprocal-rank fusion of the two, then the optional
//! ranking signals (recency, boost) and the memories from the store.

use std::collections::HashMap;

use super::Omnex;
use crate::{
    model::{
        now, Explanation, Hit, LegRank, Memory, MemoryId, Permission, SearchHit, SearchMode,
        SearchRequest, TextQuery, Timestamp, VectorQuery,
    },
    validate, Error, Result,
};

/// How many candidates each leg contributes when legs are fused or signals re-rank:
/// deeper than the answer, so a memory ranked low by one leg can still win.
fn candidate_depth(k: usize) -> usize {
    (k * 3).max(50)
}

/// A validated search, ready to run.
struct Plan {
    mode: SearchMode,
    k: usize,
    rrf_k: f32,
    semantic_weight: f32,
    keyword_weight: f32,
    half_life_secs: Option<f64>,
    rerank: bool,
}

/// The ranking signals of a request, applied to a base score.
struct Signals<'a> {
    now: Timestamp,
    half_life_secs: Option<f64>,
    boost_field: Option<&'a str>,
}

impl Signals<'_> {
    /// The recency and boost factors for `memory` (`None` when that signal is off).
    fn factors(&self, memory: &Memory) -> (Option<f32>, Option<f32>) {
        let recency = self.half_life_secs.map(|h| {
            let age = (self.now - memory.updated_at).num_milliseconds().max(0) as f64 / 1000.0;
            0.5f64.powf(age / h) as f32
        });
        let boost = self.boost_field.map(|field| {
            let v = memory
                .metadata
                .get(field)
                .and_then(serde_json::Value::as_f64)
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            (1.0 + v.max(0.0)) as f32
        });
        (recency, boost)
    }
}

impl Omnex {
    /// Searches memories by meaning, by words, or both (see [`SearchRequest`]), best first.
    pub async fn search(&self, mut req: SearchRequest) -> Result<Vec<SearchHit>> {
        self.require(Permission::Read).await?;
        let plan = self.plan(&req)?;
        self.denied_if(self.principal.confine(&mut req.filter))
            .await?;
        let depth = if plan.mode == SearchMode::Hybrid || plan.rerank {
            candidate_depth(plan.k)
        } else {
            plan.k
        };
        let at = now();
        let want_semantic = plan.mode != SearchMode::Keyword;
        let want_keyword = plan.mode != SearchMode::Semantic;
        // Plain semantic search keeps the index's own min_score cut (it fills k with
        // hits above it); otherwise the cut applies to the final score.
        let index_min = (plan.mode == SearchMode::Semantic && !plan.rerank)
            .then_some(req.min_score)
            .flatten();
        let (semantic, keyword) = tokio::join!(
            async {
                if want_semantic {
                    self.semantic_leg(&req, depth, index_min, at).await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                if want_keyword {
                    self.keyword_leg(&req, depth, at).await
                } else {
                    Ok(Vec::new())
                }
            }
        );
        let (semantic, keyword) = (semantic?, keyword?);

        // Base scores: the leg's own score, or the fused one.
        let mut ranked: Vec<(MemoryId, f32, Explanation)> = match plan.mode {
            SearchMode::Semantic => leg_only(&semantic, |e, r| e.semantic = Some(r)),
            SearchMode::Keyword => leg_only(&keyword, |e, r| e.keyword = Some(r)),
            SearchMode::Hybrid => fuse(&plan, &semantic, &keyword),
        };
        sort_ranked(&mut ranked);
        if !plan.rerank {
            ranked.truncate(plan.k);
        }

        let ids: Vec<MemoryId> = ranked.iter().map(|r| r.0).collect();
        let mut memories: HashMap<MemoryId, Memory> = self
            .inner
            .store
            .get_memories(&ids)
            .await?
            .into_iter()
            // Every leg filters by tenant already; this keeps it so if one did not.
            .filter(|m| self.principal.owns(&m.tenant, &m.scope.namespace))
            .map(|m| (m.id, m))
            .collect();
        let signals = Signals {
            now: at,
            half_life_secs: plan.half_life_secs,
            boost_field: req.boost_field.as_deref(),
        };
        let mut hits: Vec<SearchHit> = ranked
            .into_iter()
            .filter_map(|(id, base, mut explanation)| {
                let mut memory = memories.remove(&id)?;
                let (recency, boost) = signals.factors(&memory);
                let score = base * recency.unwrap_or(1.0) * boost.unwrap_or(1.0);
                if req.min_score.is_some_and(|m| score < m) {
                    return None;
                }
                if !req.include_embedding {
                    memory.drop_embedding();
                }
                explanation.base_score = base;
                explanation.recency = recency;
                explanation.boost = boost;
                Some(SearchHit {
                    memory,
                    score,
                    explain: req.explain.then_some(explanation),
                })
            })
            .collect();
        if plan.rerank {
            hits.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| a.memory.id.cmp(&b.memory.id))
            });
            hits.truncate(plan.k);
        }
        Ok(hits)
    }

    /// Checks the request and decides the mode.
    fn plan(&self, req: &SearchRequest) -> Result<Plan> {
        let k = validate::search_limit(req.limit)?;
        validate::filter(&req.filter)?;
        validate::search_query(
            req.query.as_deref(),
            req.vector.as_deref(),
            self.dimension(),
        )?;
        let has_query = req.query.is_some();
        let can_embed = req.vector.is_some() || (has_query && self.inner.embedder.is_some());
        // Without a full-text index (turned off, or a store without one) a default
        // search is semantic, so scores stay cosine similarities.
        let has_text_index = self.has_keyword_search();
        let mode = match req.mode {
            Some(mode) => mode,
            None if has_query && can_embed && has_text_index => SearchMode::Hybrid,
            None if has_query && can_embed => SearchMode::Semantic,
            None if has_query => SearchMode::Keyword,
            None => SearchMode::Semantic,
        };
        match mode {
            SearchMode::Keyword | SearchMode::Hybrid if !has_query => {
                return Err(Error::invalid_input(
                    "query",
                    format!("{mode} search needs a query text"),
                ));
            }
            SearchMode::Semantic | SearchMode::Hybrid if !can_embed => {
                return Err(Error::invalid_input(
                    "mode",
                    format!(
                        "{mode} search needs an embedder or a query vector; none is configured, \
                         so give `vector` or use mode \"keyword\""
                    ),
                ));
            }
            _ => {}
        }
        validate::min_score(mode, req.min_score)?;
        let half_life_secs = req
            .recency_half_life
            .as_deref()
            .map(validate::half_life)
            .transpose()?
            .map(|d| d.as_secs_f64());
        if let Some(field) = &req.boost_field {
            validate::boost_field(field)?;
        }
        Ok(Plan {
            mode,
            k,
            rrf_k: validate::rrf_k(req.rrf_k)?,
            semantic_weight: validate::leg_weight("semantic_weight", req.semantic_weight)?,
            keyword_weight: validate::leg_weight("keyword_weight", req.keyword_weight)?,
            half_life_secs,
            rerank: half_life_secs.is_some() || req.boost_field.is_some(),
        })
    }

    /// The `depth` nearest memories to the query vector (the caller's, or the query's embedding).
    async fn semantic_leg(
        &self,
        req: &SearchRequest,
        depth: usize,
        min_score: Option<f32>,
        at: Timestamp,
    ) -> Result<Vec<Hit>> {
        let vector = match &req.vector {
            Some(v) => v.clone(),
            // Validated by `plan`: without a vector there is a query text and an embedder.
            None => self
                .embed_texts(&[req.query.clone().unwrap_or_default()])
                .await?
                .pop()
                .ok_or_else(|| Error::internal("embedder", "returned no vector"))?,
        };
        if !self.inner.index.capabilities().shared {
            // A local index follows other processes' writes before answering. A shared
            // index already has them: each writer updates it, and the background sync
            // repairs what failed.
            self.sync_index().await?;
        }
        let query = VectorQuery {
            vector,
            k: depth,
            filter: req.filter.clone(),
            min_score,
            now: at,
        };
        let mut hits = self.inner.index.search(&query).await?;
        for h in &mut hits {
            // Rounding can put the dot product of unit vectors a hair past 1.
            h.score = h.score.clamp(-1.0, 1.0);
        }
        Ok(hits)
    }

    /// The `depth` best memories by BM25 for the query's terms, from the store.
    async fn keyword_leg(
        &self,
        req: &SearchRequest,
        depth: usize,
        at: Timestamp,
    ) -> Result<Vec<Hit>> {
        let store = &self.inner.store;
        let analyzer = store.text_analyzer().ok_or(Error::Unsupported {
            operation: "keyword search (the full-text index is off)",
            backend: store.name(),
        })?;
        let terms = analyzer.query_terms(req.query.as_deref().unwrap_or_default());
        if terms.is_empty() {
            // Only stop words or punctuation: nothing to match by words.
            return Ok(Vec::new());
        }
        let query = TextQuery {
            terms,
            k: depth,
            filter: req.filter.clone(),
            now: at,
        };
        // An index that searches by words (Qdrant) answers next to its vectors;
        // otherwise the store's full-text index does.
        if self.inner.index.capabilities().keyword {
            self.inner.index.search_text(&query).await
        } else {
            store.search_text(&query).await
        }
    }
}

/// One leg's hits with their own scores.
fn leg_only(
    hits: &[Hit],
    mark: impl Fn(&mut Explanation, LegRank),
) -> Vec<(MemoryId, f32, Explanation)> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| {
            let mut e = Explanation::default();
            mark(
                &mut e,
                LegRank {
                    rank: i + 1,
                    score: h.score,
                },
            );
            (h.id, h.score, e)
        })
        .collect()
}

/// Reciprocal-rank fusion: each leg adds `weight / (rrf_k + rank)`; the sum is scaled
/// so that first place in every leg scores 1.
fn fuse(plan: &Plan, semantic: &[Hit], keyword: &[Hit]) -> Vec<(MemoryId, f32, Explanation)> {
    let mut fused: HashMap<MemoryId, (f32, Explanation)> = HashMap::new();
    let legs = [
        (semantic, plan.semantic_weight, true),
        (keyword, plan.keyword_weight, false),
    ];
    for (hits, weight, is_semantic) in legs {
        for (i, h) in hits.iter().enumerate() {
            let rank = i + 1;
            let entry = fused.entry(h.id).or_default();
            entry.0 += weight / (plan.rrf_k + rank as f32);
            let place = Some(LegRank {
                rank,
                score: h.score,
            });
            if is_semantic {
                entry.1.semantic = place;
            } else {
                entry.1.keyword = place;
            }
        }
    }
    let best = (plan.semantic_weight + plan.keyword_weight) / (plan.rrf_k + 1.0);
    fused
        .into_iter()
        .map(|(id, (score, e))| {
            let scaled = if best > 0.0 { score / best } else { 0.0 };
            (id, scaled.min(1.0), e)
        })
        .collect()
}

/// Best first; ties by id, so equal scores come back in a stable order.
fn sort_ranked(ranked: &mut [(MemoryId, f32, Explanation)]) {
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rrf_k: f32, sw: f32, kw: f32) -> Plan {
        Plan {
            mode: SearchMode::Hybrid,
            k: 10,
            rrf_k,
            semantic_weight: sw,
            keyword_weight: kw,
            half_life_secs: None,
            rerank: false,
        }
    }

    fn hits(ids: &[MemoryId]) -> Vec<Hit> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Hit {
                id: *id,
                score: 1.0 - i as f32 / 10.0,
            })
            .collect()
    }

    #[test]
    fn fusion_rewards_agreement_and_scales_to_one() {
        let [a, b, c] = [MemoryId::new(), MemoryId::new(), MemoryId::new()];
        let mut ranked = fuse(&plan(60.0, 1.0, 1.0), &hits(&[a, b]), &hits(&[a, c]));
        sort_ranked(&mut ranked);
        assert_eq!(ranked[0].0, a);
        assert!((ranked[0].1 - 1.0).abs() < 1e-6);
        assert_eq!(ranked[0].2.semantic.unwrap().rank, 1);
        assert_eq!(ranked[0].2.keyword.unwrap().rank, 1);
        // b and c each hold second place in one leg: equal scores, below a.
        assert!((ranked[1].1 - ranked[2].1).abs() < 1e-6);
        assert!(ranked[1].1 < 0.6);
    }

    #[test]
    fn weights_tilt_the_fusion() {
        let [a, b] = [MemoryId::new(), MemoryId::new()];
        let mut ranked = fuse(&plan(60.0, 0.0, 1.0), &hits(&[a]), &hits(&[b]));
        sort_ranked(&mut ranked);
        assert_eq!(ranked[0].0, b);
        assert_eq!(ranked[1].1, 0.0);
    }
}
