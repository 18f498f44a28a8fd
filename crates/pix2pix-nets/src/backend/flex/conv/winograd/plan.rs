//! A convolution by Winograd's transforms: the weights' transform and the 16 products, over a
//! group of images at a time, each image in one or more parts.

use rayon::prelude::*;

use super::layout::{Layout, space_to_depth_tap};
use super::transforms::{Arch, combine, tables};
use super::{Minimal, XI};
use crate::backend::flex::conv::gemm::matmul_on_this_thread;
use crate::backend::flex::conv::im2col::with_scratch;
use crate::backend::flex::conv::kernel::{images_per_group, transpose_into};

/// Tiles a product should have before images are grouped no further: on small maps one image's
/// tiles make a narrow product that streams the whole of U_ξ for them (BENCHMARKS.md; more
/// tiles per group saved little and raised the peak memory of the large batches).
const GROUP_TILES: usize = 256;

/// (out, in) pairs per block of the weights' transform: the block's taps (up to 9 x 512 values)
/// stay in the first-level cache.
const WEIGHT_BLOCK: usize = 512;

/// A stride-1 convolution with zero padding from planes [channels, height, width] to
/// [out_channels, out_h, out_w] (each side: input + 2 x padding - kernel + 1), whose input
/// and output planes sit in the tensors as `inputs` and `outputs` say.
#[derive(Clone, Copy)]
pub(super) struct Part {
    pub(super) algorithm: Minimal,
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) padding: usize,
    pub(super) out_channels: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
    pub(super) inputs: Layout,
    pub(super) outputs: Layout,
}

/// Where one part's tiles sit in lines that a group of parts shares: at `offset` in lines of
/// `stride` values.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub(super) offset: usize,
    pub(super) stride: usize,
}

impl Part {
    pub(super) fn tile_rows(&self) -> usize {
        self.out_h.div_ceil(self.algorithm.tile)
    }

    pub(super) fn tile_cols(&self) -> usize {
        self.out_w.div_ceil(self.algorithm.tile)
    }

    pub(super) fn tiles(&self) -> usize {
        self.tile_rows() * self.tile_cols()
    }

    /// One image's input in its tensor.
    fn in_image(&self) -> usize {
        let (h, w) = self.inputs.tensor_plane(self.height, self.width);
        self.channels / self.inputs.planes_per_plane() * h * w
    }

    /// One image's output in its tensor.
    pub(super) fn out_image(&self) -> usize {
        let (h, w) = self.outputs.tensor_plane(self.out_h, self.out_w);
        self.out_channels / self.outputs.planes_per_plane() * h * w
    }

    /// The convolution from the outputs back to the inputs, with the flipped weights: padding
    /// kernel - 1 - padding makes its outputs the inputs' size.
    fn adjoint(self) -> Part {
        Part {
            algorithm: self.algorithm,
            channels: self.out_channels,
            height: self.out_h,
            width: self.out_w,
            padding: self.algorithm.kernel - 1 - self.padding,
            out_channels: self.channels,
            out_h: self.height,
            out_w: self.width,
            inputs: self.outputs,
            outputs: self.inputs,
        }
    }
}

/// The parts of a convolution, which share its filters and sizes and each reach a different
/// part of its output (a phase): their tiles sit side by side in the products.
pub(super) struct Plan {
    parts: Vec<Part>,
}

impl Plan {
    pub(super) fn new(parts: Vec<Part>) -> Plan {
        Plan { parts }
    }

    /// What the parts share.
    fn first(&self) -> &Part {
        &self.parts[0]
    }

    /// (out, in) channel pairs: the values of one transformed filter position.
    pub(super) fn pairs(&self) -> usize {
        self.first().out_channels * self.first().channels
    }

    /// The adjoint of a plan of one part (the parts of a plan of several each reach every
    /// input).
    pub(super) fn adjoint(&self) -> Plan {
        assert_eq!(
            self.parts.len(),
            1,
            "only a plan of one part has an adjoint plan"
        );
        Plan::new(vec![self.first().adjoint()])
    }

    /// One image's tiles, over all the parts.
    fn tiles(&self) -> usize {
        self.parts.iter().map(Part::tiles).sum()
    }

    /// Images per product: see [`images_per_group`].
    fn group(&self, batch: usize) -> usize {
        images_per_group(GROUP_TILES, self.tiles(), batch)
    }

