//! A convolution by Winograd's transforms: the weights' transform and the products, over a
//! group of images at a time.

use rayon::prelude::*;

use super::Minimal;
use super::layout::Layout;
use crate::backend::Bf16Products;
use crate::backend::flex::conv::bf16::{self, Kernel, Packed, Rhs, SharedLanes};
use crate::backend::flex::conv::im2col::with_scratch;
use crate::backend::flex::conv::kernel::{images_per_group, transpose_into};
use crate::backend::flex::conv::{Threads, product};

/// Tiles a product should have before images are grouped no further: on small maps one image's
/// tiles make a narrow product that streams the whole of U_ξ for them (BENCHMARKS.md; more
/// tiles per group saved little and raised the peak memory of the large batches).
const GROUP_TILES: usize = 256;

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

/// Where one image's tiles sit in lines that a group of images shares: at `offset` in lines of
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

/// A convolution by Winograd's transforms, and how [`Self::convolve`] reads its transformed
/// filters.
pub(super) struct Plan {
    part: Part,
    /// The products' arithmetic (the transforms are in f32 whatever it is).
    products: Bf16Products,
    /// Whether [`Self::convolve`] reads its transformed filters transposed, [ξ, channels,
    /// out_channels]: an adjoint's are those of the plan it is the adjoint of.
    transposed_filters: bool,
}

impl Plan {
    pub(super) fn new(part: Part, products: Bf16Products) -> Plan {
        Plan {
            part,
            products,
            transposed_filters: false,
        }
    }

    pub(super) fn part(&self) -> &Part {
        &self.part
    }

    /// Positions ξ of the transforms: the number of products.
    pub(super) fn positions(&self) -> usize {
        self.part.algorithm.positions()
    }

    /// (out, in) channel pairs: the values of one transformed filter position.
    pub(super) fn pairs(&self) -> usize {
        self.part.out_channels * self.part.channels
    }

    /// The convolution from the outputs back to the inputs.
    pub(super) fn adjoint(&self) -> Plan {
        Plan {
            part: self.part.adjoint(),
            products: self.products,
            transposed_filters: true,
        }
    }

    /// Images per product: see [`images_per_group`].
    fn group(&self, batch: usize) -> usize {
        images_per_group(GROUP_TILES, self.part.tiles(), batch)
    }

    /// Each image of a group whose tiles make lines of `stride` values: (its index in the
    /// group, its slot).
    fn slots(&self, images: usize, stride: usize) -> impl Iterator<Item = (usize, Slot)> {
        let tiles = self.part.tiles();
        (0..images).map(move |index| {
            let offset = index * tiles;
            (index, Slot { offset, stride })
        })
    }

    /// The convolution of images[batch, in_image] with the transformed weights `filters`
    /// [ξ, out_channels, channels], or [ξ, channels, out_channels] read transposed. On the bf16
    /// dot products the transformed inputs are written packed for them ([`Self::packs`]).
    pub(super) fn convolve(&self, images: &[f32], filters: &[f32]) -> Vec<f32> {
        let part = &self.part;
        let (tiles, in_image, out_image) = (part.tiles(), part.in_image(), part.out_image());
        let (out_channels, depth, positions) = (part.out_channels, part.channels, self.positions());
        let batch = images.len() / in_image.max(1);
        let group = self.group(batch);
        let mut outputs = vec![0f32; batch * out_image];
        let packed_len = Packed {
            k: depth,
            n: group * tiles,
        }
        .len();
        let scratch = positions * (depth * group * tiles).max(packed_len);
        with_scratch(scratch, |inputs| {
            with_scratch(positions * out_channels * group * tiles, |products| {
                for (images, outputs) in images
                    .chunks(group * in_image)
                    .zip(outputs.chunks_mut(group * out_image))
                {
                    let (count, n) = (images.len() / in_image, images.len() / in_image * tiles);
                    let packed = Packed { k: depth, n };
                    let lanes = self
                        .packs(n)
                        .then(|| SharedLanes::new(bytemuck::cast_slice_mut(inputs)));
                    for (index, slot) in self.slots(count, n) {
                        let image = &images[index * in_image..][..in_image];
                        match lanes {
                            Some(lanes) => part.transform_inputs_packed(image, packed, lanes, slot),
                            None => part.transform_inputs(image, inputs, slot),
                        }
                    }
                    // products[ξ] [out, n] = filters[ξ] [out, in] x inputs[.., ξ, ..] [in, n]
                    let inputs = &*inputs;
                    products[..positions * out_channels * n]
                        .par_chunks_mut(out_channels * n)
                        .enumerate()
                        .for_each(|(xi, dst)| {
                            let filter = &filters[xi * out_channels * depth..];
                            let filter = if self.transposed_filters {
                                (filter, out_channels as isize, 1)
                            } else {
                                (filter, 1, depth as isize)
                            };
                            let shape = (out_channels, n, depth);
                            let threads = Threads::Calling;
                            if lanes.is_some() {
                                let lanes: &[u32] = bytemuck::cast_slice(inputs);
                                let lanes = &lanes[xi * packed.len()..][..packed.len()];
                                let (kernel, operands) =
                                    (Kernel::DotProducts, (filter, Rhs::Packed(lanes)));
                                bf16::matmul(kernel, shape, dst, operands, false, threads);
                            } else {
                                let input = (&inputs[xi * n..], 1, (positions * n) as isize);
                                let operands = (filter, input);
                                product(self.products, shape, dst, operands, false, threads);
                            }
                        });
                    for (index, slot) in self.slots(count, n) {
                        let output = &mut outputs[index * out_image..][..out_image];
                        part.transform_outputs(products, slot, output);
                    }
                }
            })
        });
        outputs
    }

