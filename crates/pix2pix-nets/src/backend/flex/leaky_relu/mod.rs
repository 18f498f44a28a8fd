//! LeakyReLU with a one-pass gradient on Flex, as a Burn backend extension.
//!
//! Burn differentiates LeakyReLU through its decomposition (a comparison, a scaled copy and a
//! masked select, each a whole-tensor pass, and as many again backward); PyTorch's kernel is one
//! pass each way. The U-Net's down path and the PatchGAN use it on their largest activations.
//!
//! - [`FusedLeakyRelu`] (here): the extension trait and the tensor-level entry [`leaky_relu`];
//! - `kernel`: the f32 kernels on Flex's buffers; `backward`: the autodiff implementation.

mod backward;
mod kernel;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedLeakyRelu: Backend {
    fn fused_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;

    /// The input gradient: `grad` where x > 0, `slope * grad` elsewhere (PyTorch's rule).
    fn fused_leaky_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        slope: f32,
    ) -> FloatTensor<Self>;
}

/// LeakyReLU of an f32 Flex tensor.
pub(crate) fn leaky_relu(x: Tensor<4>, slope: f64) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FusedLeakyRelu>::fused_leaky_relu(
        x.into_dispatch(),
        slope as f32,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;

    /// Output and gradient equal Burn's LeakyReLU (inputs away from 0, where the two rules for
    /// the gradient at exactly 0 would differ).
    #[test]
    fn equals_burns_leaky_relu_and_its_gradient() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random([2, 3, 7, 5], Distribution::Normal(0.0, 1.0), &device);
        let x = (x.clone() + x.sign().mul_scalar(1e-3))
            .detach()
            .require_grad();
        let x_burns = x.clone().detach().require_grad();
        let output_grad =
            Tensor::<4>::random([2, 3, 7, 5], Distribution::Normal(0.0, 1.0), &device);
        let ours = leaky_relu(x.clone(), 0.2);
        let burns = burn::tensor::activation::leaky_relu(x_burns.clone(), 0.2);
        let values = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(values(ours.clone().inner()), values(burns.clone().inner()));
        let grads = (ours * output_grad.clone()).sum().backward();
        let grads_burns = (burns * output_grad).sum().backward();
        assert_eq!(
            values(x.grad(&grads).unwrap()),
            values(x_burns.grad(&grads_burns).unwrap())
        );
    }
}