    /// Each part of each image in a group whose tiles make lines of `stride` values: (the
    /// image's index in the group, the part, its slot).
    fn slots(&self, images: usize, stride: usize) -> impl Iterator<Item = (usize, &Part, Slot)> {
        let tiles = self.tiles();
        (0..images).flat_map(move |index| {
            let mut offset = index * tiles;
            self.parts.iter().map(move |part| {
                let slot = Slot { offset, stride };
                offset += part.tiles();
                (index, part, slot)
            })
        })
    }

    /// `filters` = the weights [out_channels, in, k, k] as the parts' filters transformed,
    /// G w Gᵀ: 16 matrices [ξ, out_channels, channels]; for the `adjoint`, flipped and
    /// transposed first: [ξ, channels, out_channels].
    ///
    /// In one pass, a block of pairs at a time: the block's taps gathered from the weights as
    /// stored, then its 16 transformed values (the filters are up to 128 MB for the U-Net's
    /// inner layers, which passes over the whole of them would read and write again and again).
    pub(super) fn transform_weights(&self, weights: &[f32], adjoint: bool, filters: &mut [f32]) {
        let Part {
            algorithm,
            channels,
            out_channels,
            inputs,
            ..
        } = *self.first();
        let (kernel, pairs) = (algorithm.kernel, self.pairs());
        let taps_per_filter = kernel * kernel;
        let space_to_depth = inputs.planes_per_plane() == 4;
        // The pairs in the products' order, (out, in), or (in, out) for the adjoint: the lines
        // run along the second.
        let (line_len, pairs_per_line) = if adjoint {
            (out_channels, channels)
        } else {
            (channels, out_channels)
        };
        debug_assert_eq!(line_len * pairs_per_line, pairs);
        // blocks[b]: block b of each of the 16 filters [ξ].
        let mut blocks: Vec<Vec<&mut [f32]>> = (0..pairs.div_ceil(WEIGHT_BLOCK))
            .map(|_| Vec::with_capacity(XI))
            .collect();
        for line in filters[..XI * pairs].chunks_mut(pairs) {
            for (block, segment) in blocks.iter_mut().zip(line.chunks_mut(WEIGHT_BLOCK)) {
                block.push(segment);
            }
        }
        let (tables, arch) = (tables(algorithm.filter), Arch::new());
        blocks
            .into_par_iter()
            .enumerate()
            .for_each(|(block, mut segments)| {
                let mut taps = [[0f32; WEIGHT_BLOCK]; 9];
                let first = block * WEIGHT_BLOCK;
                let (mut outer, mut inner) = (first / line_len, first % line_len);
                for q in 0..segments[0].len() {
                    let (o, ch) = if adjoint {
                        (inner, outer)
                    } else {
                        (outer, inner)
                    };
                    for (k, taps) in taps[..taps_per_filter].iter_mut().enumerate() {
                        let k = if adjoint { taps_per_filter - 1 - k } else { k };
                        taps[q] = if space_to_depth {
                            weights
                                [(o * channels / 4 + ch / 4) * 16 + space_to_depth_tap(ch % 4, k)]
                        } else {
                            weights[(o * channels + ch) * taps_per_filter + k]
                        };
                    }
                    inner += 1;
                    if inner == line_len {
                        (outer, inner) = (outer + 1, 0);
                    }
                }
                arch.dispatch(|| {
                    for (segment, table) in segments.iter_mut().zip(&tables) {
                        combine(segment, table, |r, c| &taps[kernel * r + c][..]);
                    }
                });
            });
    }

    /// The convolution of images[batch, in_image] with the transformed weights `filters`
    /// [ξ, out_channels, channels].
    pub(super) fn convolve(&self, images: &[f32], filters: &[f32]) -> Vec<f32> {
        let first = self.first();
        let (tiles, in_image, out_image) = (self.tiles(), first.in_image(), first.out_image());
        let (out_channels, depth) = (first.out_channels, first.channels);
        let batch = images.len() / in_image.max(1);
        let group = self.group(batch);
        let mut outputs = vec![0f32; batch * out_image];
        with_scratch(XI * depth * group * tiles, |inputs| {
            with_scratch(XI * out_channels * group * tiles, |products| {
                for (images, outputs) in images
                    .chunks(group * in_image)
                    .zip(outputs.chunks_mut(group * out_image))
                {
                    let (count, n) = (images.len() / in_image, images.len() / in_image * tiles);
                    for (index, part, slot) in self.slots(count, n) {
                        part.transform_inputs(
                            &images[index * in_image..][..in_image],
                            inputs,
                            slot,
                        );
                    }
                    // products[ξ] [out, n] = filters[ξ] [out, in] x inputs[.., ξ, ..] [in, n]
                    let inputs = &*inputs;
                    products[..XI * out_channels * n]
                        .par_chunks_mut(out_channels * n)
                        .enumerate()
                        .for_each(|(xi, product)| {
                            let filter = (&filters[xi * out_channels * depth..], 1, depth as isize);
                            let input = (&inputs[xi * n..], 1, (XI * n) as isize);
                            let shape = (out_channels, n, depth);
                            matmul_on_this_thread(shape, product, filter, input, false);
                        });
                    for (index, part, slot) in self.slots(count, n) {
                        let output = &mut outputs[index * out_image..][..out_image];
                        part.transform_outputs(products, slot, output);
                    }
                }
            })
        });
        outputs
    }

