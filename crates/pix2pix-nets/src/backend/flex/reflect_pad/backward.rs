//! Reflection padding on Flex's autodiff backend: the gradient needs only the padding.

use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use super::FusedReflectPad;

impl<B: Backend + FusedReflectPad, C: CheckpointStrategy> FusedReflectPad for Autodiff<B, C> {
    fn fused_reflect_pad(x: FloatTensor<Self>, pad: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ReflectPadBackward;

        impl<B: Backend + FusedReflectPad> Backward<B, 1> for ReflectPadBackward {
            type State = usize;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::fused_reflect_pad_backward(grad, ops.state));
                }
            }
        }

        match ReflectPadBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish(pad, B::fused_reflect_pad(x.into_primitive(), pad))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_reflect_pad(x.into_primitive(), pad)),
        }
    }

    /// Gradients are constants: they are not differentiated again.
    fn fused_reflect_pad_backward(grad: FloatTensor<Self>, pad: usize) -> FloatTensor<Self> {
        Self::from_inner(B::fused_reflect_pad_backward(grad.into_primitive(), pad))
    }
}
