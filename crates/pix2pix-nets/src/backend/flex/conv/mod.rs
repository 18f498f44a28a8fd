//! 2-D convolutions and transposed convolutions on Flex, forward and backward, as a Burn backend
//! extension: one im2col over the whole image and one GEMM with the weight as it is stored.
//!
//! Flex's own convolution tiles the output in blocks of 512 pixels and transposes the input to
//! NHWC and the weight to (kh, kw, c) order on one thread at every call; for unet_256's
//! 512-channel layers at 2x2 to 16x16 that reshuffle of a 16 MB weight dominates, and the
//! gradients go through the same path (BENCHMARKS.md has the measurements).
//!
//! - [`Convolutions`] (here): the extension trait and the tensor-level entry [`conv`];
//! - `kernel`: the kernels on Flex's f32 buffers; `im2col` and `gemm`: what they are made of;
//!   `bf16`: the products of `--precision bf16` on bf16 dot products or AMX tiles; `direct`: the
//!   convolutions to a few channels, without columns; `winograd`: 3x3 stride-1 and 4x4 stride-2
//!   convolutions in fewer multiplications; `narrow`: products of a few columns that stream a
//!   weight stored by columns;
//! - `backward`: the autodiff implementation, which computes only the tracked gradients.

mod backward;
pub(crate) mod bf16;
mod direct;
mod gemm;
mod im2col;
mod kernel;
mod narrow;
#[cfg(test)]
mod tests;
mod winograd;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

use crate::backend::{Bf16Products, ConvShape};
use gemm::View;

/// Convolutions (`transposed` false) and transposed convolutions (true) with square kernels,
/// equal strides and symmetric padding: what pix2pix's networks use. Weights are laid out as in
/// PyTorch: (out, in, k, k) for convolutions, (in, out, k, k) for transposed ones. The tensors
/// are f32 (the entry points in src/backend/mod.rs route other dtypes to Burn).
#[backend_extension(Flex, Autodiff)]
pub(crate) trait Convolutions: Backend {
    fn convolution(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self>;

    /// One gradient of `convolution`: for its input or for its weight. Apart, so that a
    /// backward pass computes only what is tracked: no weight gradients through the frozen
    /// discriminator in the generator's step, no gradient for the images fed in.
    fn convolution_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FloatTensor<Self>;
}

/// Which gradient [`Convolutions::convolution_backward`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvGradient {
    Input,
    Weight,
}

/// The convolution (or transposed convolution) of f32 Flex tensors; no bias, the caller adds it.
pub(crate) fn conv(x: Tensor<4>, weight: Tensor<4>, shape: ConvShape) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Convolutions>::convolution(
        x.into_dispatch(),
        weight.into_dispatch(),
        shape,
    ))
}

/// Where a product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Threads {
    /// On rayon's threads.
    All,
    /// On the calling thread alone: for callers that compute several products side by side
    /// (Winograd's 16).
    Calling,
}

/// dst[m, n] = lhs[m, k] x rhs[k, n] (plus dst when `accumulate`) in a convolution's arithmetic:
/// bf16 operands on `products` where the shape suits them ([`bf16::Kernel::suited`]), f32
/// otherwise.
fn product(
    products: Bf16Products,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (lhs, rhs): (View, View),
    accumulate: bool,
    threads: Threads,
) {
    if let Some(kernel) = bf16::Kernel::suited(products, m, n, k) {
        let operands = (lhs, bf16::Rhs::View(rhs));
        bf16::matmul(kernel, (m, n, k), dst, operands, accumulate, threads);
    } else if threads == Threads::All {
        gemm::matmul(m, n, k, dst, lhs, rhs, accumulate);
    } else {
        gemm::matmul_on_this_thread((m, n, k), dst, lhs, rhs, accumulate);
    }
}
