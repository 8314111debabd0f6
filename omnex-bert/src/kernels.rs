//! The matrix-multiply kernel: `MR` rows of a row-major matrix times one panel of
//! `NR` columns of a packed matrix, on the widest vector unit the CPU has (chosen
//! once at run time).
//!
//! The one module of this crate allowed `unsafe`: calling a `#[target_feature]`
//! function after checking that the CPU has the feature, and unchecked loads whose
//! bounds [`tile`] asserts before the call.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// Columns per packed panel.
pub(crate) const NR: usize = 32;

/// Rows of one [`tile`] call on this CPU.
pub(crate) fn max_rows() -> usize {
    isa().rows()
}

#[derive(Clone, Copy)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Isa {
    fn rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => 14,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => 4,
            Isa::Portable => 4,
        }
    }
}

fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    })
}

/// `c[r·ldc + j] = bias[j] + Σ_kk a[kk·rows + r] · panel[kk·NR + j]` for
/// `r < rows`, `j < cols`: `rows` rows of a packed block of A (see [`pack`]) times
/// one panel of B.
///
/// `rows` is at most [`max_rows`] and `cols` at most [`NR`]; `a` holds `k·rows`
/// values, `panel` `k·NR`, `bias` (when given) `NR`, and `c` the rows it is
/// written to.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tile(
    a: &[f32],
    rows: usize,
    panel: &[f32],
    k: usize,
    bias: Option<&[f32]>,
    c: &mut [f32],
    ldc: usize,
    cols: usize,
) {
    let isa = isa();
    assert!((1..=isa.rows()).contains(&rows), "tile of {rows} rows");
    assert!((1..=NR).contains(&cols), "tile of {cols} columns");
    assert!(k * rows <= a.len(), "tile rows run past a");
    assert!(k * NR <= panel.len(), "tile panel too short");
    assert!(bias.is_none_or(|b| b.len() >= NR), "tile bias too short");
    assert!((rows - 1) * ldc + cols <= c.len(), "tile output too short");
    let t = Tile {
        a,
        panel,
        k,
        bias,
        c,
        ldc,
        cols,
    };
    macro_rules! run {
        ($f:ident, $($mr:literal)*) => {
            match rows {
                $($mr => $f::<$mr>(t),)*
                _ => unreachable!("rows checked above"),
            }
        };
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run!(avx512, 1 2 3 4 5 6 7 8 9 10 11 12 13 14),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => run!(avx2, 1 2 3 4),
        Isa::Portable => run!(portable, 1 2 3 4),
    }
}

/// The operands of one [`tile`] call, checked by it.
struct Tile<'a> {
    a: &'a [f32],
    panel: &'a [f32],
    k: usize,
    bias: Option<&'a [f32]>,
    c: &'a mut [f32],
    ldc: usize,
    cols: usize,
}

/// Appends rows `r0..r0 + rows` (`k` values each, at stride `lda`) of `a` to
/// `dst` as `[k][rows]`, the layout [`tile`] reads.
pub(crate) fn pack(a: &[f32], lda: usize, r0: usize, rows: usize, k: usize, dst: &mut Vec<f32>) {
    let at = dst.len();
    dst.resize(at + k * rows, 0.0);
    let dst = &mut dst[at..];
    let a = &a[r0 * lda..];
    for (kk, d) in dst.chunks_exact_mut(rows).enumerate() {
        for (r, x) in d.iter_mut().enumerate() {
            *x = a[r * lda + kk];
        }
    }
}

/// Applies an element-wise function compiled for the widest vector unit the CPU
/// has: `$f` must be `#[inline(always)]` so that each copy is vectorised for it.
macro_rules! vectorised {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $f:path) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn wide($($arg: $ty),*) {
                $f($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn narrow($($arg: $ty),*) {
                $f($($arg),*)
            }
            match isa() {
                // SAFETY: the CPU has the features these copies were compiled for.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { wide($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { narrow($($arg),*) },
                Isa::Portable => $f($($arg),*),
            }
        }
    };
}