    /// The weight gradient [out_channels, channels, kernel, kernel]: for each ξ, the sum over
    /// the tiles of the transformed input times the transformed output gradient, transformed
    /// back.
    pub(super) fn weight_gradient(&self, images: &[f32], grads: &[f32]) -> Vec<f32> {
        let Part {
            algorithm,
            channels,
            out_channels,
            ..
        } = *self.first();
        let pairs = self.pairs();
        let taps_per_filter = algorithm.kernel * algorithm.kernel;
        let mut gradient = vec![0f32; pairs * taps_per_filter];
        // sums[ξ, in, out]; then taps[k, in, out] = (Gᵀ sum G)[k], then gradient[out, in, k]
        with_scratch(XI * pairs, |sums| {
            self.sum_products(images, grads, sums);
            with_scratch(taps_per_filter * pairs, |taps| {
                let (tables, arch) = (tables(algorithm.filter.transpose()), Arch::new());
                taps.par_chunks_mut(pairs)
                    .zip(&tables)
                    .for_each(|(line, table)| {
                        arch.dispatch(|| combine(line, table, |i, j| &sums[(4 * i + j) * pairs..]));
                    });
                gradient
                    .par_chunks_mut(channels * taps_per_filter)
                    .enumerate()
                    .for_each(|(o, filters)| {
                        for (c, filter) in filters.chunks_exact_mut(taps_per_filter).enumerate() {
                            for (k, tap) in filter.iter_mut().enumerate() {
                                *tap = taps[k * pairs + c * out_channels + o];
                            }
                        }
                    });
            })
        });
        gradient
    }

    /// sums[ξ, in, out] = the sum over the images' tiles of their transformed inputs times
    /// their transformed output gradients.
    ///
    /// The sums are products over the tiles, computed as [in, out] = inputs [in, tiles] x
    /// grads [tiles, out] with the grads transposed to tile-major rows first: gemm packs that
    /// pair of layouts at its full rate, and the one with the tiles along the rows of both at
    /// half of it (BENCHMARKS.md).
    fn sum_products(&self, images: &[f32], grads: &[f32], sums: &mut [f32]) {
        let first = self.first();
        let (tiles, in_image, out_image) = (self.tiles(), first.in_image(), first.out_image());
        let (out_channels, channels) = (first.out_channels, first.channels);
        let group = self.group(images.len() / in_image.max(1));
        // Separate buffers, not one: each stays under the size from which malloc maps (and the
        // kernel clears) fresh pages at every call (the pix2pix binary raises that size: its src/main.rs).
        with_scratch(XI * channels * group * tiles, |inputs| {
            with_scratch(XI * out_channels * group * tiles, |outputs| {
                for (first, (images, grads)) in images
                    .chunks(group * in_image)
                    .zip(grads.chunks(group * out_image))
                    .enumerate()
                {
                    let (count, n) = (images.len() / in_image, images.len() / in_image * tiles);
                    for (index, part, slot) in self.slots(count, n) {
                        let image = &images[index * in_image..][..in_image];
                        part.transform_inputs(image, inputs, slot);
                        let grads = &grads[index * out_image..][..out_image];
                        part.transform_grads(grads, outputs, slot);
                    }
                    let (inputs, outputs) = (&*inputs, &*outputs);
                    sums[..XI * self.pairs()]
                        .par_chunks_mut(self.pairs())
                        .enumerate()
                        .for_each(|(xi, sum)| {
                            with_scratch(out_channels * n, |outputs_t| {
                                let outputs = &outputs[xi * n..];
                                transpose_into(outputs, XI * n, out_channels, n, outputs_t);
                                let lhs = (&inputs[xi * n..], 1, (XI * n) as isize);
                                let rhs = (&*outputs_t, 1, out_channels as isize);
                                let shape = (channels, out_channels, n);
                                matmul_on_this_thread(shape, sum, lhs, rhs, first > 0);
                            })
                        });
                }
            })
        });
    }
}
