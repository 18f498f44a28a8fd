//! LeakyReLU on Flex's autodiff backend: x is checkpointed for the one-pass gradient.

use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use super::FusedLeakyRelu;

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
