//! Matrix products with bf16 operands and f32 sums on the CPU's bf16 dot products (AVX512_BF16
//! `vdpbf16ps`): what `--precision bf16` runs on Flex. As in PyTorch's autocast, each operand is
//! rounded to bf16 (to nearest, ties to even) and the products are summed in f32. gemm 0.19 has
//! no bf16 kernels, hence this one.
//!
//! The layout is the classic blocked one: the left operand is packed once into panels of `MR`
//! rows, the right one per task into panels of `NR` columns, both as pairs of consecutive k: the
//! two bf16 halves of a 32-bit lane, which `vdpbf16ps` multiplies and adds into one f32 lane.
//! Each task computes a tile of `MC` x `NC` of the result, `KC` pairs of k at a time.

use std::ops::Range;

use rayon::prelude::*;

use super::gemm::View;

/// Rows of the microkernel's tile: 8 rows x 2 vectors of 16 columns = 16 accumulators.
const MR: usize = 8;
/// Columns of the microkernel's tile.
const NR: usize = 32;
/// Pairs of k per block: a right panel of `KC` x `NR` lanes is 32 KiB, in L1.
const KC: usize = 256;
/// Rows of a task's tile: all of the networks' (512 channels at most), so that the right
/// operand, converted as it is packed, is packed once.
const MC: usize = 512;
/// Columns of a task's tile.
const NC: usize = 128;

/// Whether this CPU has the bf16 dot products.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether a product of this shape is worth the kernel: it has at least two panels of rows and
/// one of columns. Narrower ones (a 3-channel output layer) stay on the f32 path.
pub(super) fn suits(m: usize, n: usize, k: usize) -> bool {
    m >= 2 * MR && n >= NR && k >= 2
}

/// `value` rounded to bf16 (to nearest, ties to even), in the low 16 bits, subnormals flushed to
/// zero: as the CPU's conversion (`vcvtne2ps2bf16`) does, which packs all but the edges.
fn bf16_bits(value: f32) -> u32 {
    let bits = value.to_bits();
    if value.is_nan() {
        // Keep it a NaN: truncation alone could leave only zeros in the mantissa.
        return (bits >> 16) | 0x40;
    }
    if bits & 0x7f80_0000 == 0 {
        return (bits >> 16) & 0x8000;
    }
    bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16
}

/// `value` rounded to bf16, as an f32.
pub(super) fn rounded(value: f32) -> f32 {
    f32::from_bits(bf16_bits(value) << 16)
}

/// Two values as the two bf16 halves of one lane: `even` (k = 2p) low, `odd` (k = 2p + 1) high.
fn pair(even: f32, odd: f32) -> u32 {
    bf16_bits(even) | (bf16_bits(odd) << 16)
}

/// Pairs `pairs` of columns `cols` of a matrix of `k` rows (`view`), panel after panel of
/// `width` columns: `out[(j x pairs.len() + p) x width + c]` holds column cols.start + j x width
/// + c's rows 2p and 2p + 1, zero beyond k and cols. A left operand is packed as its transpose.
fn pack(
    view: View,
    pairs: Range<usize>,
    cols: Range<usize>,
    k: usize,
    width: usize,
    out: &mut [u32],
) {
    let (data, col_stride, row_stride) = (view.0, view.1 as usize, view.2 as usize);
    // Pairs with both rows inside k: all but an odd k's last.
    let whole = pairs.start..pairs.end.min(k / 2).max(pairs.start);
    for (first, panel) in cols
        .clone()
        .step_by(width)
        .zip(out.chunks_exact_mut(pairs.len() * width))
    {
        let filled = width.min(cols.end - first);
        let (fast, rest) = panel.split_at_mut(whole.len() * width);
        if col_stride == 1 && filled == width {
            // Rows stored contiguously: two rows' slices.
            for (p, lanes) in whole.clone().zip(fast.chunks_exact_mut(width)) {
                let even = &data[2 * p * row_stride + first..][..width];
                let odd = &data[(2 * p + 1) * row_stride + first..][..width];
                interleave(even, odd, lanes);
            }
        } else if row_stride == 1 {
            // Columns stored contiguously: each column's pairs are adjacent.
            let mut column = vec![0u32; whole.len()];
            for c in 0..width {
                if c < filled {
                    let at = (first + c) * col_stride + 2 * whole.start;
                    adjacent(&data[at..][..2 * whole.len()], &mut column);
                } else {
                    column.fill(0);
                }
                for (lanes, &lane) in fast.chunks_exact_mut(width).zip(column.iter()) {
                    lanes[c] = lane;
                }
            }
        } else {
            fill(view, whole.clone(), first..first + filled, k, fast, width);
        }
        fill(
            view,
            whole.end..pairs.end,
            first..first + filled,
            k,
            rest,
            width,
        );
    }
}

