//! The convolution kernels on Flex's f32 buffers: a convolution is im2col + GEMM with the weight
//! as it is stored, its input gradient GEMM + col2im, its weight gradient a GEMM against the
//! columns; a transposed convolution is the adjoint, so its forward is the convolution's input
//! gradient and so on.

use burn::backend::Flex;
use burn_flex::FlexTensor;

use super::gemm::matmul;
use super::im2col::{Geometry, with_scratch};
use super::{ConvGradient, ConvShape, Im2colConv};
use crate::backend::flex::{dims, f32_tensor, storage};

impl Geometry {
    /// outputs[batch, out_channels, pixels] of the convolution of images[batch, image].
    fn convolve(&self, images: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut outputs = vec![0f32; images.len() / self.image() * out_channels * pixels];
        with_scratch(depth * pixels, |columns| {
            for (image, output) in images
                .chunks(self.image())
                .zip(outputs.chunks_mut(out_channels * pixels))
            {
                self.im2col(image, columns);
                let weights = (weights, 1, depth as isize);
                let columns = (&columns[..], 1, pixels as isize);
                matmul(out_channels, pixels, depth, output, weights, columns, false);
            }
        });
        outputs
    }

    /// The adjoint of `convolve`: images[batch, image] from grads[batch, out_channels, pixels].
    fn convolve_adjoint(&self, grads: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut images = vec![0f32; grads.len() / (out_channels * pixels) * self.image()];
        with_scratch(depth * pixels, |columns| {
            for (grad, image) in grads
                .chunks(out_channels * pixels)
                .zip(images.chunks_mut(self.image()))
            {
                // columns[depth, pixels] = weights[out, depth]^T x grad[out, pixels]
                let weights = (weights, depth as isize, 1);
                let grad = (grad, 1, pixels as isize);
                matmul(depth, pixels, out_channels, columns, weights, grad, false);
                self.col2im(columns, image);
            }
        });
        images
    }

    /// The weight gradient [out_channels, depth]: the sum over the batch of
    /// grad[out_channels, pixels] x im2col(image)[depth, pixels]^T.
    fn weight_gradient(&self, images: &[f32], grads: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut weight_grad = vec![0f32; out_channels * depth];
        with_scratch(depth * pixels, |columns| {
            for (index, (image, grad)) in images
                .chunks(self.image())
                .zip(grads.chunks(out_channels * pixels))
                .enumerate()
            {
                self.im2col(image, columns);
                let grad = (grad, 1, pixels as isize);
                let columns = (&columns[..], pixels as isize, 1);
                let accumulate = index > 0;
                matmul(
                    out_channels,
                    depth,
                    pixels,
                    &mut weight_grad,
                    grad,
                    columns,
                    accumulate,
                );
            }
        });
        weight_grad
    }
}

impl Im2colConv for Flex {
    fn im2col_conv(x: FlexTensor, weight: FlexTensor, shape: ConvShape) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = Geometry::of(&x, &weight, shape);
        let batch = dims(&x)[0];
        let weights = storage(&weight);
        // The convolution's output channels: dim 0 of the weight in both layouts.
        let out_channels = dims(&weight)[0];
        if shape.transposed {
            let y = g.convolve_adjoint(storage(&x), weights, out_channels);
            f32_tensor(y, [batch, g.channels, g.height, g.width])
        } else {
            let y = g.convolve(storage(&x), weights, out_channels);
            f32_tensor(y, [batch, out_channels, g.out_h, g.out_w])
        }
    }

    fn im2col_conv_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FlexTensor {
        let (x, weight, output_grad) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            output_grad.to_contiguous(),
        );
        let g = Geometry::of(&x, &weight, shape);
        let out_channels = dims(&weight)[0];
        // A transposed convolution is the adjoint of the convolution from output_grad's shape
        // to x's: the roles of its input and its output gradient swap.
        match wrt {
            ConvGradient::Input => {
                let (grads, weights) = (storage(&output_grad), storage(&weight));
                let x_grad = if shape.transposed {
                    g.convolve(grads, weights, out_channels)
                } else {
                    g.convolve_adjoint(grads, weights, out_channels)
                };
                f32_tensor(x_grad, dims(&x))
            }
            ConvGradient::Weight => {
                let (x, grads) = (storage(&x), storage(&output_grad));
                let weight_grad = if shape.transposed {
                    g.weight_gradient(grads, x, out_channels)
                } else {
                    g.weight_gradient(x, grads, out_channels)
                };
                f32_tensor(weight_grad, dims(&weight))
            }
        }
    }
}
