//! Images in and out of the networks as the official code converts them: 8-bit pixels to
//! channel planes in [-1, 1] (PIL's luma for one channel), outputs back with `tensor2im`, and any
//! image size through a generator that needs multiples of its size (padded, then cropped). Pixels
//! are interleaved bytes, RGB (3 per pixel) or RGBA (4, as a browser's canvas gives them).

use burn::prelude::*;
use burn::tensor::ops::PadMode;

use crate::model::Generator;

/// PIL's `convert('L')` (ITU-R 601-2 luma), which the official code uses for 1-channel sides.
fn luma(r: u8, g: u8, b: u8) -> f32 {
    ((r as u32 * 299 + g as u32 * 587 + b as u32 * 114 + 500) / 1000) as f32
}

/// `pixels` (`stride` bytes per pixel, RGB first) as `channels` planes (1 or 3) in [-1, 1].
pub fn to_chw(pixels: &[u8], stride: usize, channels: usize) -> Vec<f32> {
    let plane = pixels.len() / stride;
    let scale = |v: f32| v / 127.5 - 1.0;
    let mut out = vec![0.0; plane * channels];
    for (i, pixel) in pixels.chunks_exact(stride).enumerate() {
        if channels == 1 {
            out[i] = scale(luma(pixel[0], pixel[1], pixel[2]));
        } else {
            for c in 0..3 {
                out[c * plane + i] = scale(pixel[c] as f32);
            }
        }
    }
    out
}

/// The official `tensor2im` of `channels` planes (1 or 3) in [-1, 1]: (x + 1) / 2 * 255, one
/// channel shown as gray, as pixels of `stride` bytes (a fourth byte is opaque alpha).
pub fn from_chw(data: &[f32], channels: usize, stride: usize) -> Vec<u8> {
    let plane = data.len() / channels;
    let to_u8 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255.0) as u8;
    let mut out = vec![255; plane * stride];
    for (i, pixel) in out.chunks_exact_mut(stride).enumerate() {
        for (c, byte) in pixel.iter_mut().take(3).enumerate() {
            let channel = if channels == 1 { 0 } else { c };
            *byte = to_u8(data[channel * plane + i]);
        }
    }
    out
}

/// `generator` applied to images of any size: each side padded at the bottom and right to its
/// size multiple ([`pad_to_multiple`]), and the output cropped back.
pub fn translate(generator: &Generator, input: Tensor<4>, multiple: usize) -> Tensor<4> {
    let [_, _, height, width] = input.dims();
    generator
        .forward(pad_to_multiple(input, multiple))
        .slice(s![.., .., 0..height, 0..width])
}

/// Pads bottom and right by reflection so both sides are multiples of `multiple`. Reflection
/// cannot reach further than the side minus one, so large pads are done in rounds.
pub fn pad_to_multiple(mut x: Tensor<4>, multiple: usize) -> Tensor<4> {
    loop {
        let [_, _, h, w] = x.dims();
        let (need_h, need_w) = (
            h.next_multiple_of(multiple) - h,
            w.next_multiple_of(multiple) - w,
        );
        if need_h == 0 && need_w == 0 {
            return x;
        }
        let (ph, pw) = (need_h.min(h - 1), need_w.min(w - 1));
        x = if ph == 0 && pw == 0 {
            // A side of one pixel cannot be reflected: repeat its edge.
            x.pad((0, need_w, 0, need_h), PadMode::Edge)
        } else {
            x.pad((0, pw, 0, ph), PadMode::Reflect)
        };
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    #[test]
    fn planes_round_trip_through_both_strides() {
        let rgb = [0u8, 128, 255, 10, 20, 30];
        let planes = to_chw(&rgb, 3, 3);
        assert_eq!(planes.len(), 6);
        assert_eq!(
            (planes[0], planes[2], planes[4]),
            (-1.0, 128.0 / 127.5 - 1.0, 1.0)
        );
        // tensor2im truncates: some values come back one lower, as in the official code.
        assert_eq!(from_chw(&planes, 3, 3), [0, 128, 255, 9, 19, 29]);
        let rgba = [0u8, 128, 255, 7, 10, 20, 30, 9];
        assert_eq!(to_chw(&rgba, 4, 3), planes);
        assert_eq!(from_chw(&planes, 3, 4), [0, 128, 255, 255, 9, 19, 29, 255]);
    }

    #[test]
    fn one_channel_is_pil_luma_shown_as_gray() {
        let gray = to_chw(&[255, 0, 0, 0, 0, 255], 3, 1);
        assert_eq!(gray, [76.0 / 127.5 - 1.0, 29.0 / 127.5 - 1.0]);
        assert_eq!(from_chw(&gray, 1, 3), [76, 76, 76, 28, 28, 28]);
    }

    #[test]
    fn pads_reach_the_multiple_from_any_side() {
        let device = Device::flex();
        for (h, w) in [(1usize, 1usize), (1, 5), (3, 17), (16, 16), (2, 40)] {
            let x = Tensor::<4>::ones([1, 1, h, w], &device);
            let [_, _, ph, pw] = pad_to_multiple(x, 16).dims();
            assert_eq!((ph, pw), (h.next_multiple_of(16), w.next_multiple_of(16)));
        }
    }
}