vectorised!(
    /// GELU (erf form) in place.
    gelu(xs: &mut [f32]) => crate::math::gelu
);
vectorised!(
    /// Softmax of `scale · row` in place.
    softmax(row: &mut [f32], scale: f32) => crate::math::softmax
);
vectorised!(
    /// `x = LayerNorm(x + residual)`, one row.
    add_norm(x: &mut [f32], residual: Option<&[f32]>, gamma: &[f32], beta: &[f32], eps: f32) => crate::math::add_norm
);

#[cfg(target_arch = "x86_64")]
fn avx512<const MR: usize>(t: Tile<'_>) {
    let Tile {
        a,
        panel,
        k,
        bias,
        c,
        ldc,
        cols,
    } = t;
    let bias = bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
    // SAFETY: `isa()` chose this kernel only after detecting AVX-512F; `tile`
    // asserted the bounds of every read and write.
    unsafe {
        avx512_kernel::<MR>(
            a.as_ptr(),
            panel.as_ptr(),
            k,
            bias,
            c.as_mut_ptr(),
            ldc,
            cols,
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_kernel<const MR: usize>(
    a: *const f32,
    b: *const f32,
    k: usize,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
) {
    use std::arch::x86_64::*;
    let (lo0, hi0) = if bias.is_null() {
        (_mm512_setzero_ps(), _mm512_setzero_ps())
    } else {
        // SAFETY: a bias holds NR = 32 values.
        unsafe { (_mm512_loadu_ps(bias), _mm512_loadu_ps(bias.add(16))) }
    };
    let mut lo = [lo0; MR];
    let mut hi = [hi0; MR];
    for kk in 0..k {
        // SAFETY: kk < k: the panel holds k·NR values and the block k·MR.
        unsafe {
            let b0 = _mm512_loadu_ps(b.add(kk * NR));
            let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
            let ak = a.add(kk * MR);
            for r in 0..MR {
                let av = _mm512_set1_ps(*ak.add(r));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
        }
    }
    let full = |n: usize| if n >= 16 { 0xffff } else { (1u16 << n) - 1 };
    let (mlo, mhi) = (full(cols), full(cols.saturating_sub(16)));
    for r in 0..MR {
        // SAFETY: row r of c has `cols` writable values (asserted by `tile`); the
        // masks write no others.
        unsafe {
            let row = c.add(r * ldc);
            _mm512_mask_storeu_ps(row, mlo, lo[r]);
            _mm512_mask_storeu_ps(row.add(16), mhi, hi[r]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2<const MR: usize>(t: Tile<'_>) {
    // SAFETY: `isa()` chose this kernel only after detecting AVX2 and FMA.
    unsafe { avx2_kernel::<MR>(t) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_kernel<const MR: usize>(t: Tile<'_>) {
    generic::<MR, true>(t);
}

fn portable<const MR: usize>(t: Tile<'_>) {
    generic::<MR, false>(t);
}

#[inline(always)]
fn generic<const MR: usize, const FMA: bool>(t: Tile<'_>) {
    let Tile {
        a,
        panel,
        k,
        bias,
        c,
        ldc,
        cols,
    } = t;
    let mut acc = [[0.0f32; NR]; MR];
    if let Some(bias) = bias {
        for row in &mut acc {
            row.copy_from_slice(&bias[..NR]);
        }
    }
    for (ak, b) in a.chunks_exact(MR).zip(panel.chunks_exact(NR)).take(k) {
        for (row, &av) in acc.iter_mut().zip(ak) {
            for (x, &bv) in row.iter_mut().zip(b) {
                *x = if FMA {
                    av.mul_add(bv, *x)
                } else {
                    *x + av * bv
                };
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[r * ldc..r * ldc + cols].copy_from_slice(&row[..cols]);
    }
}

/// `out[r·ldo + j] = bias[j] + Σ_kk a[r·lda + kk] · B[kk][j]` for `r < m`,
/// `j < n`, with B packed as panels of [`NR`] columns, each `[k][NR]`
/// (zero-padded), on the calling thread. `scratch` holds packed rows of A.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    panels: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    ldo: usize,
    scratch: &mut Vec<f32>,
) {
    let mr = max_rows();
    // Rows in chunks that stay in cache while every panel passes over them.
    let chunk = 4 * mr;
    let count = n.div_ceil(NR);
    let mut r0 = 0;
    while r0 < m {
        let rows = chunk.min(m - r0);
        scratch.clear();
        let mut blocks = Vec::with_capacity(4);
        let mut b0 = r0;
        while b0 < r0 + rows {
            let br = mr.min(r0 + rows - b0);
            blocks.push((b0, br, scratch.len()));
            pack(a, lda, b0, br, k, scratch);
            b0 += br;
        }
        for p in 0..count {
            let panel = &panels[p * k * NR..(p + 1) * k * NR];
            let bias = bias.map(|b| &b[p * NR..(p + 1) * NR]);
            let cols = NR.min(n - p * NR);
            for &(b0, br, at) in &blocks {
                tile(
                    &scratch[at..at + k * br],
                    br,
                    panel,
                    k,
                    bias,
                    &mut out[b0 * ldo + p * NR..],
                    ldo,
                    cols,
                );
            }
        }
        r0 += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic matrix of small values.
    fn matrix(rows: usize, cols: usize, seed: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| (((i * 7919 + seed * 104_729) % 201) as f32 - 100.0) / 64.0)
            .collect()
    }

    /// Panels of NR columns of `b` (`[k][n]`, row-major), zero-padded.
    fn panels(b: &[f32], k: usize, n: usize) -> Vec<f32> {
        let count = n.div_ceil(NR);
        let mut out = vec![0.0; count * k * NR];
        for kk in 0..k {
            for j in 0..n {
                out[((j / NR) * k + kk) * NR + j % NR] = b[kk * n + j];
            }
        }
        out
    }

    #[test]
    fn matmul_matches_the_definition() {
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (13, 32, 32),
            (14, 40, 33),
            (57, 17, 70),
            (129, 64, 96),
        ] {
            let lda = k + 3;
            let a = matrix(m, lda, 1);
            let b = matrix(k, n, 2);
            let bias: Vec<f32> = (0..n.div_ceil(NR) * NR).map(|j| j as f32 / 8.0).collect();
            let ldo = n + 5;
            let mut out = vec![f32::NAN; m * ldo];
            matmul(
                &a,
                lda,
                m,
                k,
                &panels(&b, k, n),
                n,
                Some(&bias),
                &mut out,
                ldo,
                &mut Vec::new(),
            );
            for r in 0..m {
                for j in 0..ldo {
                    let got = out[r * ldo + j];
                    if j >= n {
                        assert!(got.is_nan(), "wrote past column {n} at ({r}, {j})");
                        continue;
                    }
                    let want: f64 = f64::from(bias[j])
                        + (0..k)
                            .map(|kk| f64::from(a[r * lda + kk]) * f64::from(b[kk * n + j]))
                            .sum::<f64>();
                    assert!(
                        (f64::from(got) - want).abs() < 1e-3,
                        "({m},{k},{n}) at ({r},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_kernel_agrees_with_the_portable_one() {
        let k = 37;
        let b = panels(&matrix(k, NR, 3), k, NR);
        for rows in 1..=max_rows() {
            let mut a = Vec::new();
            pack(&matrix(rows, k, 4), k, 0, rows, k, &mut a);
            let mut fast = vec![0.0; rows * NR];
            let mut slow = vec![0.0; rows * NR];
            tile(&a, rows, &b, k, None, &mut fast, NR, NR);
            macro_rules! slow {
                ($($mr:literal)*) => {
                    match rows {
                        $($mr => generic::<$mr, false>(Tile {
                            a: &a,
                            panel: &b,
                            k,
                            bias: None,
                            c: &mut slow,
                            ldc: NR,
                            cols: NR,
                        }),)*
                        _ => unreachable!(),
                    }
                };
            }
            slow!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
            for (f, s) in fast.iter().zip(&slow) {
                assert!((f - s).abs() < 1e-4, "{rows} rows: {f} vs {s}");
            }
        }
    }

    #[test]
    fn vectorised_functions_match_scalar_math() {
        let mut x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 60.0).collect();
        let mut y = x.clone();
        gelu(&mut x);
        for v in &mut y {
            crate::math::gelu(std::slice::from_mut(v));
        }
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0));
        }
        // GELU(x) ≈ x for large x, ≈ 0 for very negative x, 0 at 0.
        assert!((x[999] - 8.3166).abs() < 1e-3 && x[0].abs() < 1e-6 && x[500] == 0.0);
    }
}
