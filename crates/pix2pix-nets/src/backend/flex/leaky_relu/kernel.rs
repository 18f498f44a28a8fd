//! LeakyReLU on Flex's buffers: Flex's own forward, and the gradient in one parallel pass.

use burn::backend::Flex;
use burn::backend::ops::ActivationOps;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::FusedLeakyRelu;
use crate::backend::flex::{f32_tensor, storage};

impl FusedLeakyRelu for Flex {
    fn fused_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        <Flex as ActivationOps<Flex>>::leaky_relu(x, slope.into())
    }

    fn fused_leaky_relu_backward(x: FlexTensor, grad: FlexTensor, slope: f32) -> FlexTensor {
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let mut output = vec![0f32; grad.layout().num_elements()];
        output
            .par_chunks_mut(1 << 14)
            .zip(storage(&x).par_chunks(1 << 14))
            .zip(storage(&grad).par_chunks(1 << 14))
            .for_each(|((output, x), grad)| {
                for ((o, &x), &g) in output.iter_mut().zip(x).zip(grad) {
                    *o = if x > 0.0 { g } else { slope * g };
                }
            });
        f32_tensor(output, grad.layout().shape().clone())
    }
}
