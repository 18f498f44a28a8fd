//! The convolution kernels on Flex's f32 buffers: a convolution is im2col + GEMM with the weight
//! as it is stored, its input gradient GEMM + col2im, its weight gradient a GEMM against the
//! columns; a transposed convolution is the adjoint, so its forward is the convolution's input
//! gradient and so on.
//!
//! A convolution to a few channels at stride 1 skips the columns (`direct`), and so do 3x3
//! stride-1 and 4x4 ones between wider maps (`winograd`).
//!
//! Images go through the GEMMs in groups: on small feature maps (the U-Net's inner layers) one
//! image's product is a few columns wide and streams the whole weight for them, so the columns
//! of several images sit side by side in one product instead.

use burn::backend::Flex;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::bf16::{self, Kernel, Packed, Rhs, SharedLanes};
use super::gemm::View;
use super::im2col::{Geometry, Slot, with_scratch};
use super::{ConvGradient, ConvShape, Convolutions, Threads, product};
use crate::backend::flex::{dims, f32_tensor, storage};
use crate::backend::{Bf16Products, profile};

/// Columns a product should have before images are grouped no further: a product over fewer
/// streams the whole weight for them, and gemm's rate on the U-Net's and PatchGAN's layers still
/// rises up to about this many (BENCHMARKS.md, batching).
const GROUP_COLUMNS: usize = 2048;

/// The same for weight gradients, whose products sum over the columns: grouped beyond this they
/// were slower (BENCHMARKS.md, batching).
const GRADIENT_GROUP_COLUMNS: usize = 256;

/// Values a group's column matrix may hold (16 MB): the scratch stays with the thread, and
/// larger ones raised the peak memory of the large batches over PyTorch's (BENCHMARKS.md).
const GROUP_SCRATCH: usize = 4 << 20;

/// Pixels (of a group) from which a weight gradient is computed transposed (BENCHMARKS.md).
const TRANSPOSED_GRADIENT_COLUMNS: usize = 4096;

/// How a convolution and its gradients are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Algorithm {
    /// Line by line, without columns (`direct`): to a few channels at stride 1.
    Direct,
    /// Winograd's minimal filtering (`winograd`): 3x3 stride-1, 4x4 stride-1 and 4x4 stride-2
    /// ones between maps wide and large enough.
    Winograd,
    /// im2col and matrix products: every other one.
    Columns,
}

impl Geometry {
    /// The one place that chooses how the convolution to `out_channels` of `batch` images, and
    /// each of its gradients, is computed.
    pub(super) fn algorithm(&self, out_channels: usize, batch: usize) -> Algorithm {
        if self.fits_direct(out_channels) {
            Algorithm::Direct
        } else if self.fits_winograd(out_channels, batch) {
            Algorithm::Winograd
        } else {
            Algorithm::Columns
        }
    }

    /// [`Self::algorithm`] for the weight gradient, which Winograd's transforms compute only
    /// where their sums pay ([`Self::winograd_sums_pay`]).
    pub(super) fn gradient_algorithm(&self, out_channels: usize, batch: usize) -> Algorithm {
        match self.algorithm(out_channels, batch) {
            Algorithm::Winograd if !self.winograd_sums_pay(batch) => Algorithm::Columns,
            algorithm => algorithm,
        }
    }

    /// dst[m, n] = lhs[m, k] x rhs[k, n] (plus dst when `accumulate`) in the convolution's
    /// arithmetic: bf16 operands on the CPU's bf16 instructions where it has them and the shape
    /// suits them, f32 otherwise.
    fn product(
        &self,
        shape: (usize, usize, usize),
        dst: &mut [f32],
        lhs: View,
        rhs: View,
        accumulate: bool,
    ) {
        product(self.bf16, shape, dst, (lhs, rhs), accumulate, Threads::All);
    }

    /// Images per product of up to `columns` columns: see [`images_per_group`].
    fn group(&self, batch: usize, columns: usize) -> usize {
        let bound = columns.min(GROUP_SCRATCH / self.depth().max(1));
        images_per_group(bound, self.pixels(), batch)
    }