/// `out[i]` = pair(even[i], odd[i]).
fn interleave(even: &[f32], odd: &[f32], out: &mut [u32]) {
    let vectors = if cfg!(target_arch = "x86_64") {
        out.len() / 8 * 8
    } else {
        0
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `pack` runs only where `available` holds; the slices hold `vectors` values.
    unsafe {
        simd::interleave(&even[..vectors], &odd[..vectors], &mut out[..vectors]);
    }
    for ((lane, &e), &o) in out.iter_mut().zip(even).zip(odd).skip(vectors) {
        *lane = pair(e, o);
    }
}

/// `out[i]` = pair(values[2i], values[2i + 1]).
fn adjacent(values: &[f32], out: &mut [u32]) {
    let vectors = if cfg!(target_arch = "x86_64") {
        out.len() / 16 * 16
    } else {
        0
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `interleave`.
    unsafe {
        simd::adjacent(&values[..2 * vectors], &mut out[..vectors]);
    }
    for (lane, two) in out.iter_mut().zip(values.chunks_exact(2)).skip(vectors) {
        *lane = pair(two[0], two[1]);
    }
}

/// The conversions of [`interleave`] and [`adjacent`] by vectors (`vcvtne2ps2bf16`).
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// For slices of a multiple of 8 lanes (a left panel's width): 16 at a time, then 8.
    ///
    /// # Safety
    /// The CPU has AVX-512F, AVX-512BW, AVX-512VL and AVX512_BF16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn interleave(even: &[f32], odd: &[f32], out: &mut [u32]) {
        // Word j of the result is word j / 2 of the evens (j even) or of the odds (j odd),
        // which the conversion puts in the low and the high half of its words.
        let order: [i16; 32] = std::array::from_fn(|j| (j / 2 + j % 2 * 16) as i16);
        let half_order: [i16; 16] = std::array::from_fn(|j| (j / 2 + j % 2 * 8) as i16);
        let sixteens = out.len() / 16 * 16;
        let (out, rest) = out.split_at_mut(sixteens);
        // SAFETY: each load reads 16 or 8 lanes of 4 bytes from chunks of that length, each
        // store writes as many; the order arrays are 64 and 32 bytes.
        unsafe {
            let order = _mm512_loadu_si512(order.as_ptr().cast());
            for ((e, o), out) in even
                .chunks_exact(16)
                .zip(odd.chunks_exact(16))
                .zip(out.chunks_exact_mut(16))
            {
                let words =
                    _mm512_cvtne2ps_pbh(_mm512_loadu_ps(o.as_ptr()), _mm512_loadu_ps(e.as_ptr()));
                let lanes = _mm512_permutexvar_epi16(
                    order,
                    std::mem::transmute::<__m512bh, __m512i>(words),
                );
                _mm512_storeu_si512(out.as_mut_ptr().cast(), lanes);
            }
            let half_order = _mm256_loadu_si256(half_order.as_ptr().cast());
            for ((e, o), out) in even[sixteens..]
                .chunks_exact(8)
                .zip(odd[sixteens..].chunks_exact(8))
                .zip(rest.chunks_exact_mut(8))
            {
                let words =
                    _mm256_cvtne2ps_pbh(_mm256_loadu_ps(o.as_ptr()), _mm256_loadu_ps(e.as_ptr()));
                let lanes = _mm256_permutexvar_epi16(
                    half_order,
                    std::mem::transmute::<__m256bh, __m256i>(words),
                );
                _mm256_storeu_si256(out.as_mut_ptr().cast(), lanes);
            }
        }
    }

    /// For slices of a multiple of 16 lanes.
    ///
    /// # Safety
    /// As [`interleave`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn adjacent(values: &[f32], out: &mut [u32]) {
        for (values, out) in values.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
            // SAFETY: 32 values in, 16 lanes out; the conversion's words 0-15 are values 0-15
            // (pairs 0-7), words 16-31 values 16-31.
            unsafe {
                let words = _mm512_cvtne2ps_pbh(
                    _mm512_loadu_ps(values[16..].as_ptr()),
                    _mm512_loadu_ps(values.as_ptr()),
                );
                _mm512_storeu_si512(
                    out.as_mut_ptr().cast(),
                    std::mem::transmute::<__m512bh, __m512i>(words),
                );
            }
        }
    }
}

