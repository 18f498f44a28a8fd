//! Convolutions in fewer multiplications by Winograd's minimal filtering (Lavin and Gray, "Fast
//! Algorithms for Convolutional Neural Networks", CVPR 2016), with 4x4 transforms:
//!
//! - F(2x2, 3x3) for 3x3 stride-1 convolutions (the ResNet generators' blocks): each 2x2 block
//!   of outputs (a tile) comes from the 4x4 block of inputs around it with 16 products instead of
//!   36;
//! - F(3x3, 2x2) for 4x4 stride-2 convolutions with padding 1 (every layer of the U-Net and the
//!   PatchGAN's strided ones), and so their transposes: with the padded input rearranged
//!   space-to-depth (each 2x2 block of pixels as four channels), such a convolution is a 2x2
//!   stride-1 convolution over four times the channels, and each 3x3 tile of its outputs comes
//!   from a 4x4 block with 16 products instead of 36. A 4x4 stride-1 convolution (the PatchGAN's
//!   fourth layer) is four of those, one for each phase (row and column parity) of its outputs,
//!   on the input shifted by the phase; their tiles share the products.
//!
//! With the weights and the input blocks transformed, a convolution is 16 matrix products
//! U_ξ[out, in] x V_ξ[in, tiles], one per position ξ of the 4x4 transform: 2.25 times fewer
//! multiplications than the one product over the column matrix, and no column matrix. The input
//! gradient is the same kind of convolution, of the output gradient with the weights flipped and
//! transposed; the weight gradient the same 16 products against the transformed output gradient.
//!
//! The transforms' coefficients are 0, ±1 and ±1/2, so in f32 the results are as close to the
//! exact ones as the column matrix's (the kernel tests compare both with Burn's convolution).
//! `--precision bf16` keeps the columns where the CPU has bf16 dot products: its products round
//! the operands themselves to bf16.
//!
//! - here: the algorithms, when a convolution is computed so, and its plan;
//! - `layout`: where a plan's planes sit in the tensors (space-to-depth, phases);
//! - `plan`: the products, image group by image group;
//! - `filters`: the weights' transform, and the weight gradient's back;
//! - `transforms`: the transforms of input blocks, outputs and output gradients.

mod filters;
mod layout;
mod plan;
mod transforms;

use rayon::prelude::*;

use super::im2col::{Geometry, with_scratch};
use layout::Layout;
use plan::{Part, Plan};

/// Positions of the 4x4 transforms: the number of products.
const XI: usize = 16;

/// A matrix of up to 4x4 coefficients (the rest zeros).
#[derive(Clone, Copy)]
struct Matrix {
    rows: usize,
    cols: usize,
    values: [[f32; 4]; 4],
}

impl Matrix {
    fn transpose(self) -> Matrix {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            values: std::array::from_fn(|r| std::array::from_fn(|c| self.values[c][r])),
        }
    }
}

/// Winograd's F(m x m, r x r): `tile` (m) outputs a side from blocks of 4 inputs with a `kernel`
/// (r) taps a side, m + r - 1 = 4.
#[derive(Clone, Copy)]
struct Minimal {
    tile: usize,
    kernel: usize,
    /// Bᵀ: an input block d to Bᵀ d B.
    input: Matrix,
    /// G: an r x r filter g to G g Gᵀ.
    filter: Matrix,
    /// Aᵀ: a tile's 16 products m to its m x m outputs Aᵀ m A.
    output: Matrix,
}

