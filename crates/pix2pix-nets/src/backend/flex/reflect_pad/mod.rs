//! Reflection padding (the ResNet generators' `ReflectionPad2d`) in one pass each way on Flex,
//! as a Burn backend extension.
//!
//! Burn pads by composition: a zero tensor, the centre and each side's slices assigned into it,
//! each side flipped, per padded dimension; backward, every slice and assignment is a whole-tensor
//! pass of its own (BENCHMARKS.md, reflection padding). PyTorch's kernel is one pass each way.
//!
//! - [`FusedReflectPad`] (here): the extension trait and the tensor-level entry [`reflect_pad`];
//! - `kernel`: the f32 kernels on Flex's buffers; `backward`: the autodiff implementation.

mod backward;
mod kernel;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedReflectPad: Backend {
    /// x [batch, channels, height, width] with `pad` reflected rows and columns on every side
    /// (`pad` below the height and the width).
    fn fused_reflect_pad(x: FloatTensor<Self>, pad: usize) -> FloatTensor<Self>;

    /// The input gradient of [`FusedReflectPad::fused_reflect_pad`]: each value of the padded
    /// gradient added back to the input value it copies.
    fn fused_reflect_pad_backward(grad: FloatTensor<Self>, pad: usize) -> FloatTensor<Self>;
}

/// Reflection padding of an f32 Flex tensor; `pad` below its height and width.
pub(crate) fn reflect_pad(x: Tensor<4>, pad: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FusedReflectPad>::fused_reflect_pad(
        x.into_dispatch(),
        pad,
    ))
}

/// The index that padded index `i` (from -pad) copies along a side of `n` values: reflected
/// about the first and the last value, which are not repeated.
fn reflected(i: isize, n: usize) -> usize {
    let last = n as isize - 1;
    if i < 0 {
        (-i) as usize
    } else if i > last {
        (2 * last - i) as usize
    } else {
        i as usize
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::ops::PadMode;
    use burn::tensor::{Device, Distribution};

    use super::*;

    /// Output and gradient equal Burn's reflection padding, for the paddings the ResNet uses
    /// (1 and 3), on even and odd sides and on a side just wider than the padding.
    #[test]
    fn equals_burns_reflection_padding_and_its_gradient() {
        let device = Device::flex().autodiff();
        for (pad, [height, width]) in [(1, [6, 5]), (3, [9, 8]), (3, [4, 7]), (1, [2, 2])] {
            let random = |shape: [usize; 4]| {
                Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device)
            };
            let x = random([2, 3, height, width]).require_grad();
            let x_burns = x.clone().detach().require_grad();
            let ours = reflect_pad(x.clone(), pad);
            let burns = x_burns.clone().pad((pad, pad, pad, pad), PadMode::Reflect);
            let output_grad = random(burns.dims());
            let values = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
            assert_eq!(values(ours.clone().inner()), values(burns.clone().inner()));
            let grads = (ours * output_grad.clone()).sum().backward();
            let grads_burns = (burns * output_grad).sum().backward();
            let (a, b) = (
                values(x.grad(&grads).unwrap()),
                values(x_burns.grad(&grads_burns).unwrap()),
            );
            for (a, b) in a.iter().zip(&b) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "pad {pad}: {a} vs {b}"
                );
            }
        }
    }
}
