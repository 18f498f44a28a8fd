//! The transforms of a part's input blocks, products and output gradients. Each entry of the
//! blocks (or tiles) of one plane is first gathered into a plane of its own, tile after tile, so
//! that a transform is one pass per position ξ over every tile of the plane, on slices pulp
//! compiles for the CPU's vectors (a pass per row of tiles was mostly loop overhead and scalar
//! ends on the U-Net's maps: BENCHMARKS.md).

use rayon::prelude::*;

pub(super) use pulp::Arch;
use pulp::{Simd, WithSimd};

use super::Matrix;
use super::layout::Layout;
use super::plan::{Part, Slot};
use crate::backend::flex::conv::bf16::{Packed, SharedLanes, pack_rows};
use crate::backend::flex::conv::im2col::with_scratch;

impl Part {
    /// inputs[channel, ξ, slot] = (Bᵀ d B)[ξ] of each input block d of one image, one task per
    /// plane of the tensor (its four space-to-depth planes read it together).
    pub(super) fn transform_inputs(&self, image: &[f32], inputs: &mut [f32], slot: Slot) {
        let per_plane = self.inputs.planes_per_plane();
        let positions = self.algorithm.positions();
        let transform = self.input_transform(image);
        inputs[..self.channels * positions * slot.stride]
            .par_chunks_mut(per_plane * positions * slot.stride)
            .enumerate()
            .for_each(|(index, planes)| transform(index, planes, slot));
    }

    /// [`Self::transform_inputs`] as the right operands of the bf16 dot products, packed whole
    /// (`packed`, one after the other in `lanes`, ξ by ξ: [`pack_rows`]), the image's tiles as
    /// the columns from `slot.offset`. Planes only, as the 3x3 convolutions have them.
    pub(super) fn transform_inputs_packed(
        &self,
        image: &[f32],
        packed: Packed,
        lanes: SharedLanes,
        slot: Slot,
    ) {
        assert!(self.inputs == Layout::Planes && packed.k == self.channels);
        let (positions, tiles) = (self.algorithm.positions(), self.tiles());
        let transform = self.input_transform(image);
        let own = Slot {
            offset: 0,
            stride: tiles,
        };
        let channel = |channel: usize, lines: &mut [f32]| transform(channel, lines, own);
        pack_rows(packed, positions, lanes, (slot.offset, tiles), channel);
    }

    /// The transform of one plane of the tensor (`index`) of `image` into its planes' lines
    /// [per_plane, ξ, slot]. The blocks of neighbouring tiles overlap by kernel - 1 rows and
    /// columns.
    fn input_transform(&self, image: &[f32]) -> impl Fn(usize, &mut [f32], Slot) + Sync {
        let (tile, tile_cols, tiles) = (self.algorithm.tile, self.tile_cols(), self.tiles());
        let (side, positions) = (self.algorithm.side(), self.algorithm.positions());
        // One (row phase, block column) of the gathered blocks: the rows of tiles that the
        // blocks of the last row reach into beyond the tiles' own.
        let reach = self.tile_rows() + (side - 1) / tile;
        let band = reach * tile_cols;
        let (height, width) = self.inputs.tensor_plane(self.height, self.width);
        let per_plane = self.inputs.planes_per_plane();
        let padding = self.padding as isize;
        // Only the plan's own pixels, zero beyond: a space-to-depth's tensor reaches beyond its
        // last column.
        let rows = (self.height + self.padding).min(tile * reach);
        let (tables, arch) = (tables(self.algorithm.input), Arch::new());
        move |index: usize, planes: &mut [f32], slot: Slot| {
            let plane = &image[index * height * width..][..height * width];
            with_scratch(tile * side * band, |gathered| {
                let blocks = planes.chunks_exact_mut(positions * slot.stride);
                for (sub, blocks) in blocks.enumerate() {
                    let at = self.inputs.place(index * per_plane + sub);
                    let step = at.step as isize;
                    // gathered[y mod tile, c, y div tile, t] = padded row y, column
                    // tile t + c: plan pixel (y - padding, tile t + c - padding).
                    gathered.fill(0.0);
                    for y in 0..rows {
                        let row = at.row + step * (y as isize - padding);
                        if row < 0 || row >= height as isize {
                            continue;
                        }
                        let line = &plane[row as usize * width..][..width];
                        for c in 0..side {
                            let first = at.col + step * (c as isize - padding);
                            let to = (y % tile * side + c) * band + y / tile * tile_cols;
                            let inside =
                                (self.width + self.padding).saturating_sub(c).div_ceil(tile);
                            let values = &mut gathered[to..][..tile_cols.min(inside)];
                            gather(line, first, step * tile as isize, values);
                        }
                    }
                    // Entry (r, c) of the blocks of every tile.
                    let d = |r: usize, c: usize| {
                        &gathered[(r % tile * side + c) * band + r / tile * tile_cols..]
                    };
                    let lines = blocks.chunks_exact_mut(slot.stride);
                    let lines = lines.map(|line| &mut line[slot.offset..][..tiles]);
                    combine(arch, lines, &tables, d);
                }
            })
        }
    }