    /// Whether [`Self::convolve`]'s products over `n` tiles run on the bf16 dot products from
    /// inputs transformed packed for them: on planes as they are (the 3x3 convolutions).
    fn packs(&self, n: usize) -> bool {
        let part = &self.part;
        let (m, k) = (part.out_channels, part.channels);
        Kernel::takes_packed(self.products, m, n, k) && part.inputs == Layout::Planes
    }

    /// The weight gradient as the weights are stored, [out_channels, in, k, k] (the tensor's
    /// channels and kernel): for each ξ, the sum over the tiles of the transformed input times
    /// the transformed output gradient, transformed back.
    pub(super) fn weight_gradient(&self, images: &[f32], grads: &[f32]) -> Vec<f32> {
        let kernel = self.part.algorithm.kernel;
        let mut gradient = vec![0f32; self.pairs() * kernel * kernel];
        with_scratch(self.positions() * self.pairs(), |sums| {
            self.sum_products(images, grads, sums);
            self.transform_sums(sums, &mut gradient);
        });
        gradient
    }

    /// sums[ξ, out, in] = the sum over the images' tiles of their transformed output gradients
    /// times their transformed inputs.
    ///
    /// The sums are products over the tiles, computed as [out, in] = grads [out, tiles] x
    /// inputs [tiles, in] with the inputs transposed to tile-major rows first: gemm packs that
    /// pair of layouts at its full rate, and the one with the tiles along the rows of both at
    /// half of it (BENCHMARKS.md). The bf16 products pack pairs of tiles, adjacent in the
    /// inputs' lines as they are: those read them so.
    fn sum_products(&self, images: &[f32], grads: &[f32], sums: &mut [f32]) {
        let part = &self.part;
        let (tiles, in_image, out_image) = (part.tiles(), part.in_image(), part.out_image());
        let (out_channels, channels, positions) =
            (part.out_channels, part.channels, self.positions());
        let group = self.group(images.len() / in_image.max(1));
        // Separate buffers, not one: each stays under the size from which malloc maps (and the
        // kernel clears) fresh pages at every call (the pix2pix binary raises that size: its
        // src/main.rs).
        with_scratch(positions * channels * group * tiles, |inputs| {
            with_scratch(positions * out_channels * group * tiles, |outputs| {
                for (first, (images, grads)) in images
                    .chunks(group * in_image)
                    .zip(grads.chunks(group * out_image))
                    .enumerate()
                {
                    let (count, n) = (images.len() / in_image, images.len() / in_image * tiles);
                    for (index, slot) in self.slots(count, n) {
                        let image = &images[index * in_image..][..in_image];
                        part.transform_inputs(image, inputs, slot);
                        let grads = &grads[index * out_image..][..out_image];
                        part.transform_grads(grads, outputs, slot);
                    }
                    let (inputs, outputs) = (&*inputs, &*outputs);
                    sums[..positions * self.pairs()]
                        .par_chunks_mut(self.pairs())
                        .enumerate()
                        .for_each(|(xi, sum)| {
                            let (inputs, stride) = (&inputs[xi * n..], positions * n);
                            let shape = (out_channels, channels, n);
                            let paired = bf16::Kernel::suited(self.products, shape.0, shape.1, n);
                            let transposed = if paired.is_some() { 0 } else { channels * n };
                            with_scratch(transposed, |inputs_t| {
                                let rhs = if paired.is_some() {
                                    (inputs, stride as isize, 1)
                                } else {
                                    transpose_into(inputs, stride, channels, n, inputs_t);
                                    (&*inputs_t, 1, channels as isize)
                                };
                                let lhs = (&outputs[xi * n..], 1, stride as isize);
                                let (operands, threads) = ((lhs, rhs), Threads::Calling);
                                product(self.products, shape, sum, operands, first > 0, threads);
                            })
                        });
                }
            })
        });
    }
}
