//! Dot products on the widest vector unit the CPU has, chosen once at run time.
//!
//! The one module in Omnex allowed `unsafe`: calling a `#[target_feature]` function
//! after checking that the CPU has the feature, unaligned loads within slice bounds,
//! and cache prefetch hints (which never fault).
#![allow(unsafe_code)]

use std::sync::OnceLock;

type DotFn = fn(&[f32], &[f32]) -> f32;

static DOT: OnceLock<DotFn> = OnceLock::new();

/// Dot product over the common length of `a` and `b`.
///
/// ```
/// assert_eq!(omnex_ann::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// ```
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    (DOT.get_or_init(select))(a, b)
}

/// Asks the CPU to start loading the first `lines` cache lines of `v` (at most all
/// of it) into cache: a hint that never faults.
#[inline]
pub fn prefetch(v: &[f32], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let end = std::mem::size_of_val(v).min(lines.saturating_mul(64));
        let p = v.as_ptr().cast::<i8>();
        let mut offset = 0;
        while offset < end {
            // SAFETY: prefetching is a hint that never dereferences or faults (the
            // address stays within `v`), and SSE is part of the x86_64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, lines);
}

#[cfg(target_arch = "x86_64")]
fn select() -> DotFn {
    if std::is_x86_feature_detected!("avx512f") {
        dot_avx512_checked
    } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        dot_avx2_checked
    } else {
        dot_portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn select() -> DotFn {
    dot_portable
}

/// Eight independent accumulators let the compiler vectorize the loop.
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
fn dot_avx512_checked(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: `select` returns this function only when the CPU has AVX-512F.
    unsafe { dot_avx512(a, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n, so all four 16-float loads are within both slices.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm512_loadu_ps(pa.add(i)),
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
            )
        };
        acc0 = _mm512_fmadd_ps(x0, y0, acc0);
        acc1 = _mm512_fmadd_ps(x1, y1, acc1);
        i += 32;
    }
    if i + 16 <= n {
        // SAFETY: i + 16 <= n.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc0 = _mm512_fmadd_ps(x, y, acc0);
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
fn dot_avx2_checked(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: `select` returns this function only when the CPU has AVX2 and FMA.
    unsafe { dot_avx2(a, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so all four 8-float loads are within both slices.
        let (x0, y0, x1, y1) = unsafe {
            (
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
            )
        };
        acc0 = _mm256_fmadd_ps(x0, y0, acc0);
        acc1 = _mm256_fmadd_ps(x1, y1, acc1);
        i += 16;
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let hi = _mm256_extractf128_ps::<1>(acc);
    let lo = _mm256_castps256_ps128(acc);
    let s4 = _mm_add_ps(hi, lo);
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
    let mut sum = _mm_cvtss_f32(s1);
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_agrees_with_the_plain_sum() {
        for n in [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 384, 385, 1536] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 3 % 11) as f32 - 5.0) / 4.0).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let close = |x: f32| (x - plain).abs() <= 1e-4 * (1.0 + plain.abs());
            assert!(close(dot(&a, &b)), "dispatched, n = {n}");
            assert!(close(dot_portable(&a, &b)), "portable, n = {n}");
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    assert!(close(dot_avx512_checked(&a, &b)), "avx512, n = {n}");
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    assert!(close(dot_avx2_checked(&a, &b)), "avx2, n = {n}");
                }
            }
            // Unequal lengths: the common prefix.
            if n > 1 {
                let short = dot(&a[..n - 1], &b);
                let want: f32 = a[..n - 1].iter().zip(&b).map(|(x, y)| x * y).sum();
                assert!((short - want).abs() <= 1e-4 * (1.0 + want.abs()));
            }
        }
    }
}