/// The general case of [`pack`], one element at a time: pairs `pairs` of the columns `cols` of
/// one panel of `width` lanes.
fn fill(
    (data, col_stride, row_stride): View,
    pairs: Range<usize>,
    cols: Range<usize>,
    k: usize,
    out: &mut [u32],
    width: usize,
) {
    let element = |row: usize, col: usize| {
        if row < k {
            data[row * row_stride as usize + col * col_stride as usize]
        } else {
            0.0
        }
    };
    for (p, lanes) in pairs.zip(out.chunks_exact_mut(width)) {
        for (c, lane) in lanes.iter_mut().enumerate() {
            let col = cols.start + c;
            *lane = if col < cols.end {
                pair(element(2 * p, col), element(2 * p + 1, col))
            } else {
                0
            };
        }
    }
}

/// The result's buffer, shared by tasks that write disjoint tiles of it (read by the x86-64
/// microkernel only).
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Tiles(*mut f32);
// SAFETY: each task writes only its own tile (rows and columns of its own), see `matmul`.
unsafe impl Send for Tiles {}
unsafe impl Sync for Tiles {}

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], plus dst when `accumulate`, with the operands
/// rounded to bf16. The caller checks [`available`] and [`suits`].
///
/// A product with fewer tiles than threads (a weight gradient: few rows and columns, k the
/// pixels) is split along k as well, each part summed into a buffer of its own.
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    assert!(available() && dst.len() >= m * n);
    let pairs = k.div_ceil(2);
    let mut packed_lhs = vec![0u32; m.div_ceil(MR) * pairs * MR];
    packed_lhs
        .par_chunks_mut(pairs * MR)
        .enumerate()
        .for_each(|(panel, out)| {
            // lhs^T [k, m], whose columns are lhs's rows.
            let transposed = (lhs.0, lhs.2, lhs.1);
            let rows = panel * MR..(panel * MR + MR).min(m);
            pack(transposed, 0..pairs, rows, k, MR, out);
        });
    let product = Product {
        lhs: &packed_lhs,
        rhs,
        m,
        n,
        k,
    };
    let tiles = m.div_ceil(MC) * n.div_ceil(NC);
    let threads = rayon::current_num_threads();
    let parts = (2 * threads).div_ceil(tiles).min(pairs.div_ceil(KC));
    if parts <= 1 {
        return product.pairs(0..pairs, dst, accumulate);
    }
    let part = pairs.div_ceil(KC).div_ceil(parts) * KC;
    let sums: Vec<Vec<f32>> = (0..pairs)
        .step_by(part)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let mut sum = vec![0f32; m * n];
            product.pairs(start..(start + part).min(pairs), &mut sum, false);
            sum
        })
        .collect();
    for (at, value) in dst[..m * n].iter_mut().enumerate() {
        let total: f32 = sums.iter().map(|sum| sum[at]).sum();
        *value = if accumulate { *value + total } else { total };
    }
}

