//! Matrix products with bf16 operands and f32 sums: what `--precision bf16` runs on Flex, on the
//! CPU's bf16 dot products (AVX512_BF16 `vdpbf16ps`, `simd`) or on Intel's AMX tiles
//! (`tdpbf16ps`, `tiles`). As in PyTorch's autocast, each operand is rounded to bf16 (to
//! nearest, ties to even) and the products are summed in f32. gemm 0.19 has no bf16 kernels,
//! hence these.
//!
//! The layout is the classic blocked one: the left operand is packed once into panels of a kernel's
//! rows, the right one per task into panels of `NR` columns (or whole beforehand, by a caller that
//! produces it: [`Packed`]), both as pairs of consecutive k: the two bf16 halves of a 32-bit lane,
//! which both instructions multiply and add into one f32 lane. Each task computes a tile of `MC` x
//! `NC` of the result, `KC` pairs of k at a time. The dot products take a left panel pair by pair
//! (`MR` rows side by side), the tiles row by row (each of `TILE_ROWS` rows' pairs in a line, as a
//! tile's rows are loaded).

use std::ops::Range;

use rayon::prelude::*;

use super::Threads;
use super::gemm::View;
use super::im2col::with_scratch;
use crate::backend::Bf16Products;

#[cfg(target_arch = "x86_64")]
mod simd;
#[cfg(test)]
mod tests;
pub(super) mod tiles;

/// Rows of the dot products' tile: 8 rows x 2 vectors of 16 columns = 16 accumulators.
const MR: usize = 8;
/// Rows of the AMX kernel's tile: two tiles of 16 rows.
const TILE_ROWS: usize = 32;
/// Columns of either kernel's tile (two vectors, or two tiles, of 16).
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

/// The fastest products this CPU offers (the tiles check themselves on first use).
pub(crate) fn offered() -> Bf16Products {
    if !available() {
        Bf16Products::F32
    } else if tiles::available() {
        Bf16Products::Tiles
    } else {
        Bf16Products::DotProducts
    }
}

/// A microkernel and the packing of the left operand it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
    /// AVX512_BF16's `vdpbf16ps`: tiles of `MR` x `NR`.
    DotProducts,
    /// AMX's `tdpbf16ps`: tiles of `TILE_ROWS` x `NR`, in four 16 x 16 accumulator tiles.
    Tiles,
    /// The scalar model of `Tiles`, instruction by instruction ([`tiles::model`]): checks the
    /// tiles' packing and blocking on every CPU, and the instructions where the CPU has them.
    #[cfg(test)]
    TileModel,
}

impl Kernel {
    /// The kernel for `products` on a product of this shape, if one suits it: two panels of
    /// rows and one of columns at least. Narrower ones (a 3-channel output layer) stay on the
    /// f32 path, and so, on the dot products, do products of fewer columns than a task's tile
    /// whose sums are shorter than four times their rows: the input gradients on small maps,
    /// which round and pack the whole weight for a few columns, were slower than in f32, while
    /// the weight gradients of the first layers (few columns, sums over every pixel) were faster
    /// (BENCHMARKS.md, bf16 on narrow products).
    pub(super) fn suited(products: Bf16Products, m: usize, n: usize, k: usize) -> Option<Self> {
        match products {
            Bf16Products::F32 => None,
            Bf16Products::Tiles if m >= 2 * TILE_ROWS && n >= NR && k >= 2 * tiles::STEP => {
                Some(Kernel::Tiles)
            }
            _ if m >= 2 * MR && n >= NR && k >= 2 && (n >= NC || k >= 4 * m) => {
                Some(Kernel::DotProducts)
            }
            _ => None,
        }
    }

    /// Whether a product of this shape on `products` reads its right operand packed whole
    /// ([`Packed`]), as callers that produce it row by row then write it: on the dot products.
    pub(super) fn takes_packed(products: Bf16Products, m: usize, n: usize, k: usize) -> bool {
        Kernel::suited(products, m, n, k) == Some(Kernel::DotProducts)
    }

    /// Whether this CPU runs the kernel.
    fn runs_here(self) -> bool {
        match self {
            Kernel::DotProducts => available(),
            Kernel::Tiles => tiles::available(),
            #[cfg(test)]
            Kernel::TileModel => true,
        }
    }

