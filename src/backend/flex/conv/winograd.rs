//! 3x3 stride-1 convolutions (the ResNet generators' blocks) by Winograd's minimal filtering
//! F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//!
//! Each 2x2 block of outputs (a tile) comes from the 4x4 block of inputs around it with 16
//! products instead of 36. With the weights and the input blocks transformed, the convolution
//! is 16 matrix products U_ξ[out, in] x V_ξ[in, tiles], one per position ξ of the 4x4
//! transform, each a quarter of the pixels wide: 2.25 times fewer multiplications than the one
//! product over the column matrix, and no column matrix (nine copies of the input). The input
//! gradient is the same kind of convolution, of the output gradient with the weights flipped and
//! transposed; the weight gradient is the same 16 products against the transformed output
//! gradient.
//!
//! The transforms' coefficients are 0, ±1 and ±1/2, so in f32 the results are as close to the
//! exact ones as the column matrix's (the kernel tests compare both with Burn's convolution).
//! `--precision bf16` keeps the columns: its products round the operands themselves to bf16.

use pulp::Arch;
use rayon::prelude::*;

use super::gemm::matmul;
use super::im2col::{Geometry, with_scratch};
use super::kernel::transpose_into;

/// Positions of the 4x4 transform: the number of products.
const XI: usize = 16;

/// Bᵀ: an input block d to Bᵀ d B.
const INPUT: [[f32; 4]; 4] = [
    [1.0, 0.0, -1.0, 0.0],
    [0.0, 1.0, 1.0, 0.0],
    [0.0, -1.0, 1.0, 0.0],
    [0.0, 1.0, 0.0, -1.0],
];