/// A product whose left operand is packed.
struct Product<'a> {
    /// Panels of `MR` rows, each of all the pairs of k.
    lhs: &'a [u32],
    rhs: View<'a>,
    m: usize,
    n: usize,
    k: usize,
}

impl Product<'_> {
    /// dst (plus dst when `accumulate`) = the sum over the pairs of k in `range`, in tiles of
    /// `MC` x `NC`, one task each.
    fn pairs(&self, range: Range<usize>, dst: &mut [f32], accumulate: bool) {
        let Self { m, n, k, .. } = *self;
        let (pairs, panels, n_tiles) = (k.div_ceil(2), m.div_ceil(MR), n.div_ceil(NC));
        let tiles = Tiles(dst.as_mut_ptr());
        (0..m.div_ceil(MC) * n_tiles).into_par_iter().for_each_init(
            || vec![0u32; KC * NC],
            |packed_rhs, task| {
                let cols = task % n_tiles * NC..(task % n_tiles * NC + NC).min(n);
                let (row_block, next) = (task / n_tiles * MC / MR, (task / n_tiles + 1) * MC / MR);
                for start in range.clone().step_by(KC) {
                    let block = start..(start + KC).min(range.end);
                    pack(self.rhs, block.clone(), cols.clone(), k, NR, packed_rhs);
                    for panel in row_block..next.min(panels) {
                        let at = (panel * pairs + block.start) * MR;
                        let lhs = &self.lhs[at..][..block.len() * MR];
                        for (j, first) in cols.clone().step_by(NR).enumerate() {
                            let rhs = &packed_rhs[j * block.len() * NR..][..block.len() * NR];
                            let tile = Tile {
                                at: panel * MR * n + first,
                                stride: n,
                                rows: MR.min(m - panel * MR),
                                cols: NR.min(cols.end - first),
                                accumulate: accumulate || block.start > range.start,
                            };
                            // SAFETY: `matmul` asserted `available`; the tile lies inside
                            // dst's m x n, in this task's rows and columns only.
                            unsafe { microkernel(lhs, rhs, tiles, tile) }
                        }
                    }
                }
            },
        );
    }
}

/// Where a microkernel's result goes in the shared buffer.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Tile {
    /// Offset of its first element.
    at: usize,
    /// The buffer's row length.
    stride: usize,
    rows: usize,
    cols: usize,
    /// Add to what the buffer holds instead of overwriting it.
    accumulate: bool,
}

/// The product of one packed left panel ([pairs, MR] lanes) and one packed right panel
/// ([pairs, NR] lanes) into `tile`.
///
/// # Safety
/// [`available`] holds, and `tile` lies inside `dst`'s buffer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn microkernel(lhs: &[u32], rhs: &[u32], dst: Tiles, tile: Tile) {
    use std::arch::x86_64::*;
    let pairs = lhs.len() / MR;
    debug_assert_eq!(rhs.len(), pairs * NR);
    let mut sums = [[_mm512_setzero_ps(); 2]; MR];
    for (a, b) in lhs.chunks_exact(MR).zip(rhs.chunks_exact(NR)) {
        // SAFETY: `b` holds NR = 32 lanes, two vectors of 16; the transmutes reinterpret 64
        // bytes of lanes as the 32 bf16 values they are.
        let (b0, b1): (__m512bh, __m512bh) = unsafe {
            (
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b.as_ptr().cast())),
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    b[16..].as_ptr().cast(),
                )),
            )
        };
        for (row, &lane) in sums.iter_mut().zip(a) {
            // SAFETY: as above, 16 copies of one lane.
            let a: __m512bh =
                unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(lane as i32)) };
            row[0] = _mm512_dpbf16_ps(row[0], a, b0);
            row[1] = _mm512_dpbf16_ps(row[1], a, b1);
        }
    }
    let mask = |cols: usize| -> __mmask16 { ((1u32 << cols.min(16)) - 1) as u16 };
    let masks = [mask(tile.cols), mask(tile.cols.saturating_sub(16))];
    for (r, row) in sums.iter().enumerate().take(tile.rows) {
        for (half, (&sum, &mask)) in row.iter().zip(&masks).enumerate() {
            let at = dst.0.wrapping_add(tile.at + r * tile.stride + 16 * half);
            // SAFETY: the mask covers only the tile's columns, inside the buffer; masked-off
            // lanes are not accessed.
            unsafe {
                let sum = if tile.accumulate {
                    _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, at))
                } else {
                    sum
                };
                _mm512_mask_storeu_ps(at, mask, sum);
            }
        }
    }
}

