//! Omnex's vector kernels and its HNSW graph.
//!
//! - [`dot`]: the dot product on the widest SIMD unit the CPU has (AVX-512, AVX2 +
//!   FMA, or portable code), chosen once at run time.
//! - [`Graph`]: a hierarchical navigable small-world graph (Malkov & Yashunin) over
//!   contiguous storage, with removal and slot reuse, filtered search and batched
//!   multi-threaded inserts.
//!
//! ```
//! use omnex_ann::{Graph, Shape};
//!
//! let mut graph = Graph::new(Shape { dim: 2, m: 8, ef_construction: 32 });
//! let nodes = graph.insert(&[&[1.0, 0.0], &[0.0, 1.0], &[0.6, 0.8]], 1);
//! let best = graph.search(&[0.8, 0.6], 1, 16, |_| true);
//! assert_eq!(best[0].node, nodes[2]);
//! ```

mod graph;
mod simd;

pub use graph::{Graph, Near, Shape, MAX_M};
pub use simd::{dot, prefetch};
