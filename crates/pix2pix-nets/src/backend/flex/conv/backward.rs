//! The convolutions on Flex's autodiff backend: the forward checkpoints its input and weight,
//! the backward computes only the gradients of tracked parents.

use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use super::{ConvGradient, ConvShape, Convolutions};

impl<B: Backend + Convolutions, C: CheckpointStrategy> Convolutions for Autodiff<B, C> {
    fn convolution(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvolutionBackward;

        impl<B: Backend + Convolutions> Backward<B, 2> for ConvolutionBackward {
            type State = (NodeId, NodeId, ConvShape);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, shape) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                let gradient = |wrt| {
                    B::convolution_backward(x.clone(), weight.clone(), grad.clone(), shape, wrt)
                };
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, gradient(ConvGradient::Input))
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, gradient(ConvGradient::Weight))
                }
            }
        }

        match ConvolutionBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                prep.finish(
                    (x_state, weight_state, shape),
                    B::convolution(x.into_primitive(), weight.into_primitive(), shape),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::convolution(
                x.into_primitive(),
                weight.into_primitive(),
                shape,
            )),
        }
    }

    /// Gradients are constants: they are not differentiated again.
    fn convolution_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::convolution_backward(
            x.into_primitive(),
            weight.into_primitive(),
            output_grad.into_primitive(),
            shape,
            wrt,
        ))
    }
}