    /// outputs of one image, in its tensor = (Aᵀ m A) of each tile's products m, one task per
    /// plane of the tensor.
    pub(super) fn transform_outputs(&self, products: &[f32], slot: Slot, outputs: &mut [f32]) {
        let (tile, tile_cols, tiles) = (self.algorithm.tile, self.tile_cols(), self.tiles());
        let side = self.algorithm.side();
        let per_xi = self.out_channels * slot.stride;
        let per_plane = self.outputs.planes_per_plane();
        let (height, width) = self.outputs.tensor_plane(self.out_h, self.out_w);
        let (tables, arch) = (tables(self.algorithm.output), Arch::new());
        outputs[..self.out_image()]
            .par_chunks_mut(height * width)
            .enumerate()
            .for_each(|(plane, target)| {
                // tiled[i, j, tile] = output (i, j) of each tile.
                with_scratch(tile * tile * tiles, |tiled| {
                    for channel in plane * per_plane..(plane + 1) * per_plane {
                        let first = channel * slot.stride + slot.offset;
                        let m = |i: usize, j: usize| &products[(side * i + j) * per_xi + first..];
                        combine(arch, tiled.chunks_exact_mut(tiles), &tables, m);
                        let at = self.outputs.place(channel);
                        for y in 0..self.out_h {
                            let row = at.row + (at.step * y) as isize;
                            if row < 0 || row >= height as isize {
                                continue;
                            }
                            let (i, from) = (y % tile, y / tile * tile_cols);
                            let phase =
                                |j: usize| &tiled[(i * tile + j) * tiles + from..][..tile_cols];
                            let line = &mut target[row as usize * width..][..width];
                            scatter(phase, tile, self.out_w, at.col, at.step, line);
                        }
                    }
                })
            });
    }

    /// transformed[out_channel, ξ, slot] = (A g Aᵀ)[ξ] of each tile's output gradient g (zero
    /// beyond the output) of one image, one task per output channel.
    pub(super) fn transform_grads(&self, grads: &[f32], transformed: &mut [f32], slot: Slot) {
        let (tile, tile_cols, tiles) = (self.algorithm.tile, self.tile_cols(), self.tiles());
        let (height, width) = self.outputs.tensor_plane(self.out_h, self.out_w);
        let (tables, arch) = (tables(self.algorithm.output.transpose()), Arch::new());
        let positions = self.algorithm.positions();
        transformed[..self.out_channels * positions * slot.stride]
            .par_chunks_mut(positions * slot.stride)
            .enumerate()
            .for_each(|(channel, blocks)| {
                let at = self.outputs.place(channel);
                let plane = &grads[at.plane * height * width..][..height * width];
                let step = at.step as isize;
                // tiled[a, b, tile] = gradient (a, b) of each tile.
                with_scratch(tile * tile * tiles, |tiled| {
                    tiled.fill(0.0);
                    for y in 0..self.out_h {
                        let row = at.row + step * y as isize;
                        if row < 0 || row >= height as isize {
                            continue;
                        }
                        let line = &plane[row as usize * width..][..width];
                        let (a, to) = (y % tile, y / tile * tile_cols);
                        for b in 0..tile.min(self.out_w) {
                            let values = &mut tiled[(a * tile + b) * tiles + to..][..tile_cols];
                            let first = at.col + step * b as isize;
                            // Only the part's own columns: its last tile may reach beyond them.
                            let inside = (self.out_w - b).div_ceil(tile);
                            gather(line, first, step * tile as isize, &mut values[..inside]);
                        }
                    }
                    let g = |a: usize, b: usize| &tiled[(a * tile + b) * tiles..];
                    let lines = blocks.chunks_exact_mut(slot.stride);
                    let lines = lines.map(|line| &mut line[slot.offset..][..tiles]);
                    combine(arch, lines, &tables, g);
                })
            });
    }
}

/// values[t] = line[first + stride x t] where that is inside the line (the rest untouched).
fn gather(line: &[f32], first: isize, stride: isize, values: &mut [f32]) {
    let skip = if first < 0 {
        (-first + stride - 1) / stride
    } else {
        0
    };
    let start = first + skip * stride;
    if start >= line.len() as isize || skip as usize >= values.len() {
        return;
    }
    let sources = line[start as usize..].iter().step_by(stride as usize);
    for (value, &x) in values[skip as usize..].iter_mut().zip(sources) {
        *value = x;
    }
}

/// Writes one output row of a plan plane into its line of the tensor plane: `phase(p)` holds
/// plan columns tile x t + p, which land at column `col` + `step` x (tile x t + p) where that is
/// inside the line.
fn scatter<'a>(
    phase: impl Fn(usize) -> &'a [f32],
    tile: usize,
    out_w: usize,
    col: isize,
    step: usize,
    line: &mut [f32],
) {
    let (width, step, stride) = (line.len() as isize, step as isize, (step * tile) as isize);
    for p in 0..tile.min(out_w) {
        let values = phase(p);
        let first = col + step * p as isize;
        let skip = if first < 0 {
            (-first + stride - 1) / stride
        } else {
            0
        };
        // Plan columns tile x t + p inside the output.
        let inside = (out_w - p).div_ceil(tile).min(values.len());
        let start = first + skip * stride;
        if start >= width || skip as usize >= inside {
            continue;
        }
        let targets = line[start as usize..].iter_mut().step_by(stride as usize);
        for (target, &value) in targets.zip(&values[skip as usize..inside]) {
            *target = value;
        }
    }
}

