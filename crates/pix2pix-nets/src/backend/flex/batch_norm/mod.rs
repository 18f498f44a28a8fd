//! Training-mode BatchNorm on Flex as a Burn backend extension: three passes over the
//! activations each way.
//!
//! Burn's default `batch_norm_train` (Flex has no kernel of its own) computes the statistics by
//! swapping the batch and channel dims into a copy, twice, and normalises and differentiates in
//! about ten more whole-tensor passes.
//!
//! - [`FusedBatchNorm`] (here): the extension trait and the tensor-level entry
//!   [`batch_norm_train`];
//! - `kernel`: the f32 kernels on Flex's buffers; `backward`: the autodiff implementation.

mod backward;
mod kernel;
#[cfg(test)]
mod tests;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::module::BatchNormTrainOutput;

#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedBatchNorm: Backend {
    /// BatchNorm of x [batch, channels, height, width] with its own statistics:
    /// (output, mean, biased variance), the last two per channel.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients for x, gamma and beta, given the statistics the forward returned.
    fn fused_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Training-mode BatchNorm of f32 Flex tensors (x is [batch, channels, height, width]).
pub(crate) fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrainOutput<4> {
    let (output, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    BatchNormTrainOutput {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean).detach(),
        variance: Tensor::from_dispatch(variance).detach(),
    }
}
