//! LeakyReLU with a one-pass gradient on Flex, as a Burn backend extension.
//!
//! Burn differentiates LeakyReLU through its decomposition (a comparison, a scaled copy and a
//! masked select, each a whole-tensor pass, and as many again backward); PyTorch's kernel is one
//! pass each way. The U-Net's down path and the PatchGAN use it on their largest activations.

use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::flex_tensor::{f32_tensor, is_f32};

#[backend_extension(Flex, Autodiff)]
pub trait FusedLeakyRelu: Backend {
    fn fused_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;

    /// The input gradient: `grad` where x > 0, `slope * grad` elsewhere (PyTorch's rule).
    fn fused_leaky_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        slope: f32,
    ) -> FloatTensor<Self>;
}

impl FusedLeakyRelu for Flex {
    fn fused_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        <Flex as ActivationOps<Flex>>::leaky_relu(x, slope.into())
    }

    fn fused_leaky_relu_backward(x: FlexTensor, grad: FlexTensor, slope: f32) -> FlexTensor {
        assert!(
            is_f32(&[&x, &grad]),
            "the fused LeakyReLU is only used on f32 tensors"
        );
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let mut output = vec![0f32; grad.layout().num_elements()];
        output
            .par_chunks_mut(1 << 14)
            .zip(x.storage::<f32>().par_chunks(1 << 14))
            .zip(grad.storage::<f32>().par_chunks(1 << 14))
            .for_each(|((output, x), grad)| {
                for ((o, &x), &g) in output.iter_mut().zip(x).zip(grad) {
                    *o = if x > 0.0 { g } else { slope * g };
                }
            });
        f32_tensor(output, grad.layout().shape().clone())
    }
}

impl<B: Backend + FusedLeakyRelu, C: CheckpointStrategy> FusedLeakyRelu for Autodiff<B, C> {
    fn fused_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LeakyReluBackward;

        impl<B: Backend + FusedLeakyRelu> Backward<B, 1> for LeakyReluBackward {
            type State = (NodeId, f32);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, slope) = ops.state;
                if let Some(node) = node_x {
                    let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                    grads.register::<B>(node.id, B::fused_leaky_relu_backward(x, grad, slope));
                }
            }
        }

        match LeakyReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish(
                    (x_state, slope),
                    B::fused_leaky_relu(x.into_primitive(), slope),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_leaky_relu(x.into_primitive(), slope)),
        }
    }

    /// Gradients are constants: they are not differentiated again.
    fn fused_leaky_relu_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        slope: f32,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::fused_leaky_relu_backward(
            x.into_primitive(),
            grad.into_primitive(),
            slope,
        ))
    }
}

/// LeakyReLU; the fused path on Flex f32 tensors, Burn's elsewhere.
pub fn leaky_relu(x: Tensor<4>, slope: f64) -> Tensor<4> {
    if !crate::device::is_flex(&x.device()) || x.dtype() != DType::F32 {
        return burn::tensor::activation::leaky_relu(x, slope);
    }
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