    /// Rows of a left panel.
    fn rows(self) -> usize {
        match self {
            Kernel::DotProducts => MR,
            _ => TILE_ROWS,
        }
    }

    /// Pairs of k the kernel takes at a time: a product's are padded (with zeros) to a multiple.
    fn step(self) -> usize {
        match self {
            Kernel::DotProducts => 1,
            _ => tiles::STEP,
        }
    }
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
    let vectors = if cfg!(target_arch = "x86_64") && available() {
        out.len() / 8 * 8
    } else {
        0
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `vectors` is 0 unless `available` holds; the slices hold `vectors` values.
    unsafe {
        simd::interleave(&even[..vectors], &odd[..vectors], &mut out[..vectors]);
    }
    for ((lane, &e), &o) in out.iter_mut().zip(even).zip(odd).skip(vectors) {
        *lane = pair(e, o);
    }
}

/// `out[i]` = pair(values[2i], values[2i + 1]).
fn adjacent(values: &[f32], out: &mut [u32]) {
    let vectors = if cfg!(target_arch = "x86_64") && available() {
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

/// The result's buffer, shared by tasks that write disjoint tiles of it.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: each task writes only its own tile (rows and columns of its own), see `compute`.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], plus dst when `accumulate`, with the operands
/// rounded to bf16, on `kernel`, which the caller chose with [`Kernel::suited`], on `threads`.
pub(super) fn matmul(
    kernel: Kernel,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (lhs, rhs): (View, Rhs),
    accumulate: bool,
    threads: Threads,
) {
    assert!(kernel.runs_here() && dst.len() >= m * n);
    if let Rhs::Packed(lanes) = rhs {
        let whole = Packed { k, n };
        assert!(kernel == Kernel::DotProducts && lanes.len() >= whole.len());
    }
    compute(kernel, (m, n, k), dst, lhs, rhs, accumulate, threads);
}

/// The right operand of a product.
#[derive(Clone, Copy)]
pub(super) enum Rhs<'a> {
    /// In f32, packed block by block as the tasks reach it.
    View(View<'a>),
    /// Packed whole for the dot products beforehand ([`Packed`]).
    Packed(&'a [u32]),
}

/// The layout of a right operand of `k` rows and `n` columns packed whole for the dot products:
/// panels of `NR` columns, each of all the pairs of k ([panel, pair, NR] lanes; zeros beyond
/// k, anything beyond n), as [`pack`] packs a block. Callers that produce the operand row by row
/// (im2col, Winograd's input transform) write it so ([`pack_rows`]), and the products read its
/// panels as they lie.
#[derive(Clone, Copy)]
pub(super) struct Packed {
    pub(super) k: usize,
    pub(super) n: usize,
}

impl Packed {
    /// Lanes of the whole operand.
    pub(super) fn len(&self) -> usize {
        self.n.div_ceil(NR) * self.k.div_ceil(2) * NR
    }

    /// Writes rows 2p (`even`) and 2p + 1 (`odd`; zeros where None) of the columns from `first`
    /// (as many as `even` holds) into `lanes`, the operand's buffer, which other threads write
    /// other rows or columns of.
    fn write(&self, lanes: SharedLanes, p: usize, first: usize, even: &[f32], odd: Option<&[f32]>) {
        let pairs = self.k.div_ceil(2);
        assert!(lanes.1 >= self.len() && p < pairs && first + even.len() <= self.n);
        let mut col = first;
        while col < first + even.len() {
            let len = (NR - col % NR).min(first + even.len() - col);
            let at = (col / NR * pairs + p) * NR + col % NR;
            // SAFETY: the assert keeps `at + len` inside the buffer; the caller writes each
            // (pair, column) from one thread only.
            let out = unsafe { std::slice::from_raw_parts_mut(lanes.0.add(at), len) };
            let even = &even[col - first..][..len];
            match odd {
                Some(odd) => interleave(even, &odd[col - first..][..len], out),
                None => out
                    .iter_mut()
                    .zip(even)
                    .for_each(|(o, &e)| *o = pair(e, 0.0)),
            }
            col += len;
        }
    }
}

/// Writes `count` right operands, each packed whole (`packed`, one after the other in `lanes`),
/// from rows that `rows(r, values)` computes in f32: row r of every operand at once, `values`
/// holding `count` lines of `len` columns, the columns from `first` in each operand. One task per
/// pair of rows, whose lines are converted while they are in the cache: a caller that wrote
/// every row in f32 first, for the products to pack, paid a pass over all of them
/// (BENCHMARKS.md, 2026-12-07 (sixth)).
pub(super) fn pack_rows(
    packed: Packed,
    count: usize,
    lanes: SharedLanes,
    (first, len): (usize, usize),
    rows: impl Fn(usize, &mut [f32]) + Sync,
) {
    (0..packed.k.div_ceil(2)).into_par_iter().for_each(|p| {
        with_scratch(2 * count * len, |values| {
            let (even, odd) = values.split_at_mut(count * len);
            rows(2 * p, even);
            let has_odd = 2 * p + 1 < packed.k;
            if has_odd {
                rows(2 * p + 1, odd);
            }
            for i in 0..count {
                let lanes = lanes.part(i * packed.len(), packed.len());
                let odd = has_odd.then(|| &odd[i * len..][..len]);
                packed.write(lanes, p, first, &even[i * len..][..len], odd);
            }
        })
    });
}

/// A [`Packed`] operand's buffer, shared by the threads that write disjoint parts of it.
#[derive(Clone, Copy)]
pub(super) struct SharedLanes(*mut u32, usize);
// SAFETY: as `Shared`: each thread writes only its own rows or columns ([`Packed::write`]).
unsafe impl Send for SharedLanes {}
unsafe impl Sync for SharedLanes {}

impl SharedLanes {
    pub(super) fn new(lanes: &mut [u32]) -> SharedLanes {
        SharedLanes(lanes.as_mut_ptr(), lanes.len())
    }

    /// Its `len` lanes from `start`.
    fn part(self, start: usize, len: usize) -> SharedLanes {
        assert!(start + len <= self.1);
        // SAFETY: the assert keeps the part inside the buffer.
        SharedLanes(unsafe { self.0.add(start) }, len)
    }
}

/// [`matmul`] without the check that the CPU runs `kernel`.
///
/// A product on all threads with fewer tiles than threads (a weight gradient: few rows and
/// columns, k the pixels) is split along k as well, each part summed into a buffer of its own.
fn compute(
    kernel: Kernel,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: View,
    rhs: Rhs,
    accumulate: bool,
    threads: Threads,
) {
    let rows = kernel.rows();
    let pairs = k.div_ceil(2).next_multiple_of(kernel.step());
    let mut packed_lhs = vec![0u32; m.div_ceil(rows) * pairs * rows];
    let pack_panel = |(panel, out): (usize, &mut [u32])| {
        // lhs^T [k, m], whose columns are lhs's rows.
        let transposed = (lhs.0, lhs.2, lhs.1);
        let panel_rows = panel * rows..(panel * rows + rows).min(m);
        // The tiles load each row's pairs as a line: panels one row wide.
        let width = if kernel == Kernel::DotProducts { MR } else { 1 };
        pack(transposed, 0..pairs, panel_rows, k, width, out);
    };
    if threads == Threads::All {
        let panels = packed_lhs.par_chunks_mut(pairs * rows).enumerate();
        panels.for_each(pack_panel);
    } else {
        packed_lhs
            .chunks_mut(pairs * rows)
            .enumerate()
            .for_each(pack_panel);
    }
    let product = Product {
        kernel,
        lhs: &packed_lhs,
        rhs,
        m,
        n,
        k,
        pairs,
    };
    let tiles = m.div_ceil(MC) * n.div_ceil(NC);
    let parts = (2 * rayon::current_num_threads())
        .div_ceil(tiles)
        .min(pairs.div_ceil(KC));
    if threads == Threads::Calling || parts <= 1 {
        return product.pairs(0..pairs, dst, accumulate, threads);
    }
    let part = pairs.div_ceil(KC).div_ceil(parts) * KC;
    let sums: Vec<Vec<f32>> = (0..pairs)
        .step_by(part)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let mut sum = vec![0f32; m * n];
            product.pairs(
                start..(start + part).min(pairs),
                &mut sum,
                false,
                Threads::All,
            );
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
    kernel: Kernel,
    /// Panels of the kernel's rows, each of all the pairs of k.
    lhs: &'a [u32],
    rhs: Rhs<'a>,
    m: usize,
    n: usize,
    k: usize,
    /// The pairs of k, padded to the kernel's step.
    pairs: usize,
}

impl Product<'_> {
    /// dst (plus dst when `accumulate`) = the sum over the pairs of k in `range`, in tiles of
    /// `MC` x `NC`, one task each, on `threads`.
    fn pairs(&self, range: Range<usize>, dst: &mut [f32], accumulate: bool, threads: Threads) {
        let Self {
            kernel,
            m,
            n,
            k,
            pairs,
            ..
        } = *self;
        let rows = kernel.rows();
        let (panels, n_tiles) = (m.div_ceil(rows), n.div_ceil(NC));
        let shared = Shared(dst.as_mut_ptr());
        let tasks = 0..m.div_ceil(MC) * n_tiles;
        let packed_rhs = || match self.rhs {
            Rhs::View(_) => vec![0u32; KC * NC],
            Rhs::Packed(_) => Vec::new(),
        };
        let task = |packed_rhs: &mut Vec<u32>, task: usize| {
            let cols = task % n_tiles * NC..(task % n_tiles * NC + NC).min(n);
            let (row_block, next) = (task / n_tiles * MC / rows, (task / n_tiles + 1) * MC / rows);
            for start in range.clone().step_by(KC) {
                let block = start..(start + KC).min(range.end);
                if let Rhs::View(rhs) = self.rhs {
                    pack(rhs, block.clone(), cols.clone(), k, NR, packed_rhs);
                }
                for panel in row_block..next.min(panels) {
                    for (j, first) in cols.clone().step_by(NR).enumerate() {
                        let rhs = match self.rhs {
                            Rhs::View(_) => &packed_rhs[j * block.len() * NR..],
                            Rhs::Packed(lanes) => &lanes[(first / NR * pairs + start) * NR..],
                        };
                        let rhs = &rhs[..block.len() * NR];
                        let tile = Tile {
                            at: panel * rows * n + first,
                            stride: n,
                            rows: rows.min(m - panel * rows),
                            cols: NR.min(cols.end - first),
                            accumulate: accumulate || block.start > range.start,
                        };
                        let lhs = &self.lhs[panel * pairs * rows..][..pairs * rows];
                        self.microkernel(lhs, block.clone(), rhs, shared, tile);
                    }
                }
            }
        };
        if threads == Threads::All {
            tasks.into_par_iter().for_each_init(packed_rhs, task);
        } else {
            let mut packed_rhs = packed_rhs();
            tasks.for_each(|t| task(&mut packed_rhs, t));
        }
    }

    /// The product of one packed left panel's pairs `block` and one packed right panel
    /// ([block, NR] lanes) into `tile` of `dst`, which lies inside the result, in the calling
    /// task's rows and columns only.
    fn microkernel(
        &self,
        panel: &[u32],
        block: Range<usize>,
        rhs: &[u32],
        dst: Shared,
        tile: Tile,
    ) {
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::DotProducts => {
                let lhs = &panel[block.start * MR..block.end * MR];
                // SAFETY: `matmul` asserted `available`; the tile lies inside the result.
                unsafe { simd::dot_products(lhs, rhs, dst, tile) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::DotProducts => unreachable!("the bf16 dot products are x86-64 instructions"),
            _ => {
                let sums =
                    tiles::product(self.kernel == Kernel::Tiles, panel, self.pairs, block, rhs);
                for r in 0..tile.rows {
                    // SAFETY: the tile's rows and columns lie inside the result and belong to
                    // this task alone.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.0.add(tile.at + r * tile.stride),
                            tile.cols,
                        )
                    };
                    let sums = &sums.0[r * NR..][..tile.cols];
                    if tile.accumulate {
                        row.iter_mut().zip(sums).for_each(|(d, s)| *d += s);
                    } else {
                        row.copy_from_slice(sums);
                    }
                }
            }
        }
    }
}

/// Where a microkernel's result goes in the shared buffer.
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