    /// A call on this layer as [`profile`] lists it: (the call, the layer as the network has it,
    /// how it is computed). `x` is the layer's input; `wrt` the gradient computed, if any.
    fn describe(
        &self,
        wrt: Option<ConvGradient>,
        x: &FlexTensor,
        weight: &FlexTensor,
        shape: ConvShape,
    ) -> (&'static str, String, String) {
        let [batch, _, height, width] = dims(x);
        let [first, second, kernel, _] = dims(weight);
        // (out, in, k, k) for a convolution, (in, out, k, k) for a transposed one.
        let (kind, from, to) = if shape.transposed {
            ("transposed conv", first, second)
        } else {
            ("conv", second, first)
        };
        let layer = format!(
            "{kind} {kernel}x{kernel}/{} {from}->{to} at {height}x{width}, batch {batch}",
            shape.stride
        );
        let (call, algorithm) = match wrt {
            None => ("forward", self.algorithm(first, batch)),
            Some(ConvGradient::Input) => ("input gradient", self.algorithm(first, batch)),
            Some(ConvGradient::Weight) => {
                ("weight gradient", self.gradient_algorithm(first, batch))
            }
        };
        let name = match algorithm {
            Algorithm::Direct => "direct",
            Algorithm::Winograd => "winograd",
            Algorithm::Columns => "columns",
        };
        let products = if self.bf16 == Bf16Products::F32 {
            "f32".to_string()
        } else {
            format!("bf16 on {}", self.bf16)
        };
        (call, layer, format!("{name}, {products}"))
    }

    /// outputs[batch, out_channels, pixels] of the convolution of images[batch, image].
    fn convolve(&self, images: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        match self.algorithm(out_channels, images.len() / self.image()) {
            Algorithm::Direct => self.convolve_direct(images, weights, out_channels),
            Algorithm::Winograd => self.convolve_winograd(images, weights, out_channels),
            Algorithm::Columns => self.convolve_columns(images, weights, out_channels),
        }
    }

    /// [`Self::convolve`] through the column matrix, written packed for the bf16 dot products
    /// where they compute the product ([`Self::im2col_packed`]).
    fn convolve_columns(&self, images: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let batch = images.len() / self.image();
        let group = self.group(batch, GROUP_COLUMNS);
        let mut outputs = vec![0f32; batch * out_channels * pixels];
        let packed_len = Packed {
            k: depth,
            n: group * pixels,
        }
        .len();
        with_scratch((depth * pixels * group).max(packed_len), |columns| {
            with_scratch(side_by_side_len(out_channels, pixels, group), |product| {
                for (images, outputs) in images
                    .chunks(group * self.image())
                    .zip(outputs.chunks_mut(group * out_channels * pixels))
                {
                    let n = images.len() / self.image() * pixels;
                    let shape = (out_channels, n, depth);
                    let weights = (weights, 1, depth as isize);
                    let dst = if n == pixels {
                        &mut *outputs
                    } else {
                        &mut *product
                    };
                    if Kernel::takes_packed(self.bf16, out_channels, n, depth) {
                        let packed = Packed { k: depth, n };
                        let lanes = SharedLanes::new(bytemuck::cast_slice_mut(columns));
                        for (index, image) in images.chunks(self.image()).enumerate() {
                            let slot = Slot::of(index, pixels, n);
                            self.im2col_packed(image, packed, lanes, slot);
                        }
                        let lanes: &[u32] = bytemuck::cast_slice(columns);
                        let operands = (weights, Rhs::Packed(&lanes[..packed.len()]));
                        let (kernel, threads) = (Kernel::DotProducts, Threads::All);
                        bf16::matmul(kernel, shape, dst, operands, false, threads);
                    } else {
                        for (index, image) in images.chunks(self.image()).enumerate() {
                            self.im2col(image, columns, Slot::of(index, pixels, n));
                        }
                        self.product(shape, dst, weights, (&columns[..], 1, n as isize), false);
                    }
                    if n != pixels {
                        regroup(product, out_channels, pixels, outputs);
                    }
                }
            })
        });
        outputs
    }

    /// The adjoint of `convolve`: images[batch, image] from grads[batch, out_channels, pixels].
    fn convolve_adjoint(&self, grads: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let batch = grads.len() / (out_channels * self.pixels()).max(1);
        match self.algorithm(out_channels, batch) {
            Algorithm::Direct => self.convolve_direct_adjoint(grads, weights, out_channels),
            Algorithm::Winograd => self.convolve_winograd_adjoint(grads, weights, out_channels),
            Algorithm::Columns => self.convolve_adjoint_columns(grads, weights, out_channels),
        }
    }

