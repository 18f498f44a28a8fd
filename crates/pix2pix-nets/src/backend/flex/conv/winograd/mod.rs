//! Convolutions in fewer multiplications by Winograd's minimal filtering (Lavin and Gray, "Fast
//! Algorithms for Convolutional Neural Networks", CVPR 2016):
//!
//! - F(2x2, 3x3) for 3x3 stride-1 convolutions (the ResNet generators' blocks): each 2x2 block
//!   of outputs (a tile) comes from the 4x4 block of inputs around it with 16 products instead of
//!   36;
//! - F(3x3, 2x2) for 4x4 stride-2 convolutions with padding 1 (every layer of the U-Net and the
//!   PatchGAN's strided ones), and so their transposes: with the padded input rearranged
//!   space-to-depth (each 2x2 block of pixels as four channels), such a convolution is a 2x2
//!   stride-1 convolution over four times the channels, and each 3x3 tile of its outputs comes
//!   from a 4x4 block with 16 products instead of 36;
//! - F(2x2, 4x4) for 4x4 stride-1 convolutions (the PatchGAN's fourth layer): each 2x2 tile
//!   comes from the 5x5 block around it with 25 products instead of 64.
//!
//! With the weights and the input blocks transformed, a convolution is one matrix product
//! U_ξ[out, in] x V_ξ[in, tiles] per position ξ of the transform (16 or 25): 2.25 to 2.56 times
//! fewer multiplications than the one product over the column matrix, and no column matrix. The
//! input gradient is the same kind of convolution, of the output gradient with the weights
//! flipped and transposed; the weight gradient the same products against the transformed output
//! gradient.
//!
//! The 4x4 transforms' coefficients are 0, ±1 and ±1/2, so in f32 their results are as close to
//! the exact ones as the column matrix's; F(2x2, 4x4)'s filter transform has sixths and thirds,
//! rounded once per call (the kernel tests compare all three with Burn's convolution).
//! Under `--precision bf16` the transforms stay in f32 and the products round the transformed
//! operands to bf16 (sums in f32): errors under twice the columns' typically, a few times theirs
//! at worst, at the borders (the kernel tests bound both against the exact convolution). Only
//! F(2x2, 3x3) is taken so, on the bf16 dot products; the 4x4 convolutions and everything on
//! AMX's tiles keep the columns, where those are as fast or faster.
//!
//! - here: the algorithms, when a convolution is computed so, and its plan;
//! - `layout`: where a plan's planes sit in the tensors (space-to-depth);
//! - `plan`: the products, image group by image group;
//! - `filters`: the weights' transform, and the weight gradient's back;
//! - `transforms`: the transforms of input blocks, outputs and output gradients.

mod filters;
mod layout;
mod plan;
mod transforms;

use super::im2col::{Geometry, with_scratch};
use crate::backend::Bf16Products;
use layout::Layout;
use plan::{Part, Plan};

/// Side of the largest transform: F(2x2, 4x4)'s blocks of 5x5 inputs.
const SIDE: usize = 5;

/// A matrix of up to [`SIDE`] x [`SIDE`] coefficients (the rest zeros).
#[derive(Clone, Copy)]
struct Matrix {
    rows: usize,
    cols: usize,
    values: [[f32; SIDE]; SIDE],
}

impl Matrix {
    /// The matrix of R rows of C `values`.
    const fn new<const R: usize, const C: usize>(values: [[f32; C]; R]) -> Matrix {
        let mut padded = [[0.0; SIDE]; SIDE];
        let mut r = 0;
        while r < R {
            let mut c = 0;
            while c < C {
                padded[r][c] = values[r][c];
                c += 1;
            }
            r += 1;
        }
        Matrix {
            rows: R,
            cols: C,
            values: padded,
        }
    }

    fn transpose(self) -> Matrix {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            values: std::array::from_fn(|r| std::array::from_fn(|c| self.values[c][r])),
        }
    }
}

/// Winograd's F(m x m, r x r): `tile` (m) outputs a side from blocks of m + r - 1 inputs with a
/// `kernel` (r) taps a side.
#[derive(Clone, Copy)]
struct Minimal {
    tile: usize,
    kernel: usize,
    /// Bᵀ: an input block d to Bᵀ d B.
    input: Matrix,
    /// G: an r x r filter g to G g Gᵀ.
    filter: Matrix,
    /// Aᵀ: a tile's products m to its m x m outputs Aᵀ m A.
    output: Matrix,
}

impl Minimal {
    /// Inputs a side of a block.
    fn side(&self) -> usize {
        self.tile + self.kernel - 1
    }

    /// Positions ξ of the transforms: the number of products.
    fn positions(&self) -> usize {
        self.side() * self.side()
    }
}

/// F(2x2, 3x3), interpolating at 0, 1, -1 and infinity.
const F2X3: Minimal = Minimal {
    tile: 2,
    kernel: 3,
    input: Matrix::new([
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ]),
    filter: Matrix::new([
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ]),
    output: Matrix::new([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]]),
};

/// F(3x3, 2x2), at the same points.
const F3X2: Minimal = Minimal {
    tile: 3,
    kernel: 2,
    input: Matrix::new([
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0],
    ]),
    filter: Matrix::new([[1.0, 0.0], [0.5, 0.5], [0.5, -0.5], [0.0, 1.0]]),
    output: Matrix::new([
        [1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 1.0],
    ]),
};

