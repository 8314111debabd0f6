//! The mutable state behind `HnswIndex`: graph, slots, tombstones and posting lists.

use std::collections::{HashMap, HashSet};

use anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;

use super::HnswParams;
use crate::{
    backend::exact::brute_force,
    model::{Filter, FilterFields, Hit, IndexEntry, MemoryId, VectorQuery},
    vector::{dot, normalized},
};

/// `1 - dot(a, b)` for unit vectors, never negative.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - dot(va, vb)).max(0.0)
    }
}

struct Slot {
    id: MemoryId,
    vector: Vec<f32>,
    fields: FilterFields,
}

/// Which scope field a posting list is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Namespace,
    User,
    Agent,
    Session,
}

fn scope_terms(fields: &FilterFields) -> impl Iterator<Item = (Field, &str)> {
    let s = &fields.scope;
    [
        Some((Field::Namespace, s.namespace.as_str())),
        s.user_id.as_deref().map(|v| (Field::User, v)),
        s.agent_id.as_deref().map(|v| (Field::Agent, v)),
        s.session_id.as_deref().map(|v| (Field::Session, v)),
    ]
    .into_iter()
    .flatten()
}

fn filter_terms(filter: &Filter) -> Vec<(Field, &str)> {
    [
        filter.namespace.as_deref().map(|v| (Field::Namespace, v)),
        filter.user_id.as_deref().map(|v| (Field::User, v)),
        filter.agent_id.as_deref().map(|v| (Field::Agent, v)),
        filter.session_id.as_deref().map(|v| (Field::Session, v)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub(super) struct State {
    params: HnswParams,
    graph: Hnsw<'static, f32, UnitCosine>,
    slots: Vec<Option<Slot>>,
    by_id: HashMap<MemoryId, usize>,
    postings: HashMap<(Field, String), HashSet<usize>>,
}

fn new_graph(params: &HnswParams, capacity: usize) -> Hnsw<'static, f32, UnitCosine> {
    Hnsw::new(
        params.m,
        capacity.max(1024),
        16,
        params.ef_construction,
        UnitCosine,
    )
}

impl State {
    pub(super) fn new(params: HnswParams) -> Self {
        Self {
            graph: new_graph(&params, 0),
            params,
            slots: Vec::new(),
            by_id: HashMap::new(),
            postings: HashMap::new(),
        }
    }

    pub(super) fn live(&self) -> usize {
        self.by_id.len()
    }

    /// Slots held, live and tombstoned.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.slots.len()
    }

    fn dead(&self) -> usize {
        self.slots.len() - self.by_id.len()
    }

    pub(super) fn clear(&mut self) {
        *self = Self::new(self.params);
    }

    fn remove(&mut self, id: &MemoryId) {
        if let Some(slot_no) = self.by_id.remove(id) {
            if let Some(slot) = self.slots[slot_no].take() {
                for (f, v) in scope_terms(&slot.fields) {
                    if let Some(set) = self.postings.get_mut(&(f, v.to_owned())) {
                        set.remove(&slot_no);
                        if set.is_empty() {
                            self.postings.remove(&(f, v.to_owned()));
                        }
                    }
                }
            }
        }
    }

    pub(super) fn upsert(&mut self, entries: Vec<IndexEntry>) {
        let mut fresh = Vec::with_capacity(entries.len());
        for e in entries {
            let vector = normalized(&e.vector);
            if let Some(slot) = self.by_id.get(&e.id).and_then(|&n| self.slots[n].as_ref()) {
                if slot.vector == vector && slot.fields == e.fields {
                    continue; // unchanged: nothing to do
                }
            }
            self.remove(&e.id);
            let slot_no = self.slots.len();
            for (f, v) in scope_terms(&e.fields) {
                self.postings
                    .entry((f, v.to_owned()))
                    .or_default()
                    .insert(slot_no);
            }
            self.by_id.insert(e.id, slot_no);
            self.slots.push(Some(Slot {
                id: e.id,
                vector,
                fields: e.fields,
            }));
            fresh.push(slot_no);
        }
        if self.dead() > 1024 && self.dead() > self.live() {
            self.compact();
        } else {
            self.insert_into_graph(&fresh);
        }
    }

    pub(super) fn delete(&mut self, ids: &[MemoryId]) {
        for id in ids {
            self.remove(id);
        }
        if self.dead() > 1024 && self.dead() > self.live() {
            self.compact();
        }
    }

    fn insert_into_graph(&self, slot_nos: &[usize]) {
        let data: Vec<(&Vec<f32>, usize)> = slot_nos
            .iter()
            .filter_map(|&n| self.slots[n].as_ref().map(|s| (&s.vector, n)))
            .collect();
        if data.len() >= 64 {
            self.graph.parallel_insert(&data);
        } else {
            for (v, n) in data {
                self.graph.insert((v.as_slice(), n));
            }
        }
    }

    /// Rebuilds the graph from live slots only, reclaiming tombstones.
    fn compact(&mut self) {
        let live: Vec<Slot> = self.slots.drain(..).flatten().collect();
        self.by_id.clear();
        self.postings.clear();
        self.graph = new_graph(&self.params, live.len());
        let entries = live
            .into_iter()
            .map(|s| IndexEntry {
                id: s.id,
                vector: s.vector,
                fields: s.fields,
                text: String::new(),
            })
            .collect();
        self.upsert(entries);
    }

    /// Slots that may match the scope part of `filter`, or `None` for "all".
    /// The posting lists a filter's scope terms select, smallest first; `None` when
    /// the filter has no scope terms. Nothing is materialized: a query only pays for
    /// an intersection when it is searched exactly.
    fn narrow(&self, filter: &Filter) -> Option<Vec<&HashSet<usize>>> {
        let terms = filter_terms(filter);
        if terms.is_empty() {
            return None;
        }
        let mut sets = Vec::with_capacity(terms.len());
        for (f, v) in terms {
            match self.postings.get(&(f, v.to_owned())) {
                Some(set) => sets.push(set),
                None => return Some(Vec::new()),
            }
        }
        sets.sort_by_key(|s| s.len());
        Some(sets)
    }

    fn exact_over(&self, q: &VectorQuery, slot_nos: impl Iterator<Item = usize>) -> Vec<Hit> {
        brute_force(
            q,
            slot_nos.filter_map(|n| {
                self.slots[n]
                    .as_ref()
                    .map(|s| (s.id, s.vector.as_slice(), &s.fields))
            }),
        )
    }

    pub(super) fn search(&self, q: &VectorQuery) -> Vec<Hit> {
        let live = self.by_id.len();
        if q.k == 0 || live == 0 {
            return Vec::new();
        }
        let q = VectorQuery {
            vector: normalized(&q.vector),
            ..q.clone()
        };
        let narrowed = self.narrow(&q.filter);
        // At most this many entries pass the scope terms (the smallest posting list).
        let matching = narrowed
            .as_ref()
            .map_or(live, |sets| sets.first().map_or(0, |s| s.len()));
        if matching <= self.params.exact_threshold.max(q.k) {
            return self.exact_within(&q, narrowed.as_deref());
        }
        // hnsw_rs's own filtered search never stops early (it walks the whole graph),
        // so search unfiltered, wide enough for the filter's selectivity and the
        // tombstones, then filter; widen until k pass, else search exactly.
        let unfiltered = q.filter == Filter::default();
        // Expected share of graph hits that pass, with headroom when a filter applies.
        let spread =
            self.slots.len() as f64 / matching.max(1) as f64 * if unfiltered { 1.0 } else { 2.0 };
        let mut fetch = (self.params.ef_search.max(q.k) as f64 * spread) as usize;
        loop {
            if fetch >= self.slots.len() {
                break;
            }
            let found = self.graph.search(&q.vector, fetch, fetch);
            let mut hits: Vec<Hit> = found
                .iter()
                .filter_map(|n| self.slots.get(n.d_id).and_then(Option::as_ref))
                .filter(|s| q.filter.matches(&s.fields, q.now))
                .map(|s| Hit {
                    id: s.id,
                    score: dot(&q.vector, &s.vector),
                })
                .collect();
            if hits.len() >= q.k {
                hits.sort_by(|a, b| b.score.total_cmp(&a.score));
                hits.truncate(q.k);
                if let Some(min) = q.min_score {
                    hits.retain(|h| h.score >= min);
                }
                return hits;
            }
            fetch *= 4;
        }
        self.exact_within(&q, narrowed.as_deref())
    }

    /// Exact search over the candidate slots, or over every slot when there are none.
    fn exact_within(&self, q: &VectorQuery, narrowed: Option<&[&HashSet<usize>]>) -> Vec<Hit> {
        match narrowed {
            None => self.exact_over(q, 0..self.slots.len()),
            Some([]) => Vec::new(),
            Some([first, rest @ ..]) => self.exact_over(
                q,
                first
                    .iter()
                    .copied()
                    .filter(|n| rest.iter().all(|s| s.contains(n))),
            ),
        }
    }
}