    /// [`Self::convolve_adjoint`] through the column matrix.
    fn convolve_adjoint_columns(
        &self,
        grads: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let batch = grads.len() / (out_channels * pixels);
        let group = self.group(batch, GROUP_COLUMNS);
        let mut images = vec![0f32; batch * self.image()];
        with_scratch(depth * pixels * group, |columns| {
            with_scratch(
                side_by_side_len(out_channels, pixels, group),
                |side_by_side| {
                    for (grads, images) in grads
                        .chunks(group * out_channels * pixels)
                        .zip(images.chunks_mut(group * self.image()))
                    {
                        let n = grads.len() / out_channels;
                        let grads =
                            side_by_side_or_as_is(grads, out_channels, pixels, side_by_side);
                        // columns[depth, n] = weights[out, depth]^T x grads[out, n]
                        let weights = (weights, depth as isize, 1);
                        let grads = (grads, 1, n as isize);
                        self.product((depth, n, out_channels), columns, weights, grads, false);
                        for (index, image) in images.chunks_mut(self.image()).enumerate() {
                            self.col2im(columns, Slot::of(index, pixels, n), image);
                        }
                    }
                },
            )
        });
        images
    }

    /// The weight gradient [out_channels, depth]: the sum over the batch of
    /// grad[out_channels, pixels] x im2col(image)[depth, pixels]^T.
    fn weight_gradient(&self, images: &[f32], grads: &[f32], out_channels: usize) -> Vec<f32> {
        match self.gradient_algorithm(out_channels, images.len() / self.image()) {
            Algorithm::Direct => self.weight_gradient_direct(images, grads, out_channels),
            Algorithm::Winograd => self.weight_gradient_winograd(images, grads, out_channels),
            Algorithm::Columns => self.weight_gradient_columns(images, grads, out_channels),
        }
    }

    /// [`Self::weight_gradient`] through the column matrix.
    ///
    /// Over many pixels it is computed transposed, as columns x grad^T, and transposed at the
    /// end: gemm packs its left operand a row at a time from the pixel-major data, and the
    /// grad's few rows cost less to pack than the columns' many (BENCHMARKS.md, weight
    /// gradients).
    fn weight_gradient_columns(
        &self,
        images: &[f32],
        grads: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let group = self.group(images.len() / self.image(), GRADIENT_GROUP_COLUMNS);
        let transposed = group * pixels >= TRANSPOSED_GRADIENT_COLUMNS;
        let mut product = vec![0f32; out_channels * depth];
        with_scratch(depth * pixels * group, |columns| {
            with_scratch(
                side_by_side_len(out_channels, pixels, group),
                |side_by_side| {
                    for (first, (images, grads)) in images
                        .chunks(group * self.image())
                        .zip(grads.chunks(group * out_channels * pixels))
                        .enumerate()
                    {
                        let n = grads.len() / out_channels;
                        for (index, image) in images.chunks(self.image()).enumerate() {
                            self.im2col(image, columns, Slot::of(index, pixels, n));
                        }
                        let grads =
                            side_by_side_or_as_is(grads, out_channels, pixels, side_by_side);
                        let accumulate = first > 0;
                        // Both are stored as rows of n values: (data, 1, n) reads them as
                        // stored, (data, n, 1) transposed.
                        let (columns, stride) = (&columns[..], n as isize);
                        if transposed {
                            let (columns, grads) = ((columns, 1, stride), (grads, stride, 1));
                            let dims = (depth, out_channels, n);
                            self.product(dims, &mut product, columns, grads, accumulate);
                        } else {
                            let (grads, columns) = ((grads, 1, stride), (columns, stride, 1));
                            let dims = (out_channels, depth, n);
                            self.product(dims, &mut product, grads, columns, accumulate);
                        }
                    }
                },
            )
        });
        if transposed {
            transpose(&product, depth, out_channels)
        } else {
            product
        }
    }
}

/// `matrix` [rows, cols] transposed.
fn transpose(matrix: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut transposed = vec![0f32; rows * cols];
    transpose_into(matrix, cols, rows, cols, &mut transposed);
    transposed
}

/// Images per product for a batch whose images give `per_image` columns each: at most `bound`
/// columns (one image at least), and the batch split into groups as even as that allows, so
/// that no last group is left with a narrow product (8 images at most 7 per group: 4 and 4, not
/// 7 and 1).
pub(super) fn images_per_group(bound: usize, per_image: usize, batch: usize) -> usize {
    let batch = batch.max(1);
    let most = (bound / per_image.max(1)).clamp(1, batch);
    batch.div_ceil(batch.div_ceil(most))
}

