//! The mutable state behind `HnswIndex`: the graph, which memory each node holds,
//! posting lists on the scope fields, and the change-log position it reflects.

use std::collections::{HashMap, HashSet};

use omnex_ann::{Graph, Shape};

use super::HnswParams;
use crate::{
    backend::exact::brute_force,
    model::{Filter, FilterFields, Hit, IndexEntry, MemoryId, VectorQuery},
    vector::normalized,
};

/// What a live node holds besides its vector.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Meta {
    pub(super) id: MemoryId,
    pub(super) fields: FilterFields,
}

/// Which scope field a posting list is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Tenant,
    Namespace,
    User,
    Agent,
    Session,
}

fn scope_terms(fields: &FilterFields) -> impl Iterator<Item = (Field, &str)> {
    let s = &fields.scope;
    [
        Some((Field::Tenant, fields.tenant.as_str())),
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
        Some((Field::Tenant, filter.tenant.as_str())),
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
    pub(super) params: HnswParams,
    pub(super) graph: Graph,
    /// Per node: the memory it holds, `None` once removed.
    pub(super) meta: Vec<Option<Meta>>,
    /// Per node: whether it has an expiry (searches must look at its fields).
    expiring: Vec<bool>,
    /// Live nodes with an expiry.
    expiring_live: usize,
    by_id: HashMap<MemoryId, u32>,
    postings: HashMap<(Field, String), HashSet<u32>>,
    /// The store's change-log position this state reflects (0 when unknown).
    pub(super) applied: i64,
    /// The position of the last snapshot written or read.
    pub(super) saved: i64,
}

impl State {
    pub(super) fn new(params: HnswParams, dim: usize) -> Self {
        Self::from_parts(
            params,
            Graph::new(Shape {
                dim,
                m: params.m,
                ef_construction: params.ef_construction,
            }),
            Vec::new(),
        )
    }

    /// A state around a graph and its nodes' memories (a loaded snapshot).
    pub(super) fn from_parts(params: HnswParams, graph: Graph, meta: Vec<Option<Meta>>) -> Self {
        let mut state = Self {
            params,
            graph,
            meta: Vec::new(),
            expiring: Vec::new(),
            expiring_live: 0,
            by_id: HashMap::with_capacity(meta.len()),
            postings: HashMap::new(),
            applied: 0,
            saved: 0,
        };
        for (node, m) in meta.iter().enumerate() {
            if let Some(m) = m {
                state.index_meta(node as u32, m);
            }
        }
        state.meta = meta;
        let n = state.graph.len();
        state.expiring.resize(n, false);
        state
    }

    pub(super) fn live(&self) -> usize {
        self.by_id.len()
    }

    /// Nodes held, live and removed.
    pub(super) fn allocated(&self) -> usize {
        self.graph.len()
    }

    fn dead(&self) -> usize {
        self.allocated() - self.live()
    }

    pub(super) fn clear(&mut self) {
        *self = Self::new(self.params, self.graph.shape.dim);
    }

    fn index_meta(&mut self, node: u32, m: &Meta) {
        if self.expiring.len() <= node as usize {
            self.expiring.resize(node as usize + 1, false);
        }
        self.expiring[node as usize] = m.fields.expires_at.is_some();
        self.expiring_live += usize::from(m.fields.expires_at.is_some());
        for (f, v) in scope_terms(&m.fields) {
            self.postings
                .entry((f, v.to_owned()))
                .or_default()
                .insert(node);
        }
        self.by_id.insert(m.id, node);
    }

    fn remove(&mut self, id: &MemoryId) {
        let Some(node) = self.by_id.remove(id) else {
            return;
        };
        if let Some(m) = self.meta[node as usize].take() {
            self.expiring_live -= usize::from(m.fields.expires_at.is_some());
            for (f, v) in scope_terms(&m.fields) {
                let key = (f, v.to_owned());
                if let Some(set) = self.postings.get_mut(&key) {
                    set.remove(&node);
                    if set.is_empty() {
                        self.postings.remove(&key);
                    }
                }
            }
        }
        self.graph.remove(node);
    }

    pub(super) fn upsert(&mut self, entries: Vec<IndexEntry>, threads: usize) {
        let mut fresh: Vec<(Vec<f32>, Meta)> = Vec::with_capacity(entries.len());
        let mut pending: HashMap<MemoryId, usize> = HashMap::new();
        for e in entries {
            let vector = normalized(&e.vector);
            if let Some(&node) = self.by_id.get(&e.id) {
                let same = self.meta[node as usize]
                    .as_ref()
                    .is_some_and(|m| m.fields == e.fields)
                    && self.graph.vector(node) == vector.as_slice();
                if same {
                    continue; // unchanged: nothing to do
                }
            }
            self.remove(&e.id);
            let meta = Meta {
                id: e.id,
                fields: e.fields,
            };
            // The same id twice in one call: the last one wins.
            match pending.get(&e.id) {
                Some(&at) => fresh[at] = (vector, meta),
                None => {
                    pending.insert(e.id, fresh.len());
                    fresh.push((vector, meta));
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let vectors: Vec<&[f32]> = fresh.iter().map(|(v, _)| v.as_slice()).collect();
        let nodes = self.graph.insert(&vectors, threads);
        for (node, (_, meta)) in nodes.into_iter().zip(fresh) {
            if self.meta.len() <= node as usize {
                self.meta.resize(node as usize + 1, None);
            }
            self.index_meta(node, &meta);
            self.meta[node as usize] = Some(meta);
        }
    }

    pub(super) fn delete(&mut self, ids: &[MemoryId], threads: usize) {
        for id in ids {
            self.remove(id);
        }
        // Deletes without inserts to reuse their nodes: rebuild once the removed
        // outnumber the live, so memory stays bounded.
        if self.dead() > 1024 && self.dead() > self.live() {
            self.compact(threads);
        }
    }

    /// Rebuilds the graph from live nodes only.
    fn compact(&mut self, threads: usize) {
        let entries: Vec<IndexEntry> = self
            .meta
            .iter()
            .enumerate()
            .filter_map(|(node, m)| {
                m.as_ref().map(|m| IndexEntry {
                    id: m.id,
                    vector: self.graph.vector(node as u32).to_vec(),
                    fields: m.fields.clone(),
                    text: String::new(),
                })
            })
            .collect();
        let applied = self.applied;
        self.clear();
        self.applied = applied;
        self.upsert(entries, threads);
    }

    /// The posting lists a filter's scope terms select, smallest first (the tenant is
    /// always one of them).
    fn narrow(&self, filter: &Filter) -> Option<Vec<&HashSet<u32>>> {
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

    fn exact_over(&self, q: &VectorQuery, nodes: impl Iterator<Item = u32>) -> Vec<Hit> {
        brute_force(
            q,
            nodes.filter_map(|n| {
                self.meta[n as usize]
                    .as_ref()
                    .map(|m| (m.id, self.graph.vector(n), &m.fields))
            }),
        )
    }

    pub(super) fn search(&self, q: &VectorQuery, ef: usize) -> Vec<Hit> {
        let live = self.live();
        let live_count = live;
        if q.k == 0 || live == 0 {
            return Vec::new();
        }
        let vector = normalized(&q.vector);
        let narrowed = self.narrow(&q.filter);
        // At most this many entries pass the scope terms (the smallest posting list).
        let matching = narrowed
            .as_ref()
            .map_or(live, |sets| sets.first().map_or(0, |s| s.len()));
        let exact = || {
            let q = VectorQuery {
                vector: vector.clone(),
                ..q.clone()
            };
            self.exact_within(&q, narrowed.as_deref())
        };
        if matching <= self.params.exact_threshold.max(q.k) {
            return exact();
        }
        // The filter (and expiry) is applied inside the walk: nodes that fail it
        // still route. Without a filter, only nodes that expire need their fields.
        let matches = |n: u32| {
            self.meta[n as usize]
                .as_ref()
                .is_some_and(|m| q.filter.matches(&m.fields, q.now))
        };
        let live = |n: u32| !self.graph.removed[n as usize] && !self.expiring[n as usize];
        let ef = ef.max(q.k);
        // Only the tenant, and every live node is the tenant's: no filter to apply.
        let whole_tenant = matching == live_count
            && q.filter
                == Filter {
                    tenant: q.filter.tenant.clone(),
                    ..Filter::default()
                };
        let found = if !whole_tenant {
            self.graph.search(&vector, q.k, ef, matches)
        } else if self.graph.free.is_empty() && self.expiring_live == 0 {
            // Every node is live and never expires: nothing to check.
            self.graph.search(&vector, q.k, ef, |_| true)
        } else {
            self.graph
                .search(&vector, q.k, ef, |n| live(n) || matches(n))
        };
        if found.len() < q.k.min(matching) {
            // The walk ran out of reachable matches: answer exactly instead.
            return exact();
        }
        found
            .into_iter()
            .filter(|n| q.min_score.is_none_or(|min| n.sim >= min))
            .filter_map(|n| {
                self.meta[n.node as usize].as_ref().map(|m| Hit {
                    id: m.id,
                    score: n.sim,
                })
            })
            .collect()
    }

    /// Exact search over the candidate nodes, or over every node when there are none.
    fn exact_within(&self, q: &VectorQuery, narrowed: Option<&[&HashSet<u32>]>) -> Vec<Hit> {
        match narrowed {
            None => self.exact_over(q, 0..self.allocated() as u32),
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
