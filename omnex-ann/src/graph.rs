//! The HNSW graph (Malkov & Yashunin) over contiguous storage: one flat array of
//! node blocks (layer-0 links, then the unit vector), a visited set stamped per
//! search, SIMD dot products with prefetch. Nodes are slots numbered from 0; a
//! removed node stays in the graph as a route (never a result) until its slot is
//! reused by an insert, which first unlinks it from its neighbours.

use std::{cell::RefCell, cmp::Ordering, collections::BinaryHeap};

use crate::simd::{dot, prefetch};

/// "No node" in `entry`.
const NONE: u32 = u32::MAX;
/// Levels above this are never drawn (the chance is below 16^-15).
const MAX_LEVEL: u8 = 15;
/// The most upper-layer neighbours a node may keep (64 on layer 0).
pub const MAX_M: usize = 32;

/// A node and its similarity to the query (higher is closer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Near {
    pub sim: f32,
    pub node: u32,
}

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim
            .total_cmp(&other.sim)
            .then_with(|| other.node.cmp(&self.node))
    }
}

/// Per-thread search scratch: the visited stamps and both heaps, reused.
#[derive(Default)]
struct Scratch {
    stamps: Vec<u16>,
    stamp: u16,
    candidates: BinaryHeap<Near>,
    results: BinaryHeap<std::cmp::Reverse<Near>>,
}