/// `matrix` [rows, cols], its rows `row_stride` apart, transposed into `transposed` [cols, rows],
/// a band of `TILE` columns per task, in blocks of `TILE` x `TILE` held in an array: the
/// compiler turns a block's fixed-size loops into vector shuffles.
pub(super) fn transpose_into(
    matrix: &[f32],
    row_stride: usize,
    rows: usize,
    cols: usize,
    transposed: &mut [f32],
) {
    const TILE: usize = 16;
    transposed[..rows * cols]
        .par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(band, out)| {
            let (col_start, width) = (band * TILE, out.len() / rows);
            for row_start in (0..rows).step_by(TILE) {
                let height = TILE.min(rows - row_start);
                if width == TILE && height == TILE {
                    let block: [[f32; TILE]; TILE] = std::array::from_fn(|r| {
                        let row = &matrix[(row_start + r) * row_stride + col_start..][..TILE];
                        std::array::from_fn(|c| row[c])
                    });
                    for (c, line) in out.chunks_exact_mut(rows).enumerate() {
                        for (r, value) in line[row_start..][..TILE].iter_mut().enumerate() {
                            *value = block[r][c];
                        }
                    }
                } else {
                    for r in row_start..row_start + height {
                        let line = &matrix[r * row_stride + col_start..][..width];
                        for (c, &value) in line.iter().enumerate() {
                            out[c * rows + r] = value;
                        }
                    }
                }
            }
        });
}

/// The scratch a group needs for its rows side by side: none for one image.
fn side_by_side_len(rows: usize, pixels: usize, group: usize) -> usize {
    if group > 1 { rows * pixels * group } else { 0 }
}

/// The offsets of each line of `pixels` values of a group of images' `rows`: image i's row r
/// at (i x rows + r) x pixels in [group, rows, pixels] and at (r x group + i) x pixels in the
/// same rows side by side, [rows, group x pixels].
fn lines(group: usize, rows: usize, pixels: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..group).flat_map(move |image| {
        (0..rows).map(move |row| {
            (
                (image * rows + row) * pixels,
                (row * group + image) * pixels,
            )
        })
    })
}

/// `grouped` [group, rows, pixels] with its rows side by side, in `scratch` unless the group
/// is one image (whose layout is already that).
fn side_by_side_or_as_is<'a>(
    grouped: &'a [f32],
    rows: usize,
    pixels: usize,
    scratch: &'a mut [f32],
) -> &'a [f32] {
    let group = grouped.len() / (rows * pixels);
    if group == 1 {
        return grouped;
    }
    for (at, to) in lines(group, rows, pixels) {
        scratch[to..to + pixels].copy_from_slice(&grouped[at..at + pixels]);
    }
    &scratch[..grouped.len()]
}

/// The inverse of [`side_by_side_or_as_is`]: `side_by_side` [rows, group x pixels] into
/// `grouped` [group, rows, pixels].
fn regroup(side_by_side: &[f32], rows: usize, pixels: usize, grouped: &mut [f32]) {
    let group = grouped.len() / (rows * pixels);
    for (to, at) in lines(group, rows, pixels) {
        grouped[to..to + pixels].copy_from_slice(&side_by_side[at..at + pixels]);
    }
}

impl Convolutions for Flex {
    fn convolution(x: FlexTensor, weight: FlexTensor, shape: ConvShape) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = Geometry::of(&x, &weight, shape);
        let batch = dims(&x)[0];
        let weights = storage(&weight);
        // The convolution's output channels: dim 0 of the weight in both layouts.
        let out_channels = dims(&weight)[0];
        let describe = || g.describe(None, &x, &weight, shape);
        profile::timed(describe, || {
            if shape.transposed {
                let y = g.convolve_adjoint(storage(&x), weights, out_channels);
                f32_tensor(y, [batch, g.channels, g.height, g.width])
            } else {
                let y = g.convolve(storage(&x), weights, out_channels);
                f32_tensor(y, [batch, out_channels, g.out_h, g.out_w])
            }
        })
    }

    fn convolution_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FlexTensor {
        let (x, weight, output_grad) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            output_grad.to_contiguous(),
        );
        let g = Geometry::of(&x, &weight, shape);
        let out_channels = dims(&weight)[0];
        let describe = || g.describe(Some(wrt), &x, &weight, shape);
        // A transposed convolution is the adjoint of the convolution from output_grad's shape
        // to x's: the roles of its input and its output gradient swap.
        profile::timed(describe, || match wrt {
            ConvGradient::Input => {
                let (grads, weights) = (storage(&output_grad), storage(&weight));
                let x_grad = if shape.transposed {
                    g.convolve(grads, weights, out_channels)
                } else {
                    g.convolve_adjoint(grads, weights, out_channels)
                };
                f32_tensor(x_grad, dims(&x))
            }
            ConvGradient::Weight => {
                let (x, grads) = (storage(&x), storage(&output_grad));
                let weight_grad = if shape.transposed {
                    g.weight_gradient(grads, x, out_channels)
                } else {
                    g.weight_gradient(x, grads, out_channels)
                };
                f32_tensor(weight_grad, dims(&weight))
            }
        })
    }
}