/// F(2x2, 4x4), interpolating at 0, 1, -1, 2 and infinity: 25 products for a tile of 2x2
/// outputs instead of 64. Bᵀ and Aᵀ are small integers; G's sixths and thirds are rounded in
/// f32, in the filters' transform (as a change of the weights by a few parts in 10⁸).
const F2X4: Minimal = Minimal {
    tile: 2,
    kernel: 4,
    input: Matrix::new([
        [2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 2.0, 1.0, -1.0, 0.0],
        [0.0, -2.0, 3.0, -1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0],
    ]),
    filter: Matrix::new([
        [0.5, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.5, 0.5],
        [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0, 4.0 / 3.0],
        [0.0, 0.0, 0.0, 1.0],
    ]),
    output: Matrix::new([[1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 2.0, 1.0]]),
};

/// Channels in and out, and output pixels per image, from which the transforms can cost less
/// than the multiplications they save: the weights' transform is per call, the savings per
/// pixel (BENCHMARKS.md: slower from the images' 3 or 6 channels, on 8x8 maps at any batch, and
/// F(2x2, 4x4) on 15x15 maps alone).
const MIN_CHANNELS: usize = 16;
const MIN_PIXELS: usize = 15 * 15;

/// Output pixels over the batch from which the strided 4x4 convolutions pay: slower on 16x16
/// maps alone, faster from 32x32, or 16x16 in a batch of four (BENCHMARKS.md).
const MIN_BATCH_PIXELS: usize = 31 * 31;

/// [`MIN_BATCH_PIXELS`] for the stride-1 convolutions, whose products have more tiles per pixel
/// (2x2 tiles): with the products side by side, 16x16 maps pay in a batch of two
/// (BENCHMARKS.md, 2026-12-07 (second)), and the 4x4 ones' 31x31 maps alone and 15x15 in a
/// batch of four (2026-12-07 (fourth); 15x15 in a batch of two about even).
const MIN_BATCH_PIXELS_STRIDE_1: usize = 2 * 16 * 16;

/// [`MIN_BATCH_PIXELS`] for the weight gradients of the strided 4x4 convolutions, whose sums
/// have, after space-to-depth, four times the (out, in) pairs (64 MB for the U-Net's 1024->256
/// layer), each written by the products, read by the transform back: since images are grouped
/// in the column products, 16x16 maps pay in a batch of eight but not in one of four
/// (BENCHMARKS.md, 2026-12-07). A stride-1 convolution's weight gradient pays where the
/// convolution does.
const MIN_BATCH_PIXELS_4X4_GRADIENT: usize = 45 * 45;

impl Geometry {
    /// Whether the convolution to `out_channels` of `batch` images can be computed here
    /// ([`Self::algorithm`] decides). The input gradient of a stride-1 one is a convolution
    /// with padding kernel - 1 - padding, hence the bound on the padding.
    pub(super) fn fits_winograd(&self, out_channels: usize, batch: usize) -> bool {
        let stride_1 = self.stride == 1 && self.padding < self.kernel;
        let pixels = self.out_pixels();
        let min_batch_pixels = if self.strided() {
            MIN_BATCH_PIXELS
        } else {
            MIN_BATCH_PIXELS_STRIDE_1
        };
        self.winograd_in_its_precision()
            && ((stride_1 && (self.kernel == 3 || self.kernel == 4)) || self.strided())
            && self.channels >= MIN_CHANNELS
            && out_channels >= MIN_CHANNELS
            && pixels >= MIN_PIXELS
            && batch * pixels >= min_batch_pixels
    }

    /// Whether the transforms pay in the convolution's precision: always in f32; under bf16 on
    /// the dot products, F(2x2, 3x3), its products on the dot products too (faster than the
    /// columns from 16x16 maps in a batch of two to 64x64; the 4x4 convolutions' transforms were
    /// even with the columns at best: BENCHMARKS.md, 2026-12-07 (sixth)); never on AMX's tiles,
    /// whose products are many times faster than the dot products.
    fn winograd_in_its_precision(&self) -> bool {
        match self.bf16 {
            Bf16Products::F32 => true,
            Bf16Products::DotProducts => self.kernel == 3,
            Bf16Products::Tiles => false,
        }
    }

    /// Whether the weight gradient of a convolution that [`Self::fits_winograd`] is computed by
    /// the transforms too: a strided 4x4 one's from [`MIN_BATCH_PIXELS_4X4_GRADIENT`] pixels
    /// over the batch, or from [`MIN_BATCH_PIXELS`] in each image (where they pay alone).
    pub(super) fn winograd_sums_pay(&self, batch: usize) -> bool {
        let pixels = self.out_pixels();
        !self.strided()
            || pixels >= MIN_BATCH_PIXELS
            || batch * pixels >= MIN_BATCH_PIXELS_4X4_GRADIENT
    }

    fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
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
        with_scratch(plan.positions() * plan.pairs(), |filters| {
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
        let plan = self.plan(out_channels);
        with_scratch(plan.positions() * plan.pairs(), |filters| {
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

    /// The convolution as one of Winograd's: 3x3 and 4x4 stride-1 ones on the planes as they
    /// are, 4x4 stride-2 ones as 2x2 stride-1 ones after space-to-depth.
    fn plan(&self, out_channels: usize) -> Plan {
        let part = Part {
            algorithm: if self.kernel == 3 { F2X3 } else { F2X4 },
            channels: self.channels,
            height: self.height,
            width: self.width,
            padding: self.padding,
            out_channels,
            out_h: self.out_h,
            out_w: self.out_w,
            inputs: Layout::Planes,
            outputs: Layout::Planes,
        };
        if !self.strided() {
            return Plan::new(part, self.bf16);
        }
        Plan::new(
            Part {
                algorithm: F3X2,
                channels: 4 * self.channels,
                height: self.out_h + 1,
                width: self.out_w + 1,
                padding: 0,
                inputs: Layout::SpaceToDepth {
                    height: self.height,
                    width: self.width,
                    padding: self.padding,
                },
                ..part
            },
            self.bf16,
        )
    }
}