/// F(2x2, 3x3), interpolating at 0, 1, -1 and infinity.
const F2X3: Minimal = Minimal {
    tile: 2,
    kernel: 3,
    input: Matrix {
        rows: 4,
        cols: 4,
        values: [
            [1.0, 0.0, -1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, -1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, -1.0],
        ],
    },
    filter: Matrix {
        rows: 4,
        cols: 3,
        values: [
            [1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5, 0.0],
            [0.5, -0.5, 0.5, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
    },
    output: Matrix {
        rows: 2,
        cols: 4,
        values: [
            [1.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, -1.0, -1.0],
            [0.0; 4],
            [0.0; 4],
        ],
    },
};

/// F(3x3, 2x2), at the same points.
const F3X2: Minimal = Minimal {
    tile: 3,
    kernel: 2,
    input: Matrix {
        rows: 4,
        cols: 4,
        values: [
            [1.0, 0.0, -1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, -1.0, 1.0, 0.0],
            [0.0, -1.0, 0.0, 1.0],
        ],
    },
    filter: Matrix {
        rows: 4,
        cols: 2,
        values: [
            [1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.5, -0.5, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
        ],
    },
    output: Matrix {
        rows: 3,
        cols: 4,
        values: [
            [1.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, -1.0, 0.0],
            [0.0, 1.0, 1.0, 1.0],
            [0.0; 4],
        ],
    },
};

/// Channels in and out, and output pixels of each part per image, from which the transforms
/// can cost less than the multiplications they save: the weights' transform is per call, the
/// savings per pixel (BENCHMARKS.md: slower from the images' 3 or 6 channels and on 8x8 maps
/// at any batch).
const MIN_CHANNELS: usize = 16;
const MIN_PIXELS: usize = 15 * 15;

/// Output pixels of each part over the batch from which the strided 4x4 convolutions pay:
/// slower on 16x16 maps alone, faster from 32x32, or 16x16 in a batch of four (BENCHMARKS.md).
const MIN_BATCH_PIXELS: usize = 31 * 31;

/// [`MIN_BATCH_PIXELS`] for the stride-1 convolutions (3x3, and the 4x4 ones' phases), whose
/// products have more tiles per counted pixel (F(2x2, 3x3)'s tiles are 2x2; four phases share
/// one weight transform): with the 16 products side by side, 16x16 maps pay in a batch of two
/// (BENCHMARKS.md, 2026-12-07 (second)).
const MIN_BATCH_PIXELS_STRIDE_1: usize = 2 * 16 * 16;

/// [`MIN_BATCH_PIXELS`] for the weight gradients of the strided 4x4 convolutions, whose 16 sums
/// have, after space-to-depth, four times the (out, in) pairs (64 MB for the U-Net's 1024->256
/// layer), each written by the products, read by the transform back: since images are grouped
/// in the column products, 16x16 maps pay in a batch of eight but not in one of four
/// (BENCHMARKS.md, 2026-12-07). A 4x4 stride-1 convolution's four phases share one set of sums,
/// and its weight gradient pays where the convolution does (2026-12-07 (third)).
const MIN_BATCH_PIXELS_4X4_GRADIENT: usize = 45 * 45;

impl Geometry {
    /// Whether the convolution to `out_channels` of `batch` images can be computed here
    /// ([`Self::algorithm`] decides). The input
    /// gradient of a stride-1 one is a convolution with padding kernel - 1 - padding, hence the
    /// bound on the padding. A 4x4 stride-1 convolution is four parts (the phases of its
    /// outputs), each with about a quarter of its pixels.
    pub(super) fn fits_winograd(&self, out_channels: usize, batch: usize) -> bool {
        let three = self.kernel == 3 && self.stride == 1 && self.padding <= 2;
        let phases = self.phased() && self.padding <= 3;
        let pixels = self.part_pixels();
        let min_batch_pixels = if self.strided() {
            MIN_BATCH_PIXELS
        } else {
            MIN_BATCH_PIXELS_STRIDE_1
        };
        !self.rounds_operands()
            && (three || phases || self.strided())
            && self.channels >= MIN_CHANNELS
            && out_channels >= MIN_CHANNELS
            && pixels >= MIN_PIXELS
            && batch * pixels >= min_batch_pixels
    }

    /// Whether the weight gradient of a convolution that [`Self::fits_winograd`] is computed by
    /// the transforms too: a strided 4x4 one's from [`MIN_BATCH_PIXELS_4X4_GRADIENT`] pixels a
    /// part over the batch, or from [`MIN_BATCH_PIXELS`] in each image (where they pay alone).
    pub(super) fn winograd_sums_pay(&self, batch: usize) -> bool {
        let pixels = self.part_pixels();
        !self.strided()
            || pixels >= MIN_BATCH_PIXELS
            || batch * pixels >= MIN_BATCH_PIXELS_4X4_GRADIENT
    }

    /// Output pixels of each part: a 4x4 stride-1 convolution's are the four phases of its
    /// outputs, counted at the largest one's size (16x16 for a 31x31 output, whose phases at
    /// batch 4 pay as 16x16 maps do: BENCHMARKS.md, 2026-12-07 (second)).
    fn part_pixels(&self) -> usize {
        if self.phased() {
            self.out_h.div_ceil(2) * self.out_w.div_ceil(2)
        } else {
            self.out_h * self.out_w
        }
    }

    /// A 4x4 stride-1 convolution: four parts, the phases of its outputs ([`Self::plan`]).
    fn phased(&self) -> bool {
        self.kernel == 4 && self.stride == 1
    }

    /// A 4x4 stride-2 convolution with padding 1: a 2x2 one after space-to-depth.
    fn strided(&self) -> bool {
        self.kernel == 4 && self.stride == 2 && self.padding == 1
    }

    /// outputs[batch, out_channels, out_h, out_w] of images[batch, channels, height, width].
    pub(super) fn convolve_winograd(
        &self,
        images: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let plan = self.plan(out_channels);
        with_scratch(XI * plan.pairs(), |filters| {
            plan.transform_weights(weights, false, filters);
            plan.convolve(images, filters)
        })
    }

    /// The adjoint of [`Self::convolve_winograd`]: images from grads[batch, out_channels,
    /// out_h, out_w], as the convolution of the grads with the weights flipped and transposed.
    pub(super) fn convolve_winograd_adjoint(
        &self,
        grads: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        if self.phased() {
            // Itself a 4x4 stride-1 convolution, whose parts' outputs are the phases of the
            // images; the parts of the adjoint of this one would each reach every pixel.
            let adjoint = Geometry {
                channels: out_channels,
                height: self.out_h,
                width: self.out_w,
                padding: 3 - self.padding,
                out_h: self.height,
                out_w: self.width,
                ..*self
            };
            return with_scratch(weights.len(), |flipped| {
                flip_and_transpose(weights, out_channels, self.channels, flipped);
                adjoint.convolve_winograd(grads, flipped, self.channels)
            });
        }
        let plan = self.plan(out_channels);
        with_scratch(XI * plan.pairs(), |filters| {
            plan.transform_weights(weights, true, filters);
            plan.adjoint().convolve(grads, filters)
        })
    }

    /// The weight gradient [out_channels, channels, k, k] of [`Self::convolve_winograd`].
    pub(super) fn weight_gradient_winograd(
        &self,
        images: &[f32],
        grads: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        self.plan(out_channels).weight_gradient(images, grads)
    }

    /// The convolution as parts of Winograd's transforms: one for 3x3 stride-1 and 4x4
    /// stride-2 convolutions (the latter after space-to-depth), four for a 4x4 stride-1 one,
    /// one for each phase of its outputs (row and column parity), each a 4x4 stride-2
    /// convolution of the input shifted by the phase.
    fn plan(&self, out_channels: usize) -> Plan {
        if self.kernel == 3 {
            return Plan::new(vec![Part {
                algorithm: F2X3,
                channels: self.channels,
                height: self.height,
                width: self.width,
                padding: self.padding,
                out_channels,
                out_h: self.out_h,
                out_w: self.out_w,
                inputs: Layout::Planes,
                outputs: Layout::Planes,
            }]);
        }
        let (height, width, padding) = (self.height, self.width, self.padding as isize);
        let part = |(out_h, out_w): (usize, usize), (row, col): (usize, usize), outputs| Part {
            algorithm: F3X2,
            channels: 4 * self.channels,
            height: out_h + 1,
            width: out_w + 1,
            padding: 0,
            out_channels,
            out_h,
            out_w,
            inputs: Layout::SpaceToDepth {
                height,
                width,
                row: row as isize - padding,
                col: col as isize - padding,
            },
            outputs,
        };
        if self.strided() {
            return Plan::new(vec![part((self.out_h, self.out_w), (0, 0), Layout::Planes)]);
        }
        let (out_h, out_w) = (self.out_h, self.out_w);
        let phases = (0..2).flat_map(|row| (0..2).map(move |col| (row, col)));
        Plan::new(
            phases
                .filter(|&(row, col)| row < out_h && col < out_w)
                .map(|(row, col)| {
                    let outputs = Layout::Phase {
                        height: out_h,
                        width: out_w,
                        row,
                        col,
                    };
                    let sides = ((out_h - row).div_ceil(2), (out_w - col).div_ceil(2));
                    part(sides, (row, col), outputs)
                })
                .collect(),
        )
    }
}

/// `flipped` [channels, out_channels, 4, 4] = `weights` [out_channels, channels, 4, 4] with each
/// filter turned by 180 degrees and the channels swapped: the adjoint convolution's weights.
fn flip_and_transpose(weights: &[f32], out_channels: usize, channels: usize, flipped: &mut [f32]) {
    flipped
        .par_chunks_mut(out_channels * 16)
        .enumerate()
        .for_each(|(c, filters)| {
            for (o, filter) in filters.chunks_exact_mut(16).enumerate() {
                let source = &weights[(o * channels + c) * 16..][..16];
                for (k, tap) in filter.iter_mut().enumerate() {
                    *tap = source[15 - k];
                }
            }
        });
}
