//! Reflection padding on Flex's buffers: one parallel pass over the planes each way.

use burn::backend::Flex;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{FusedReflectPad, reflected};
use crate::backend::flex::{dims, f32_tensor, storage};

impl FusedReflectPad for Flex {
    fn fused_reflect_pad(x: FlexTensor, pad: usize) -> FlexTensor {
        let x = x.to_contiguous();
        let [batch, channels, height, width] = dims(&x);
        let (out_h, out_w) = (height + 2 * pad, width + 2 * pad);
        let mut output = vec![0f32; batch * channels * out_h * out_w];
        output
            .par_chunks_mut((out_h * out_w).max(1))
            .zip(storage(&x).par_chunks((height * width).max(1)))
            .for_each(|(padded, plane)| {
                for (oy, line) in padded.chunks_exact_mut(out_w).enumerate() {
                    let y = reflected(oy as isize - pad as isize, height);
                    let row = &plane[y * width..][..width];
                    line[pad..][..width].copy_from_slice(row);
                    for p in 0..pad {
                        line[p] = row[pad - p];
                        line[pad + width + p] = row[width - 2 - p];
                    }
                }
            });
        f32_tensor(output, [batch, channels, out_h, out_w])
    }

    fn fused_reflect_pad_backward(grad: FlexTensor, pad: usize) -> FlexTensor {
        let grad = grad.to_contiguous();
        let [batch, channels, out_h, out_w] = dims(&grad);
        let (height, width) = (out_h - 2 * pad, out_w - 2 * pad);
        let mut x_grad = vec![0f32; batch * channels * height * width];
        x_grad
            .par_chunks_mut((height * width).max(1))
            .zip(storage(&grad).par_chunks((out_h * out_w).max(1)))
            .for_each(|(plane, padded)| {
                for (oy, line) in padded.chunks_exact(out_w).enumerate() {
                    let y = reflected(oy as isize - pad as isize, height);
                    let row = &mut plane[y * width..][..width];
                    for (value, &g) in row.iter_mut().zip(&line[pad..][..width]) {
                        *value += g;
                    }
                    for p in 0..pad {
                        row[pad - p] += line[p];
                        row[width - 2 - p] += line[pad + width + p];
                    }
                }
            });
        f32_tensor(x_grad, [batch, channels, height, width])
    }
}
