//! Matrix products for the convolutions through the gemm crate.

use rayon::prelude::*;

use super::im2col::with_scratch;

/// A row-major or transposed view of a matrix for [`matmul`]: (data, column stride, row stride).
pub(super) type View<'a> = (&'a [f32], isize, isize);

/// Whether `view` holds every element of a `rows` x `cols` matrix.
fn covers((data, col_stride, row_stride): View, rows: usize, cols: usize) -> bool {
    let last = (rows as isize - 1) * row_stride + (cols as isize - 1) * col_stride;
    col_stride > 0 && row_stride > 0 && (last as usize) < data.len()
}

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], plus dst when `accumulate`.
///
/// gemm computes outer products (k <= 2: a 1x1 convolution from two channels, as the pixel
/// discriminator's first on grayscale pairs) and matrix-vector products (one row or column) on
/// the calling thread alone, so those are split into blocks of rows, or of the one row's
/// columns, here.
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    if super::narrow::suits(m, n, k, lhs) {
        return super::narrow::matmul((m, n, k), dst, lhs, rhs, accumulate);
    }
    let parts = parts_of_sum(m, n, k);
    if parts > 1 {
        return split_sum(parts, (m, n, k), dst, lhs, rhs, accumulate);
    }
    let serial = k <= 2 || m == 1 || n == 1;
    let tasks = rayon::current_num_threads() * 4;
    if !serial || m * n * k < 1 << 18 {
        return product(
            m,
            n,
            k,
            dst,
            lhs,
            rhs,
            accumulate,
            gemm::Parallelism::Rayon(0),
        );
    }
    let single = gemm::Parallelism::None;
    if m > 1 {
        let rows = m.div_ceil(tasks);
        dst[..m * n]
            .par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(block, dst)| {
                let lhs = (&lhs.0[block * rows * lhs.2 as usize..], lhs.1, lhs.2);
                product(dst.len() / n, n, k, dst, lhs, rhs, accumulate, single);
            });
    } else {
        let cols = n.div_ceil(tasks);
        dst[..n]
            .par_chunks_mut(cols)
            .enumerate()
            .for_each(|(block, dst)| {
                let rhs = (&rhs.0[block * cols * rhs.1 as usize..], rhs.1, rhs.2);
                product(1, dst.len(), k, dst, lhs, rhs, accumulate, single);
            });
    }
}

/// Results of fewer values than this, over sums of at least [`MIN_PART_DEPTH`] a thread, are
/// computed a part of the sums on each thread: gemm shares a product among its threads by blocks
/// of the result, of which a small result has too few (the weight gradients of the first and
/// last layers, 64 x 96 values over every pixel, ran at a quarter of the rate of large products;
/// BENCHMARKS.md, 2026-12-07 (third)).
const MAX_SPLIT_VALUES: usize = 1 << 19;
const MIN_PART_DEPTH: usize = 1024;

/// How many parts [`matmul`] splits the sums of this product into: one where it does not.
fn parts_of_sum(m: usize, n: usize, k: usize) -> usize {
    let threads = rayon::current_num_threads();
    if m * n < MAX_SPLIT_VALUES && k >= 2 * MIN_PART_DEPTH {
        threads.min(k / MIN_PART_DEPTH)
    } else {
        1
    }
}

/// [`matmul`] in `parts` products side by side, each on one thread over a stretch of k, summed
/// at the end: the first into dst, the others into scratch.
fn split_sum(
    parts: usize,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    let (depth, values) = (k.div_ceil(parts), m * n);
    // Part p's stretch of k: lhs's columns and rhs's rows from p x depth.
    let part = |p: usize| {
        let start = p * depth;
        let lhs = (&lhs.0[start * lhs.1 as usize..], lhs.1, lhs.2);
        let rhs = (&rhs.0[start * rhs.2 as usize..], rhs.1, rhs.2);
        (depth.min(k - start), lhs, rhs)
    };
    let single = gemm::Parallelism::None;
    with_scratch((parts - 1) * values, |others| {
        rayon::join(
            || {
                let (depth, lhs, rhs) = part(0);
                product(m, n, depth, dst, lhs, rhs, accumulate, single);
            },
            || {
                others
                    .par_chunks_mut(values)
                    .enumerate()
                    .for_each(|(p, sums)| {
                        let (depth, lhs, rhs) = part(p + 1);
                        product(m, n, depth, sums, lhs, rhs, false, single);
                    })
            },
        );
        for sums in others.chunks(values) {
            for (value, sum) in dst[..values].iter_mut().zip(sums) {
                *value += sum;
            }
        }
    });
}

/// [`matmul`] on the calling thread alone, for callers that compute several products side by
/// side (Winograd's 16): gemm's own threads paid little on products of their sizes, which took
/// up to twice as long one after the other, each on both threads, as side by side
/// (BENCHMARKS.md, 2026-12-07 (second)).
pub(super) fn matmul_on_this_thread(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    product(m, n, k, dst, lhs, rhs, accumulate, gemm::Parallelism::None);
}

/// One gemm call for [`matmul`] and [`matmul_on_this_thread`].
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    assert!(dst.len() >= m * n && covers(lhs, m, k) && covers(rhs, k, n));
    // SAFETY: the asserts above keep every access of the product inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.1,
            lhs.2,
            rhs.0.as_ptr(),
            rhs.1,
            rhs.2,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums split in two and three (a short last part), each layout of the operands the kernels
    /// read, with and without accumulation, against the sums in f64.
    #[test]
    fn split_sums_match_the_exact_sums() {
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0) - 0.5;
        let (m, n, k) = (24, 40, 3000);
        let (a, b): (Vec<f32>, Vec<f32>) = ((0..m * k).map(value).collect(), {
            (0..k * n).map(|i| value(i + 11)).collect()
        });
        for parts in [2, 3] {
            for (lhs, rhs) in [
                ((&a[..], 1, k as isize), (&b[..], 1, n as isize)),
                ((&a[..], m as isize, 1), (&b[..], k as isize, 1)),
            ] {
                for accumulate in [false, true] {
                    let mut dst = vec![1.0f32; m * n];
                    split_sum(parts, (m, n, k), &mut dst, lhs, rhs, accumulate);
                    let at = |(data, cs, rs): View, row: usize, col: usize| {
                        data[row * rs as usize + col * cs as usize] as f64
                    };
                    let worst = (0..m * n)
                        .map(|i| {
                            let (row, col) = (i / n, i % n);
                            let exact: f64 = (0..k)
                                .map(|kk| at(lhs, row, kk) * at(rhs, kk, col))
                                .sum::<f64>()
                                + if accumulate { 1.0 } else { 0.0 };
                            (dst[i] as f64 - exact).abs()
                        })
                        .fold(0.0, f64::max);
                    assert!(worst < 1e-3, "{parts} parts: {worst}");
                }
            }
        }
    }

    /// Small results over long sums are split, one part a thread at most and
    /// [`MIN_PART_DEPTH`] of the sums a part at least; large results and short sums are not.
    #[test]
    fn splits_the_sums_of_small_results() {
        let threads = rayon::current_num_threads();
        assert_eq!(parts_of_sum(96, 64, 4096), threads.min(4));
        assert_eq!(parts_of_sum(96, 64, 2048), threads.min(2));
        assert_eq!(parts_of_sum(96, 64, 2047), 1);
        assert_eq!(parts_of_sum(4096, 256, 256), 1);
        assert_eq!(parts_of_sum(1024, 512, 1 << 16), 1);
    }
}