/// The nonzero terms of each value (i, j) of F x Fᵀ, row by row: (r, c, F[i][r] F[j][c]).
pub(super) fn tables(f: Matrix) -> Tables {
    let mut tables = Vec::with_capacity(f.rows * f.rows);
    for i in 0..f.rows {
        for j in 0..f.rows {
            let mut terms = Vec::new();
            for r in 0..f.cols {
                for c in 0..f.cols {
                    let (fr, fc) = (f.values[i][r], f.values[j][c]);
                    if fr != 0.0 && fc != 0.0 {
                        terms.push((r, c, fr * fc));
                    }
                }
            }
            tables.push(terms);
        }
    }
    tables
}

/// Tables of terms, each the nonzero terms of one value of a transform.
pub(super) type Tables = Vec<Vec<(usize, usize, f32)>>;

/// For each table and its line `out` of `lines`: out[t] = the sum over the table's terms
/// (r, c, weight) of weight x x(r, c)[t], where x(r, c) is a slice at least as long as out. In
/// one pass over each line, compiled for the CPU's vectors.
pub(super) fn combine<'o, 'a>(
    arch: Arch,
    lines: impl Iterator<Item = &'o mut [f32]>,
    tables: &Tables,
    x: impl Fn(usize, usize) -> &'a [f32],
) {
    arch.dispatch(Combinations { lines, tables, x });
}

/// [`combine`] through pulp's dispatch, which runs it inside a function compiled for the CPU's
/// vectors: its loops are in `#[inline(always)]` functions, so they are compiled there too (a
/// closure's body would be compiled apart, for the baseline CPU: SSE2 on x86-64).
struct Combinations<'t, L, X> {
    lines: L,
    tables: &'t Tables,
    x: X,
}

impl<'o, 'a, L, X> WithSimd for Combinations<'_, L, X>
where
    L: Iterator<Item = &'o mut [f32]>,
    X: Fn(usize, usize) -> &'a [f32],
{
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Combinations { lines, tables, x } = self;
        for (out, terms) in lines.zip(tables) {
            match terms.len() {
                1 => combine_n::<1>(out, terms, &x),
                2 => combine_n::<2>(out, terms, &x),
                3 => combine_n::<3>(out, terms, &x),
                4 => combine_n::<4>(out, terms, &x),
                6 => combine_n::<6>(out, terms, &x),
                8 => combine_n::<8>(out, terms, &x),
                9 => combine_n::<9>(out, terms, &x),
                12 => combine_n::<12>(out, terms, &x),
                16 => combine_n::<16>(out, terms, &x),
                _ => {
                    out.fill(0.0);
                    for &(r, c, weight) in terms {
                        for (value, x) in out.iter_mut().zip(x(r, c)) {
                            *value += weight * x;
                        }
                    }
                }
            }
        }
    }
}

/// f32 lanes of the widest vectors (AVX-512): [`combine_n`]'s blocks.
const LANES: usize = 16;

/// A line of [`combine`] for N terms, a block of [`LANES`] values at a time, the last one
/// overlapping the one before where the line has no whole number of blocks: loops of fixed
/// sizes have no bounds to check, which otherwise left up to 32 values of every line to a
/// scalar loop.
#[inline(always)]
fn combine_n<'a, const N: usize>(
    out: &mut [f32],
    terms: &[(usize, usize, f32)],
    x: impl Fn(usize, usize) -> &'a [f32],
) {
    let len = out.len();
    let slices: [&[f32]; N] = std::array::from_fn(|k| &x(terms[k].0, terms[k].1)[..len]);
    let weights: [f32; N] = std::array::from_fn(|k| terms[k].2);
    if len < LANES {
        for (t, value) in out.iter_mut().enumerate() {
            *value = (0..N).map(|k| weights[k] * slices[k][t]).sum();
        }
        return;
    }
    let starts = (0..len - LANES).step_by(LANES).chain([len - LANES]);
    for start in starts {
        let sources = std::array::from_fn(|k| slices[k][start..][..LANES].try_into().unwrap());
        out[start..][..LANES].copy_from_slice(&block_sums(&weights, sources));
    }
}

/// The weighted sums of one block of N sources.
#[inline(always)]
fn block_sums<const N: usize>(weights: &[f32; N], sources: [&[f32; LANES]; N]) -> [f32; LANES] {
    let mut sums: [f32; LANES] = std::array::from_fn(|i| weights[0] * sources[0][i]);
    for k in 1..N {
        for (sum, &x) in sums.iter_mut().zip(sources[k]) {
            *sum += weights[k] * x;
        }
    }
    sums
}
