//! Matrix products for the convolutions through the gemm crate.

use rayon::prelude::*;

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
