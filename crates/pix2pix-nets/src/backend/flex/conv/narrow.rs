//! Products of a few columns with a left operand stored by columns: the adjoint products of the
//! U-Net's innermost maps at batch 1 (a transposed convolution to 2x2 outputs, the input
//! gradient of a convolution from them: 4 columns), which stream a weight of up to 32 MB for
//! them. Through gemm these took 1.5-1.7 times as long as here, where the weight is read once,
//! 64 rows of each column at a time (BENCHMARKS.md, narrow products).

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::gemm::View;

/// Columns a narrow product has at most.
const NARROW: usize = 4;
/// f32 lanes of the widest vectors (AVX-512).
const LANES: usize = 16;
/// Rows per task: four vectors, whose sums for the `NARROW` columns fill 16 vector registers.
const ROWS: usize = 4 * LANES;

/// Whether [`matmul`] computes this product: 2 to `NARROW` columns, a left operand stored by
/// columns (a weight read transposed, as the adjoint products read it) and enough of it to be
/// worth a pass of its own. One stored by rows stays with gemm, which was as fast on it as dot
/// products row by row.
pub(super) fn suits(m: usize, n: usize, k: usize, lhs: View) -> bool {
    (2..=NARROW).contains(&n) && m * k >= 1 << 16 && lhs.2 == 1
}

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], plus dst when `accumulate`, for a product that
/// [`suits`] this: each task's rows from one pass over the left operand's columns, each column
/// scaled by rhs's row and added to the sums.
pub(super) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    let (data, col_stride) = (lhs.0, lhs.1 as usize);
    // rhs [k, NARROW], zeros beyond n.
    let scales: Vec<f32> = (0..k * NARROW)
        .map(|at| {
            let (kk, j) = (at / NARROW, at % NARROW);
            if j < n {
                rhs.0[kk * rhs.2 as usize + j * rhs.1 as usize]
            } else {
                0.0
            }
        })
        .collect();
    let arch = Arch::new();
    dst[..m * n]
        .par_chunks_mut(ROWS * n)
        .enumerate()
        .for_each(|(task, dst)| {
            let (first, height) = (task * ROWS, dst.len() / n);
            let sums = arch.dispatch(Task {
                lhs: &data[first..],
                col_stride,
                scales: &scales,
                height,
            });
            for (r, line) in dst.chunks_mut(n).enumerate() {
                for (j, d) in line.iter_mut().enumerate() {
                    *d = if accumulate {
                        *d + sums[j][r]
                    } else {
                        sums[j][r]
                    };
                }
            }
        });
}

/// One task's rows, through pulp's dispatch, which runs it inside a function compiled for the
/// CPU's vectors: its loops are `#[inline(always)]` functions, so they are compiled there too (a
/// closure's body would be compiled apart, for the baseline CPU).
struct Task<'a> {
    lhs: &'a [f32],
    col_stride: usize,
    scales: &'a [f32],
    height: usize,
}

impl WithSimd for Task<'_> {
    type Output = [[f32; ROWS]; NARROW];

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> Self::Output {
        let Task {
            lhs,
            col_stride,
            scales,
            height,
        } = self;
        if height == ROWS {
            scaled_columns(lhs, col_stride, scales)
        } else {
            scaled_columns_partial(lhs, col_stride, scales, height)
        }
    }
}

/// sums[j][r] = the sum over kk of lhs[kk x `col_stride` + r] x scales[kk, j] for the `ROWS`
/// rows r of a column-stored left operand from `lhs` on: fixed sizes, so that the sums stay in
/// registers.
#[inline(always)]
fn scaled_columns(lhs: &[f32], col_stride: usize, scales: &[f32]) -> [[f32; ROWS]; NARROW] {
    let mut sums = [[0f32; ROWS]; NARROW];
    for (kk, scales) in scales.chunks_exact(NARROW).enumerate() {
        let column: &[f32; ROWS] = lhs[kk * col_stride..][..ROWS].try_into().unwrap();
        for (sums, &scale) in sums.iter_mut().zip(scales) {
            for (sum, &x) in sums.iter_mut().zip(column) {
                *sum += x * scale;
            }
        }
    }
    sums
}

/// [`scaled_columns`] for a last task of `height` rows.
#[inline(always)]
fn scaled_columns_partial(
    lhs: &[f32],
    col_stride: usize,
    scales: &[f32],
    height: usize,
) -> [[f32; ROWS]; NARROW] {
    let mut sums = [[0f32; ROWS]; NARROW];
    for (kk, scales) in scales.chunks_exact(NARROW).enumerate() {
        let column = &lhs[kk * col_stride..][..height];
        for (sums, &scale) in sums.iter_mut().zip(scales) {
            for (sum, &x) in sums.iter_mut().zip(column) {
                *sum += x * scale;
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width, accumulation and row counts under, at and over a task's (a short last
    /// task), against the sums in f64.
    #[test]
    fn narrow_products_match_the_exact_sums() {
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0) - 0.5;
        for (m, k) in [(200, 515), (64, 1024), (150, 700)] {
            let lhs: Vec<f32> = (0..m * k).map(value).collect();
            for n in 2..=NARROW {
                let rhs: Vec<f32> = (0..k * n).map(|i| value(i + 11)).collect();
                for by_rows in [true, false] {
                    let view = if by_rows {
                        (&lhs[..], 1, k as isize)
                    } else {
                        (&lhs[..], m as isize, 1)
                    };
                    if by_rows {
                        // Left to gemm.
                        assert!(!suits(m, n, k, view));
                        continue;
                    }
                    assert!(suits(m, n, k, view));
                    for accumulate in [false, true] {
                        let mut dst = vec![1.0f32; m * n];
                        matmul((m, n, k), &mut dst, view, (&rhs, 1, n as isize), accumulate);
                        let worst = (0..m * n)
                            .map(|at| {
                                let (i, j) = (at / n, at % n);
                                let exact: f64 = (0..k)
                                    .map(|kk| {
                                        let a = if by_rows {
                                            lhs[i * k + kk]
                                        } else {
                                            lhs[kk * m + i]
                                        };
                                        a as f64 * rhs[kk * n + j] as f64
                                    })
                                    .sum::<f64>()
                                    + if accumulate { 1.0 } else { 0.0 };
                                (dst[at] as f64 - exact).abs()
                            })
                            .fold(0.0, f64::max);
                        assert!(worst < 1e-3, "m {m} n {n} k {k} by rows {by_rows}: {worst}");
                    }
                }
            }
        }
    }
}
