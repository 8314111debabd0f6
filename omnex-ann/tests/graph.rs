//! The graph against exact search: recall before and after churn, and filters.

use omnex_ann::{dot, Graph, Near, Shape};

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    v.iter().map(|x| x / n).collect()
}

fn unit(rng: &mut u64, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            (*rng % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    normalized(&v)
}

fn recall(g: &Graph, queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
    let live = |n: u32| !g.removed[n as usize];
    let mut hit = 0;
    for q in queries {
        let mut exact: Vec<Near> = (0..g.len() as u32)
            .filter(|&n| live(n))
            .map(|n| Near {
                sim: dot(q, g.vector(n)),
                node: n,
            })
            .collect();
        exact.sort_unstable_by(|a, b| b.cmp(a));
        let truth: Vec<u32> = exact.iter().take(k).map(|n| n.node).collect();
        hit += g
            .search(q, k, ef, live)
            .iter()
            .filter(|n| truth.contains(&n.node))
            .count();
    }
    hit as f64 / (queries.len() * k) as f64
}

#[test]
fn finds_near_neighbours_and_survives_churn() {
    let dim = 24;
    let mut rng = 7u64;
    let base: Vec<Vec<f32>> = (0..3000).map(|_| unit(&mut rng, dim)).collect();
    let queries: Vec<Vec<f32>> = (0..50).map(|_| unit(&mut rng, dim)).collect();
    let mut g = Graph::new(Shape {
        dim,
        m: 12,
        ef_construction: 100,
    });
    let refs: Vec<&[f32]> = base.iter().map(Vec::as_slice).collect();
    let nodes = g.insert(&refs, 2);
    assert_eq!(nodes.len(), 3000);
    let before = recall(&g, &queries, 10, 64);
    assert!(before > 0.9, "recall {before}");
    // Replace a third of the nodes: removed slots are reused, nothing grows.
    for &n in nodes.iter().step_by(3) {
        g.remove(n);
    }
    let again: Vec<&[f32]> = refs.iter().step_by(3).copied().collect();
    g.insert(&again, 1);
    assert_eq!(g.len(), 3000);
    assert!(g.free.is_empty());
    let after = recall(&g, &queries, 10, 64);
    assert!(after > 0.9, "recall after churn {after}");
}

#[test]
fn a_search_that_accepts_nothing_finds_nothing() {
    let mut g = Graph::new(Shape {
        dim: 4,
        m: 4,
        ef_construction: 16,
    });
    let v = [1.0, 0.0, 0.0, 0.0];
    assert!(g.search(&v, 5, 10, |_| true).is_empty());
    g.insert(&[&v, &[0.0, 1.0, 0.0, 0.0]], 1);
    assert!(g.search(&v, 5, 10, |_| false).is_empty());
    assert_eq!(g.search(&v, 5, 10, |_| true).len(), 2);
}