impl Scratch {
    /// Starts a search over `n` nodes: every node unvisited.
    fn begin(&mut self, n: usize) {
        if self.stamps.len() < n {
            self.stamps.resize(n, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.stamps.fill(0);
            self.stamp = 1;
        }
        self.candidates.clear();
        self.results.clear();
    }
    /// Marks `node` visited; false if it already was.
    #[inline]
    fn visit(&mut self, node: u32) -> bool {
        let s = &mut self.stamps[node as usize];
        if *s == self.stamp {
            false
        } else {
            *s = self.stamp;
            true
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The graph's shape parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub dim: usize,
    /// Neighbours per node on upper layers; twice as many on layer 0.
    pub m: usize,
    pub ef_construction: usize,
}

/// The graph. Public fields are read by the file codec.
pub struct Graph {
    pub shape: Shape,
    /// One block per node, as in hnswlib: its layer-0 list (the count, then `2m`
    /// slots), then its vector's `dim` floats as bits. Scoring a node brings the
    /// start of its list into cache for when it is expanded.
    pub blocks: Vec<u32>,
    /// Per node, `level * (1 + m)`: layers 1..=level, each a count and its neighbours.
    pub upper: Vec<Box<[u32]>>,
    pub levels: Vec<u8>,
    /// Removed nodes: routes, never results, reused by inserts.
    pub removed: Vec<bool>,
    pub free: Vec<u32>,
    pub entry: u32,
    pub rng: u64,
}

impl Graph {
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            blocks: Vec::new(),
            upper: Vec::new(),
            levels: Vec::new(),
            removed: Vec::new(),
            free: Vec::new(),
            entry: NONE,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Whether the graph holds no node at all.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Nodes held, live and removed.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Bytes held by vectors and links.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * 4
            + self.upper.iter().map(|u| u.len() * 4 + 16).sum::<usize>()
            + self.levels.len() * 2
            + self.free.len() * 4
    }

    fn m0(&self) -> usize {
        2 * self.shape.m
    }

    /// Words per node block.
    #[inline]
    pub fn stride(&self) -> usize {
        1 + self.m0() + self.shape.dim
    }

    #[inline]
    pub fn vector(&self, node: u32) -> &[f32] {
        let w = self.stride();
        let start = node as usize * w + 1 + self.m0();
        bytemuck::cast_slice(&self.blocks[start..start + self.shape.dim])
    }

    /// The neighbours of `node` on `layer`.
    #[inline]
    fn links(&self, node: u32, layer: usize) -> &[u32] {
        let list = self.list(node, layer);
        &list[1..1 + list[0] as usize]
    }

    fn links_mut(&mut self, node: u32, layer: usize) -> &mut [u32] {
        if layer == 0 {
            let (w, m0) = (self.stride(), self.m0());
            &mut self.blocks[node as usize * w..node as usize * w + 1 + m0]
        } else {
            let w = self.shape.m + 1;
            &mut self.upper[node as usize][(layer - 1) * w..layer * w]
        }
    }

    fn top(&self) -> usize {
        if self.entry == NONE {
            0
        } else {
            self.levels[self.entry as usize] as usize
        }
    }

    fn random_level(&mut self) -> u8 {
        // xorshift64*: quality is ample for drawing levels.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        let u = (bits as f64 + 0.5) / (1u64 << 53) as f64;
        let level = -u.ln() / (self.shape.m.max(2) as f64).ln();
        (level as u8).min(MAX_LEVEL)
    }

    /// Greedy walk down the upper layers from the entry to layer `down_to`.
    fn descend(&self, q: &[f32], down_to: usize) -> Near {
        let mut cur = Near {
            sim: dot(q, self.vector(self.entry)),
            node: self.entry,
        };
        for layer in (down_to.max(1)..=self.top()).rev() {
            loop {
                let mut moved = false;
                for &n in self.links(cur.node, layer) {
                    prefetch(self.vector(n), 1);
                }
                for &n in self.links(cur.node, layer) {
                    // A reused node may have lost this layer; links to it are stale.
                    if (self.levels[n as usize] as usize) < layer {
                        continue;
                    }
                    let sim = dot(q, self.vector(n));
                    if sim > cur.sim {
                        cur = Near { sim, node: n };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        cur
    }

    /// Best-first search of one layer from `start`, keeping the `ef` best nodes that
    /// `accept` admits (others are walked through but not kept). Best first.
    fn search_layer(
        &self,
        q: &[f32],
        start: Near,
        ef: usize,
        layer: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Near> {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            s.begin(self.len());
            s.visit(start.node);
            s.candidates.push(start);
            if accept(start.node) {
                s.results.push(std::cmp::Reverse(start));
            }
            let mut fresh = [0u32; 64];
            while let Some(c) = s.candidates.pop() {
                if s.results.len() >= ef && c.sim < s.results.peek().map_or(f32::MIN, |r| r.0.sim) {
                    break;
                }
                let mut count = 0;
                for &n in self.links(c.node, layer) {
                    if (layer == 0 || self.levels[n as usize] as usize >= layer) && s.visit(n) {
                        prefetch(self.vector(n), 1);
                        fresh[count] = n;
                        count += 1;
                    }
                }
                for (i, &n) in fresh[..count].iter().enumerate() {
                    // The whole next vector is loaded while this one is scored.
                    if i + 1 < count {
                        prefetch(self.vector(fresh[i + 1]), usize::MAX);
                    }
                    let sim = dot(q, self.vector(n));
                    let full = s.results.len() >= ef;
                    let worst = s.results.peek().map_or(f32::MIN, |r| r.0.sim);
                    if !full || sim > worst {
                        let near = Near { sim, node: n };
                        s.candidates.push(near);
                        if accept(n) {
                            s.results.push(std::cmp::Reverse(near));
                            if s.results.len() > ef {
                                s.results.pop();
                            }
                        }
                    }
                }
            }
            let mut out: Vec<Near> = s.results.drain().map(|r| r.0).collect();
            out.sort_unstable_by(|a, b| b.cmp(a));
            out
        })
    }

    /// The `k` best nodes `accept` admits, exploring `ef` candidates on layer 0.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Near> {
        if self.entry == NONE || k == 0 {
            return Vec::new();
        }
        let start = self.descend(q, 1);
        let mut found = self.search_layer(q, start, ef.max(k), 0, accept);
        found.truncate(k);
        found
    }

    /// Keeps at most `max` of `candidates` (best first): a candidate is kept only if
    /// it is closer to the base than to every neighbour kept before it, so links
    /// spread in all directions instead of clustering.
    fn select(&self, candidates: &[Near], max: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(max);
        for c in candidates {
            if kept.len() >= max {
                break;
            }
            let v = self.vector(c.node);
            if kept.iter().all(|&r| dot(v, self.vector(r)) < c.sim) {
                kept.push(c.node);
            }
        }
        kept
    }

    /// Adds `new` to the neighbours of `node` on `layer`, pruning with `select`
    /// when the list is full.
    fn link_back(&mut self, node: u32, new: u32, layer: usize) {
        let max = if layer == 0 { self.m0() } else { self.shape.m };
        let count = self.links_mut(node, layer)[0] as usize;
        if self.links(node, layer).contains(&new) {
            return;
        }
        if count < max {
            let list = self.links_mut(node, layer);
            list[1 + count] = new;
            list[0] += 1;
            return;
        }
        let base = self.vector(node);
        let mut cands: Vec<Near> = self
            .links(node, layer)
            .iter()
            .chain(std::iter::once(&new))
            .map(|&n| Near {
                sim: dot(base, self.vector(n)),
                node: n,
            })
            .collect();
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let kept = self.select(&cands, max);
        let list = self.links_mut(node, layer);
        list[0] = kept.len() as u32;
        list[1..1 + kept.len()].copy_from_slice(&kept);
    }

    /// Checks what a loaded graph must satisfy to be walked without going out of
    /// bounds: sizes agree, every link names a node. (A link may name a node that has
    /// since lost that layer, when its slot was reused: walks skip those.)
    pub fn check(&self) -> Result<(), &'static str> {
        let n = self.len();
        let (d, m) = (self.shape.dim, self.shape.m);
        if d == 0 || !(2..=MAX_M).contains(&m) {
            return Err("graph parameters");
        }
        if self.blocks.len() != n * (1 + 2 * m + d)
            || self.upper.len() != n
            || self.removed.len() != n
            || u32::try_from(n).is_err()
        {
            return Err("section sizes");
        }
        if (self.entry == NONE) != (n == 0) || (self.entry != NONE && self.entry as usize >= n) {
            return Err("entry point");
        }
        for node in 0..n {
            let level = self.levels[node] as usize;
            if level > MAX_LEVEL as usize || self.upper[node].len() != level * (m + 1) {
                return Err("levels");
            }
            for layer in 0..=level {
                let max = if layer == 0 { 2 * m } else { m };
                let list = self.list(node as u32, layer);
                let count = list[0] as usize;
                if count > max || list[1..1 + count].iter().any(|&x| x as usize >= n) {
                    return Err("links");
                }
            }
        }
        if self
            .free
            .iter()
            .any(|&f| f as usize >= n || !self.removed[f as usize])
        {
            return Err("free list");
        }
        Ok(())
    }

    /// The whole list (count and slots) of `node` on `layer`.
    fn list(&self, node: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let (w, m0) = (self.stride(), self.m0());
            &self.blocks[node as usize * w..node as usize * w + 1 + m0]
        } else {
            let w = self.shape.m + 1;
            &self.upper[node as usize][(layer - 1) * w..layer * w]
        }
    }

    /// Marks `node` removed: it keeps routing searches until its slot is reused.
    pub fn remove(&mut self, node: u32) {
        if !self.removed[node as usize] {
            self.removed[node as usize] = true;
            self.free.push(node);
        }
    }

    /// Takes a slot for a new node: a removed node's (unlinked first) or a new one.
    fn take_slot(&mut self) -> u32 {
        if let Some(node) = self.free.pop() {
            self.unlink(node);
            return node;
        }
        let node = self.len() as u32;
        self.blocks.resize(self.blocks.len() + self.stride(), 0);
        self.upper.push(Box::default());
        self.levels.push(0);
        self.removed.push(false);
        node
    }

    /// Drops a removed node's links and its neighbours' links to it.
    fn unlink(&mut self, node: u32) {
        for layer in 0..=self.levels[node as usize] as usize {
            let neighbours = self.links(node, layer).to_vec();
            for n in neighbours {
                if self.levels[n as usize] as usize >= layer {
                    let list = self.links_mut(n, layer);
                    let count = list[0] as usize;
                    if let Some(at) = list[1..1 + count].iter().position(|&x| x == node) {
                        list.copy_within(2 + at..1 + count, 1 + at);
                        list[0] -= 1;
                    }
                }
            }
        }
        self.links_mut(node, 0)[0] = 0;
        self.upper[node as usize] = Box::default();
        self.levels[node as usize] = 0;
        if self.entry == node {
            // The highest other node becomes the entry; a linked one first (nodes of
            // a batch being inserted have no links yet), a live one before a removed one.
            self.entry = (0..self.len() as u32)
                .filter(|&n| n != node)
                .max_by_key(|&n| {
                    (
                        self.list(n, 0)[0] > 0,
                        self.levels[n as usize],
                        !self.removed[n as usize],
                    )
                })
                .unwrap_or(NONE);
        }
    }

    /// Inserts unit vectors, returning their nodes. Neighbour searches of a batch run
    /// on `threads` threads against the graph as it was before the batch; nodes of the
    /// same batch are compared with each other exactly, so batching loses nothing.
    pub fn insert(&mut self, vectors: &[&[f32]], threads: usize) -> Vec<u32> {
        let mut nodes = Vec::with_capacity(vectors.len());
        let mut done = 0;
        while done < vectors.len() {
            // Small graphs grow one node at a time; large ones in batches.
            let batch = (self.len() / 16).clamp(1, 256).min(vectors.len() - done);
            nodes.extend(self.insert_batch(&vectors[done..done + batch], threads));
            done += batch;
        }
        nodes
    }

    fn insert_batch(&mut self, vectors: &[&[f32]], threads: usize) -> Vec<u32> {
        let (d, w, m0) = (self.shape.dim, self.stride(), self.m0());
        let nodes: Vec<u32> = vectors
            .iter()
            .map(|v| {
                let node = self.take_slot();
                let level = self.random_level();
                let start = node as usize * w + 1 + m0;
                self.blocks[start..start + d].copy_from_slice(bytemuck::cast_slice(&v[..d]));
                self.levels[node as usize] = level;
                self.removed[node as usize] = false;
                self.links_mut(node, 0)[0] = 0;
                self.upper[node as usize] =
                    vec![0; level as usize * (self.shape.m + 1)].into_boxed_slice();
                node
            })
            .collect();
        let first = if self.entry == NONE {
            self.entry = nodes[0];
            1
        } else {
            0
        };
        let todo = &nodes[first..];
        let plans: Vec<Vec<Vec<u32>>> = if threads > 1 && todo.len() >= 32 {
            let chunk = todo.len().div_ceil(threads);
            let this = &*self;
            std::thread::scope(|scope| {
                let parts: Vec<_> = todo
                    .chunks(chunk)
                    .enumerate()
                    .map(|(c, part)| {
                        scope.spawn(move || {
                            part.iter()
                                .enumerate()
                                .map(|(i, &n)| this.plan(n, &todo[..c * chunk + i]))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|p| p.join().unwrap_or_default())
                    .collect()
            })
        } else {
            todo.iter()
                .enumerate()
                .map(|(i, &n)| self.plan(n, &todo[..i]))
                .collect()
        };
        for (&node, plan) in todo.iter().zip(plans) {
            for (layer, neighbours) in plan.iter().enumerate() {
                let list = self.links_mut(node, layer);
                list[0] = neighbours.len() as u32;
                list[1..1 + neighbours.len()].copy_from_slice(neighbours);
                for &n in neighbours {
                    self.link_back(n, node, layer);
                }
            }
            if self.levels[node as usize] as usize > self.top() {
                self.entry = node;
            }
        }
        nodes
    }

    /// The neighbours `node` gets on each of its layers: the graph's best candidates
    /// plus the earlier nodes of its batch (`peers`), selected by the heuristic.
    fn plan(&self, node: u32, peers: &[u32]) -> Vec<Vec<u32>> {
        let q = self.vector(node);
        let level = self.levels[node as usize] as usize;
        let top = self.top();
        let eligible = |n: u32| n != node && !self.removed[n as usize];
        let mut start = (self.entry != node && level < top).then(|| self.descend(q, level + 1));
        let mut plan = vec![Vec::new(); level + 1];
        for layer in (0..=level).rev() {
            let mut cands = if layer <= top && self.entry != node {
                let from = *start.get_or_insert_with(|| Near {
                    sim: dot(q, self.vector(self.entry)),
                    node: self.entry,
                });
                let found = self.search_layer(q, from, self.shape.ef_construction, layer, eligible);
                if let Some(best) = found.first() {
                    start = Some(*best);
                }
                found
            } else {
                Vec::new()
            };
            for &p in peers {
                if self.levels[p as usize] as usize >= layer && !cands.iter().any(|c| c.node == p) {
                    cands.push(Near {
                        sim: dot(q, self.vector(p)),
                        node: p,
                    });
                }
            }
            // As if the peers had been in the graph: only the `ef_construction` best
            // candidates are eligible, so a far peer never becomes a long link.
            cands.sort_unstable_by(|a, b| b.cmp(a));
            cands.truncate(self.shape.ef_construction);
            plan[layer] = self.select(&cands, self.shape.m);
        }
        plan
    }
}