/// Never called: [`available`] is false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn microkernel(_: &[u32], _: &[u32], _: Tiles, _: Tile) {
    unreachable!("the bf16 dot products are x86-64 instructions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bf16_is_to_nearest_with_ties_to_even() {
        let ulp = 2f32.powi(-7);
        assert_eq!(rounded(1.0), 1.0);
        // Halfway between 1 and 1 + ulp the tie goes to the even 1, halfway between 1 + ulp
        // and 1 + 2 ulp to the even 1 + 2 ulp; off halfway, to the nearer.
        assert_eq!(rounded(1.0 + ulp / 2.0), 1.0);
        assert_eq!(rounded(1.0 + 1.5 * ulp), 1.0 + 2.0 * ulp);
        assert_eq!(rounded(-(1.0 + 0.6 * ulp)), -(1.0 + ulp));
        assert!(rounded(f32::NAN).is_nan());
        assert_eq!(rounded(f32::MAX), f32::INFINITY);
        assert_eq!(rounded(f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert_eq!(
            rounded(-f32::MIN_POSITIVE / 2.0).to_bits(),
            (-0.0f32).to_bits()
        );
    }

    /// `len` values in [-1, 1) from a fixed sequence.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The kernel equals the f64 sum of the bf16-rounded operands' products, for each layout
    /// of the operands the convolutions use, on shapes with partial panels, tiles and k blocks.
    #[test]
    fn products_equal_the_sums_of_rounded_operands() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512_BF16 dot products");
            return;
        }
        // The second and third are split along k (few tiles, blocks of k), the last runs in
        // five tiles.
        for (m, n, k) in [(16, 32, 2), (37, 70, 1101), (150, 300, 515), (40, 600, 40)] {
            let (lhs, rhs, initial) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
            for (lhs_transposed, rhs_transposed, accumulate) in [
                (false, false, false),
                (true, false, true),
                (false, true, true),
                (true, true, false),
            ] {
                let view =
                    |data: &[f32], cols: usize, transposed: bool| -> (Vec<f32>, isize, isize) {
                        let rows = data.len() / cols;
                        if transposed {
                            // Stored column by column: element (r, c) at c x rows + r.
                            let mut stored = vec![0.0; data.len()];
                            for r in 0..rows {
                                for c in 0..cols {
                                    stored[c * rows + r] = data[r * cols + c];
                                }
                            }
                            (stored, rows as isize, 1)
                        } else {
                            (data.to_vec(), 1, cols as isize)
                        }
                    };
                let (a, a_col, a_row) = view(&lhs, k, lhs_transposed);
                let (b, b_col, b_row) = view(&rhs, n, rhs_transposed);
                let mut dst = initial.clone();
                matmul(
                    m,
                    n,
                    k,
                    &mut dst,
                    (&a, a_col, a_row),
                    (&b, b_col, b_row),
                    accumulate,
                );
                for row in 0..m {
                    for col in 0..n {
                        let terms = (0..k).map(|i| {
                            rounded(lhs[row * k + i]) as f64 * rounded(rhs[i * n + col]) as f64
                        });
                        let (sum, size) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                        let expected = sum
                            + if accumulate {
                                initial[row * n + col] as f64
                            } else {
                                0.0
                            };
                        let got = dst[row * n + col] as f64;
                        assert!(
                            (got - expected).abs() <= 1e-5 * (size + 1.0),
                            "{m}x{n}x{k} ({lhs_transposed}, {rhs_transposed}, {accumulate}) at ({row}, {col}): {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