/// G: a 3x3 filter g to G g Gᵀ.
const FILTER: [[f32; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// Aᵀ: a tile's 16 products m to its 2x2 outputs Aᵀ m A.
const OUTPUT: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// The taps of a 3x3 filter.
const TAPS: usize = 9;

/// Input and output channels, and output pixels, from which the transforms cost less than the
/// multiplications they save: the weights' transform is per call, the savings per pixel
/// (BENCHMARKS.md: slower on the ResNet's 16x16 maps, faster from 32x32).
const MIN_CHANNELS: usize = 16;
const MIN_PIXELS: usize = 32 * 32;

impl Geometry {
    /// Whether the convolution to `out_channels` is computed here. Its input gradient is a
    /// convolution with padding 2 - padding, hence the bound on the padding.
    pub(super) fn winograd(&self, out_channels: usize) -> bool {
        self.kernel == 3
            && self.stride == 1
            && self.padding <= 2
            && !self.bf16
            && self.channels >= MIN_CHANNELS
            && out_channels >= MIN_CHANNELS
            && self.out_h * self.out_w >= MIN_PIXELS
    }

    /// outputs[batch, out_channels, out_h, out_w] of images[batch, channels, height, width].
    pub(super) fn convolve_winograd(
        &self,
        images: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let filters = transform_weights(weights, out_channels, self.channels, false);
        self.plan(out_channels).convolve(images, &filters)
    }

    /// The adjoint of [`Self::convolve_winograd`]: images from grads[batch, out_channels,
    /// out_h, out_w], as the convolution of the grads with the weights flipped and transposed.
    pub(super) fn convolve_winograd_adjoint(
        &self,
        grads: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let filters = transform_weights(weights, out_channels, self.channels, true);
        self.plan(out_channels).adjoint().convolve(grads, &filters)
    }

    /// The weight gradient [out_channels, channels, 3, 3] of [`Self::convolve_winograd`].
    pub(super) fn weight_gradient_winograd(
        &self,
        images: &[f32],
        grads: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        self.plan(out_channels).weight_gradient(images, grads)
    }

    fn plan(&self, out_channels: usize) -> Plan {
        Plan {
            channels: self.channels,
            height: self.height,
            width: self.width,
            padding: self.padding,
            out_channels,
            out_h: self.out_h,
            out_w: self.out_w,
        }
    }
}

/// A 3x3 stride-1 convolution with zero padding, from planes [channels, height, width] to
/// [out_channels, out_h, out_w] (each side: input + 2 x padding - 2).
#[derive(Clone, Copy)]
struct Plan {
    channels: usize,
    height: usize,
    width: usize,
    padding: usize,
    out_channels: usize,
    out_h: usize,
    out_w: usize,
}

impl Plan {
    /// The convolution from the outputs back to the inputs, with the flipped weights: padding
    /// 2 - padding makes its outputs the inputs' size.
    fn adjoint(self) -> Plan {
        Plan {
            channels: self.out_channels,
            height: self.out_h,
            width: self.out_w,
            padding: 2 - self.padding,
            out_channels: self.channels,
            out_h: self.height,
            out_w: self.width,
        }
    }

    fn tile_rows(&self) -> usize {
        self.out_h.div_ceil(2)
    }

    fn tile_cols(&self) -> usize {
        self.out_w.div_ceil(2)
    }

    fn tiles(&self) -> usize {
        self.tile_rows() * self.tile_cols()
    }

    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The convolution of images[batch, image] with the transformed weights `filters`
    /// [ξ, out_channels, channels].
    fn convolve(&self, images: &[f32], filters: &[f32]) -> Vec<f32> {
        let (n, out_image) = (self.tiles(), self.out_channels * self.out_plane());
        let (out_channels, depth) = (self.out_channels, self.channels);
        let batch = images.len() / self.image().max(1);
        let mut outputs = vec![0f32; batch * out_image];
        with_scratch(XI * depth * n, |inputs| {
            with_scratch(XI * out_channels * n, |products| {
                for (image, outputs) in images
                    .chunks(self.image())
                    .zip(outputs.chunks_mut(out_image))
                {
                    self.transform_inputs(image, inputs);
                    // products[ξ] [out, n] = filters[ξ] [out, in] x inputs[.., ξ, ..] [in, n]
                    for (xi, product) in products.chunks_mut(out_channels * n).enumerate() {
                        let filter = (&filters[xi * out_channels * depth..], 1, depth as isize);
                        let input = (&inputs[xi * n..], 1, (XI * n) as isize);
                        matmul(out_channels, n, depth, product, filter, input, false);
                    }
                    self.transform_outputs(products, outputs);
                }
            })
        });
        outputs
    }

    /// The weight gradient [out_channels, channels, 3, 3]: for each ξ, the sum over the tiles
    /// of the transformed input times the transformed output gradient, transformed back.
    ///
    /// The sums are products over the tiles, computed as [in, out] = inputs [in, tiles] x
    /// grads [tiles, out] with the grads transposed to tile-major rows first: gemm packs that
    /// pair of layouts at its full rate, and the one with the tiles along the rows of both at
    /// half of it (BENCHMARKS.md).
    fn weight_gradient(&self, images: &[f32], grads: &[f32]) -> Vec<f32> {
        let (n, out_image) = (self.tiles(), self.out_channels * self.out_plane());
        let (out_channels, channels) = (self.out_channels, self.channels);
        let pairs = out_channels * channels;
        // sums[ξ, in, out]
        let mut sums = vec![0f32; XI * pairs];
        // Three buffers, not one: each stays under the size from which malloc maps (and the
        // kernel clears) fresh pages at every call (src/main.rs).
        with_scratch(XI * channels * n, |inputs| {
            with_scratch(XI * out_channels * n, |outputs| {
                with_scratch(out_channels * n, |outputs_t| {
                    for (first, (image, grads)) in images
                        .chunks(self.image())
                        .zip(grads.chunks(out_image))
                        .enumerate()
                    {
                        self.transform_inputs(image, inputs);
                        self.transform_grads(grads, outputs);
                        for (xi, sum) in sums.chunks_mut(pairs).enumerate() {
                            transpose_into(&outputs[xi * n..], XI * n, out_channels, n, outputs_t);
                            let lhs = (&inputs[xi * n..], 1, (XI * n) as isize);
                            let rhs = (&*outputs_t, 1, out_channels as isize);
                            matmul(channels, out_channels, n, sum, lhs, rhs, first > 0);
                        }
                    }
                })
            })
        });
        // taps[k, in, out] = (Gᵀ sum G)[k], then [out, in, k]
        let mut taps = vec![0f32; TAPS * pairs];
        let (tables, arch) = (tables(transpose(FILTER)), Arch::new());
        taps.par_chunks_mut(pairs)
            .zip(&tables)
            .for_each(|(line, table)| {
                arch.dispatch(|| combine(line, table, |i, j| &sums[(4 * i + j) * pairs..]));
            });
        let mut gradient = vec![0f32; pairs * TAPS];
        gradient
            .par_chunks_mut(channels * TAPS)
            .enumerate()
            .for_each(|(o, filters)| {
                for (c, filter) in filters.chunks_exact_mut(TAPS).enumerate() {
                    for (k, tap) in filter.iter_mut().enumerate() {
                        *tap = taps[k * pairs + c * out_channels + o];
                    }
                }
            });
        gradient
    }

    /// inputs[channel, ξ, tile] = (Bᵀ d B)[ξ] of each 4x4 input block d of one image, one task
    /// per channel. The blocks of neighbouring tiles overlap by two rows and columns.
    fn transform_inputs(&self, image: &[f32], inputs: &mut [f32]) {
        let (n, tile_cols, plane) = (self.tiles(), self.tile_cols(), self.height * self.width);
        // A padded row: its even columns, then its odd ones, so that the blocks' column c,
        // along a row of tiles, is one contiguous slice.
        let half = tile_cols + 1;
        let padded_rows = 2 * self.tile_rows() + 2;
        let (tables, arch) = (tables(INPUT), Arch::new());
        inputs
            .par_chunks_mut(XI * n)
            .enumerate()
            .for_each(|(channel, blocks)| {
                with_scratch(padded_rows * 2 * half, |padded| {
                    self.pad(&image[channel * plane..][..plane], padded, half);
                    for ty in 0..self.tile_rows() {
                        let first = ty * tile_cols;
                        // Row r, column c of the blocks along this row of tiles.
                        let d = |r: usize, c: usize| {
                            let row = &padded[(2 * ty + r) * 2 * half..];
                            &row[c % 2 * half + c / 2..]
                        };
                        arch.dispatch(|| {
                            for (line, table) in blocks.chunks_exact_mut(n).zip(&tables) {
                                combine(&mut line[first..][..tile_cols], table, d);
                            }
                        });
                    }
                })
            });
    }

    /// `plane` with `padding` zeros around it and zeros to whole tiles, each row split into its
    /// even and odd columns (`half` each).
    fn pad(&self, plane: &[f32], padded: &mut [f32], half: usize) {
        padded.fill(0.0);
        let skip = self.padding / 2;
        for (y, line) in plane.chunks_exact(self.width).enumerate() {
            let row = &mut padded[(y + self.padding) * 2 * half..][..2 * half];
            let (even, odd) = row.split_at_mut(half);
            // Column x lands in column x + padding: even x in the even half for an even padding.
            if self.padding.is_multiple_of(2) {
                deinterleave(line, &mut even[skip..], &mut odd[skip..]);
            } else {
                deinterleave(line, &mut odd[skip..], &mut even[skip + 1..]);
            }
        }
    }

    /// outputs[out_channel, out_h, out_w] of one image = (Aᵀ m A) of each tile's 16 products m,
    /// one task per output plane.
    fn transform_outputs(&self, products: &[f32], outputs: &mut [f32]) {
        let (n, tile_cols, out_w) = (self.tiles(), self.tile_cols(), self.out_w);
        let per_xi = self.out_channels * n;
        let (tables, arch) = (tables(OUTPUT), Arch::new());
        outputs
            .par_chunks_mut(self.out_plane())
            .enumerate()
            .for_each(|(channel, plane)| {
                with_scratch(2 * tile_cols, |pair| {
                    let (even, odd) = pair.split_at_mut(tile_cols);
                    for (ty, lines) in plane.chunks_mut(2 * out_w).enumerate() {
                        let first = channel * n + ty * tile_cols;
                        // Products i, j of the tiles along this row of tiles.
                        let m = |i: usize, j: usize| &products[(4 * i + j) * per_xi + first..];
                        for (line, tables) in lines.chunks_mut(out_w).zip(tables.chunks_exact(2)) {
                            arch.dispatch(|| {
                                combine(even, &tables[0], m);
                                combine(odd, &tables[1], m);
                            });
                            interleave(even, odd, line);
                        }
                    }
                })
            });
    }

    /// transformed[out_channel, ξ, tile] = (A g Aᵀ)[ξ] of each tile's 2x2 output gradient g
    /// (zero beyond the output) of one image, one task per output channel.
    fn transform_grads(&self, grads: &[f32], transformed: &mut [f32]) {
        let (n, tile_cols, out_w) = (self.tiles(), self.tile_cols(), self.out_w);
        let out_plane = self.out_plane();
        let (tables, arch) = (tables(transpose(OUTPUT)), Arch::new());
        transformed
            .par_chunks_mut(XI * n)
            .enumerate()
            .for_each(|(channel, blocks)| {
                // The two lines of a row of tiles, each split into its even and odd columns.
                with_scratch(4 * tile_cols, |split| {
                    let plane = &grads[channel * out_plane..][..out_plane];
                    for (ty, lines) in plane.chunks(2 * out_w).enumerate() {
                        split.fill(0.0);
                        for (line, halves) in lines
                            .chunks(out_w)
                            .zip(split.chunks_exact_mut(2 * tile_cols))
                        {
                            let (even, odd) = halves.split_at_mut(tile_cols);
                            deinterleave(line, even, odd);
                        }
                        let first = ty * tile_cols;
                        let g = |a: usize, b: usize| &split[(2 * a + b) * tile_cols..];
                        arch.dispatch(|| {
                            for (line, table) in blocks.chunks_exact_mut(n).zip(&tables) {
                                combine(&mut line[first..][..tile_cols], table, g);
                            }
                        });
                    }
                })
            });
    }
}

/// The weights [out_channels, channels, 3, 3] transformed, G w Gᵀ, as 16 matrices
/// [ξ, out_channels, channels]; for the `adjoint`, flipped and transposed first:
/// [ξ, channels, out_channels].
fn transform_weights(
    weights: &[f32],
    out_channels: usize,
    channels: usize,
    adjoint: bool,
) -> Vec<f32> {
    let pairs = out_channels * channels;
    // taps[k, pair], the pairs in the products' order.
    let mut taps = vec![0f32; TAPS * pairs];
    if adjoint {
        // Flipped, tap (kh, kw) is the original's (2 - kh, 2 - kw): index 8 - k.
        let mut by_channel = vec![0f32; TAPS * pairs];
        transpose_into(weights, TAPS, pairs, TAPS, &mut by_channel);
        taps.par_chunks_mut(pairs)
            .enumerate()
            .for_each(|(k, line)| {
                let source = &by_channel[(TAPS - 1 - k) * pairs..][..pairs];
                for (c, line) in line.chunks_exact_mut(out_channels).enumerate() {
                    for (o, value) in line.iter_mut().enumerate() {
                        *value = source[o * channels + c];
                    }
                }
            });
    } else {
        transpose_into(weights, TAPS, pairs, TAPS, &mut taps);
    }
    let mut filters = vec![0f32; XI * pairs];
    let (tables, arch) = (tables(FILTER), Arch::new());
    filters
        .par_chunks_mut(pairs)
        .zip(&tables)
        .for_each(|(line, table)| {
            arch.dispatch(|| combine(line, table, |r, c| &taps[(3 * r + c) * pairs..]));
        });
    filters
}

fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    std::array::from_fn(|c| std::array::from_fn(|r| m[r][c]))
}

/// The nonzero terms of each value (i, j) of F x Fᵀ, row by row: (r, c, F[i][r] F[j][c]).
fn tables<const P: usize, const Q: usize>(f: [[f32; Q]; P]) -> Vec<Vec<(usize, usize, f32)>> {
    let mut tables = Vec::with_capacity(P * P);
    for i in 0..P {
        for j in 0..P {
            let mut terms = Vec::new();
            for (r, &fr) in f[i].iter().enumerate() {
                for (c, &fc) in f[j].iter().enumerate() {
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

/// out[t] = the sum over the terms (r, c, weight) of weight x x(r, c)[t], where x(r, c) is a
/// slice at least as long as out: in one pass for the counts the transforms have.
#[inline(always)]
fn combine<'a>(
    out: &mut [f32],
    terms: &[(usize, usize, f32)],
    x: impl Fn(usize, usize) -> &'a [f32],
) {
    match terms.len() {
        1 => combine_n::<1>(out, terms, x),
        2 => combine_n::<2>(out, terms, x),
        3 => combine_n::<3>(out, terms, x),
        4 => combine_n::<4>(out, terms, x),
        6 => combine_n::<6>(out, terms, x),
        9 => combine_n::<9>(out, terms, x),
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

#[inline(always)]
fn combine_n<'a, const N: usize>(
    out: &mut [f32],
    terms: &[(usize, usize, f32)],
    x: impl Fn(usize, usize) -> &'a [f32],
) {
    let len = out.len();
    let slices: [&[f32]; N] = std::array::from_fn(|k| &x(terms[k].0, terms[k].1)[..len]);
    let weights: [f32; N] = std::array::from_fn(|k| terms[k].2);
    for (t, value) in out.iter_mut().enumerate() {
        let mut sum = weights[0] * slices[0][t];
        for k in 1..N {
            sum += weights[k] * slices[k][t];
        }
        *value = sum;
    }
}

/// line[2t] = even[t] and line[2t + 1] = odd[t], as far as the line goes.
fn interleave(even: &[f32], odd: &[f32], line: &mut [f32]) {
    for (pair, (&e, &o)) in line.chunks_mut(2).zip(even.iter().zip(odd)) {
        pair[0] = e;
        if let Some(value) = pair.get_mut(1) {
            *value = o;
        }
    }
}

/// even[t] = line[2t] and odd[t] = line[2t + 1], as far as each goes.
fn deinterleave(line: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for (t, pair) in line.chunks(2).enumerate() {
        even[t] = pair[0];
        if let Some(&value) = pair.get(1) {
            odd[t] = value;
        }
    }
}
