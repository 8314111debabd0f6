//! Benchmarks live under `benches/`; this library holds what several of them share.

use rand::{rngs::StdRng, Rng, SeedableRng};

/// `v` scaled to unit length.
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// `n` clustered unit vectors of `dim` dimensions, the same for the same `seed`:
/// 1,000 random centres, each point a centre plus uniform noise of ±0.08.
pub fn clustered(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| unit((0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect()))
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.gen_range(0..centres.len())];
            unit(
                c.iter()
                    .map(|x| x + rng.gen_range(-0.08f32..0.08))
                    .collect(),
            )
        })
        .collect()
}

/// `n` queries near random points of `data` (uniform noise of ±0.05), for `seed`.
pub fn near(data: &[Vec<f32>], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let base = &data[rng.gen_range(0..data.len())];
            unit(
                base.iter()
                    .map(|x| x + rng.gen_range(-0.05f32..0.05))
                    .collect(),
            )
        })
        .collect()
}
