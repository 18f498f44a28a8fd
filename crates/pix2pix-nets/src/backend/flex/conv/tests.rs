//! The kernels against Burn's own convolutions, outputs and gradients.

use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, FloatDType, Tensor};

use super::im2col::Geometry;
use super::kernel::{Algorithm, images_per_group};
use super::{ConvShape, conv};
use crate::backend::Bf16Products;

fn values(tensor: Tensor<4>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().unwrap()
}

/// Burn's own convolution (or transposed convolution) of the shape.
fn burns_conv(x: Tensor<4>, weight: Tensor<4>, shape: ConvShape) -> Tensor<4> {
    let ConvShape {
        stride,
        padding,
        transposed,
        output_padding,
        ..
    } = shape;
    if transposed {
        let options =
            ConvTransposeOptions::new([stride; 2], [padding; 2], [output_padding; 2], [1; 2], 1);
        conv_transpose2d(x, weight, None, options)
    } else {
        conv2d(
            x,
            weight,
            None,
            ConvOptions::new([stride; 2], [padding; 2], [1; 2], 1),
        )
    }
}

/// Two convolutions, each (output, input, weight), give the same output and, for the same output
/// gradient, the same input and weight gradients.
fn assert_same_outputs_and_gradients(
    [(ours, x_ours, weight_ours), (burns, x_burns, weight_burns)]: [(Tensor<4>, Tensor<4>, Tensor<4>);
        2],
    output_grad: Tensor<4>,
    what: &str,
) {
    assert_close(ours.clone().inner(), burns.clone().inner(), what);
    let grads = (ours * output_grad.clone()).sum().backward();
    let grads_burns = (burns * output_grad).sum().backward();
    assert_close(
        x_ours.grad(&grads).unwrap(),
        x_burns.grad(&grads_burns).unwrap(),
        &format!("{what} input gradient"),
    );
    assert_close(
        weight_ours.grad(&grads).unwrap(),
        weight_burns.grad(&grads_burns).unwrap(),
        &format!("{what} weight gradient"),
    );
}

fn assert_close(ours: Tensor<4>, burns: Tensor<4>, what: &str) {
    let (ours, burns) = (values(ours), values(burns));
    assert_eq!(ours.len(), burns.len(), "{what}");
    let scale = burns.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (a, b) in ours.iter().zip(&burns) {
        assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{what}: {a} vs {b}");
    }
}

/// Outputs and both gradients equal Burn's own convolutions, for the geometries the
/// networks use (U-Net and PatchGAN 4x4 stride 2 or 1, ResNet 3x3 stride 1 or 2 and 7x7,
/// transposed 4x4 and 3x3 with output padding, the PatchGAN's one-channel output), on a
/// batch of three images of even and odd sides: small maps go through the products as one
/// group, larger ones in groups of two and one, the largest image by image (their weight
/// gradients transposed); 3x3 stride-1 and 4x4 ones between wider maps by Winograd's transforms.
#[test]
fn equals_burns_convolutions_and_their_gradients() {
    let device = Device::flex().autodiff();
    let random = |shape: [usize; 4]| {
        Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad()
    };
    // (kernel, stride, padding, transposed, output padding, side, in and out channels)
    let cases = [
        (4, 2, 1, false, 0, 10, [3, 5]),
        (4, 2, 1, false, 0, 11, [3, 5]),
        (3, 2, 1, false, 0, 9, [3, 5]),
        (4, 1, 1, false, 0, 9, [3, 5]),
        (3, 1, 1, false, 0, 9, [3, 5]),
        (7, 1, 0, false, 0, 11, [3, 5]),
        (4, 2, 1, true, 0, 5, [3, 5]),
        (3, 2, 1, true, 1, 5, [3, 5]),
        // Few output channels at stride 1, computed directly: the PatchGAN's last layer, the
        // ResNet's output layer (and on lines longer than one span), a padding wider than the
        // image, a transposed convolution.
        (4, 1, 1, false, 0, 24, [32, 1]),
        (7, 1, 3, false, 0, 16, [5, 3]),
        (7, 1, 3, false, 0, 70, [4, 3]),
        (7, 1, 3, false, 0, 2, [4, 3]),
        (3, 1, 1, true, 0, 9, [2, 5]),
        // Groups of two images and one: 10x10 maps in the weight gradients, 32x32 ones in the
        // outputs and input gradients.
        (4, 2, 1, false, 0, 20, [3, 5]),
        (4, 2, 1, true, 0, 10, [3, 5]),
        (4, 2, 1, false, 0, 64, [3, 5]),
        (4, 2, 1, true, 0, 32, [3, 5]),
        // 3x3 at stride 1 between 16 channels or more, on maps that the three images make
        // large enough, by Winograd's transforms: unpadded (the ResNet's blocks pad by
        // reflection first) or padded, odd and even sides, in groups of two images and one, a
        // transposed one, one between more channels than a block of the filters' transforms
        // has, each way.
        (3, 1, 0, false, 0, 34, [24, 16]),
        (3, 1, 1, false, 0, 20, [16, 16]),
        (3, 1, 1, false, 0, 33, [16, 24]),
        (3, 1, 2, false, 0, 31, [16, 16]),
        (3, 1, 1, true, 0, 33, [16, 20]),
        (3, 1, 1, false, 0, 20, [70, 66]),
        // 4x4 at stride 2 by the same transforms after space-to-depth, in groups of two images
        // and one: even and odd sides, transposed ones (one with output padding, to an odd
        // side).
        (4, 2, 1, false, 0, 64, [16, 16]),
        (4, 2, 1, false, 0, 67, [17, 16]),
        (4, 2, 1, true, 0, 32, [16, 16]),
        (4, 2, 1, true, 1, 33, [20, 18]),
        // 4x4 at stride 1 by F(2x2, 4x4): in groups of two images and one, odd and even
        // sides, no padding and the widest, a transposed one.
        (4, 1, 1, false, 0, 20, [16, 16]),
        (4, 1, 1, false, 0, 54, [16, 16]),
        (4, 1, 0, false, 0, 57, [16, 17]),
        (4, 1, 3, false, 0, 51, [17, 16]),
        (4, 1, 1, true, 0, 52, [16, 16]),
        // 64x64 pixels: weight gradients computed transposed.
        (7, 1, 0, false, 0, 70, [3, 5]),
        (3, 2, 1, true, 1, 64, [3, 5]),
    ];
    for (kernel, stride, padding, transposed, output_padding, side, [c_in, c_out]) in cases {
        let what = format!(
            "k{kernel} s{stride} p{padding} t{transposed} op{output_padding} c{c_in}->{c_out}"
        );
        let x_ours = random([3, c_in, side, side]);
        let x_burns = x_ours.clone().detach().require_grad();
        let weight = random(if transposed {
            [c_in, c_out, kernel, kernel]
        } else {
            [c_out, c_in, kernel, kernel]
        });
        let weight_burns = weight.clone().detach().require_grad();
        let shape = ConvShape {
            stride,
            padding,
            transposed,
            output_padding,
            bf16: Bf16Products::F32,
        };
        let ours = conv(x_ours.clone(), weight.clone(), shape);
        let burns = burns_conv(x_burns.clone(), weight_burns.clone(), shape);
        let output_grad =
            Tensor::<4>::random(burns.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ours_and_burns = [(ours, x_ours, weight), (burns, x_burns, weight_burns)];
        assert_same_outputs_and_gradients(ours_and_burns, output_grad, &what);
    }
}

/// Each gradient is computed on its own: an untracked input (the images fed in) still
/// gets its weight gradient, a frozen weight (the discriminator in the generator's step)
/// its input gradient.
#[test]
fn computes_only_the_tracked_gradients() {
    let device = Device::flex().autodiff();
    let random =
        |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let (x, weight) = (random([1, 3, 8, 8]), random([4, 3, 4, 4]));
    let shape = ConvShape {
        stride: 2,
        padding: 1,
        transposed: false,
        output_padding: 0,
        bf16: Bf16Products::F32,
    };
    let both = (x.clone().require_grad(), weight.clone().require_grad());
    let grads = conv(both.0.clone(), both.1.clone(), shape).sum().backward();
    let weight_only = weight.clone().require_grad();
    let grads_weight = conv(x.clone(), weight_only.clone(), shape).sum().backward();
    let x_only = x.require_grad();
    let grads_x = conv(x_only.clone(), weight, shape).sum().backward();
    assert_close(
        weight_only.grad(&grads_weight).unwrap(),
        both.1.grad(&grads).unwrap(),
        "weight gradient with an untracked input",
    );
    assert_close(
        x_only.grad(&grads_x).unwrap(),
        both.0.grad(&grads).unwrap(),
        "input gradient with an untracked weight",
    );
}

/// In bf16 the kernels equal Burn's f32 convolutions of the operands rounded to bf16: output,
/// input gradient (from the rounded output gradient and weight) and weight gradient (from the
/// rounded input and output gradient), on each of the bf16 instructions this CPU offers, on
/// shapes whose products all suit the dot products (their column matrices packed for them as
/// im2col writes them), on wider ones that suit the tiles and on one computed directly.
#[test]
fn bf16_products_equal_f32_products_of_rounded_operands() {
    let offered = crate::backend::bf16_products();
    if offered < Bf16Products::Tiles {
        eprintln!("skipped: this CPU has no AMX tiles; {offered} only");
    }
    for products in [Bf16Products::DotProducts, Bf16Products::Tiles] {
        if products <= offered {
            check_bf16_products(products);
        }
    }
}

fn check_bf16_products(products: Bf16Products) {
    let device = Device::flex().autodiff();
    let random =
        |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let rounded = |t: Tensor<4>| t.cast(FloatDType::BF16).cast(FloatDType::F32);
    // (kernel, stride, padding, transposed, output padding, side, in and out channels)
    for (kernel, stride, padding, transposed, output_padding, side, [c_in, c_out]) in [
        (4, 2, 1, false, 0, 16, [16, 24]),
        (3, 1, 1, false, 0, 12, [16, 24]),
        (4, 2, 1, true, 0, 8, [24, 16]),
        (7, 1, 3, false, 0, 12, [16, 3]),
        (4, 2, 1, false, 0, 16, [64, 64]),
        (4, 2, 1, true, 0, 8, [64, 64]),
        // An odd depth (45 rows of columns), the two images' 81 pixels sharing panels.
        (3, 2, 1, false, 0, 18, [5, 24]),
    ] {
        let what = format!("bf16 on {products} k{kernel} s{stride} t{transposed} c{c_in}->{c_out}");
        let x = random([2, c_in, side, side]);
        let weight = random(if transposed {
            [c_in, c_out, kernel, kernel]
        } else {
            [c_out, c_in, kernel, kernel]
        });
        let shape = ConvShape {
            stride,
            padding,
            transposed,
            output_padding,
            bf16: products,
        };
        let (x_ours, weight_ours) = (x.clone().require_grad(), weight.clone().require_grad());
        let ours = conv(x_ours.clone(), weight_ours.clone(), shape);
        let (x_burns, weight_burns) = (
            rounded(x).detach().require_grad(),
            rounded(weight).detach().require_grad(),
        );
        let burns = burns_conv(x_burns.clone(), weight_burns.clone(), shape);
        let output_grad = rounded(random(burns.dims()));
        let ours_and_burns = [(ours, x_ours, weight_ours), (burns, x_burns, weight_burns)];
        assert_same_outputs_and_gradients(ours_and_burns, output_grad, &what);
    }
}

/// Under bf16 each path stays within bf16's rounding of the exact (f32) convolution, each output
/// and gradient value measured against the sum of its terms' magnitudes (the convolution of the
/// absolute values): the columns, whose products round the operands, within the 2⁻⁸ that
/// rounding both operands of every term allows; F(2x2, 3x3), whose products round the
/// transformed operands instead, within 2⁻⁶ (its worst values, at the borders, are a few times
/// the columns', its typical ones under twice theirs: BENCHMARKS.md, 2026-12-07 (sixth)).
#[test]
fn bf16_stays_within_its_rounding_of_the_exact_convolution() {
    let offered = crate::backend::bf16_products();
    if offered == Bf16Products::F32 {
        eprintln!("skipped: this CPU has no bf16 dot products (AVX512_BF16)");
        return;
    }
    let device = Device::flex().autodiff();
    let random =
        |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    // (kernel, padding, side, batch, in and out channels, through Winograd's transforms): the
    // third has an odd number of channels and two images whose 81 tiles each share panels of
    // the packed inputs.
    for (kernel, padding, side, batch, [c_in, c_out], winograd) in [
        (3, 1, 16, 2, [16, 24], true),
        (3, 0, 34, 1, [32, 16], true),
        (3, 1, 17, 2, [17, 24], true),
        (3, 1, 12, 1, [16, 24], false),
        (4, 1, 16, 2, [16, 24], false),
    ] {
        let bf16 = Bf16Products::DotProducts;
        let shape = ConvShape {
            stride: 1,
            padding,
            transposed: false,
            output_padding: 0,
            bf16,
        };
        let what = format!("bf16 k{kernel} p{padding} {side}x{side} b{batch} {c_in}->{c_out}");
        let out = side + 2 * padding - kernel + 1;
        let geometry = Geometry {
            channels: c_in,
            height: side,
            width: side,
            kernel,
            stride: 1,
            padding,
            out_h: out,
            out_w: out,
            bf16,
        };
        let taken = geometry.algorithm(c_out, batch) == Algorithm::Winograd;
        assert_eq!(taken, winograd, "{what}: by Winograd's transforms");
        // (worst, root mean square) of the errors over the terms' sums.
        let (worst_bound, rms_bound) = if winograd {
            (2f32.powi(-6), 2f32.powi(-10))
        } else {
            (2f32.powi(-8), 2f32.powi(-11))
        };
        let x = random([batch, c_in, side, side]);
        let weight = random([c_out, c_in, kernel, kernel]);
        let output_grad = random([batch, c_out, out, out]);
        // (output, input gradient, weight gradient) of a convolution, for `output_grad`.
        let run = |conv: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
                   [x, weight, output_grad]: [Tensor<4>; 3]| {
            let (x, weight) = (x.require_grad(), weight.require_grad());
            let output = conv(x.clone(), weight.clone());
            let grads = (output.clone() * output_grad).sum().backward();
            [
                output.inner(),
                x.grad(&grads).unwrap(),
                weight.grad(&grads).unwrap(),
            ]
            .map(values)
        };
        let operands = [x, weight, output_grad];
        let ours = run(&|x, w| conv(x, w, shape), operands.clone());
        let burns = |x, w| burns_conv(x, w, shape);
        let exact = run(&burns, operands.clone());
        let sizes = run(&burns, operands.map(|t| t.abs()));
        let parts = ["output", "input gradient", "weight gradient"];
        for (part, ((ours, exact), sizes)) in parts.iter().zip(ours.iter().zip(&exact).zip(&sizes))
        {
            let errors: Vec<f32> = (ours.iter().zip(exact).zip(sizes))
                .map(|((a, b), size)| (a - b).abs() / size.max(f32::MIN_POSITIVE))
                .collect();
            let worst = errors.iter().fold(0.0, |m: f32, e| m.max(*e));
            let rms = (errors.iter().map(|e| e * e).sum::<f32>() / errors.len() as f32).sqrt();
            let measured =
                format!("{what} {part}: worst {worst:.2e}, rms {rms:.2e} of the terms' sums");
            assert!(worst <= worst_bound && rms <= rms_bound, "{measured}");
        }
    }
}

/// Images are grouped up to the bound's columns, in groups as even as that allows; one image at
/// least, however wide, and none of an empty batch's.
#[test]
fn groups_images_evenly_within_the_bound() {
    // (bound, columns per image, batch, images per group)
    let cases = [
        (2048, 225, 8, 8),
        (2048, 225, 16, 8),
        (2048, 300, 8, 4),
        (2048, 1024, 3, 2),
        (2048, 4096, 4, 1),
        (256, 36, 8, 4),
        (2048, 0, 3, 3),
        (2048, 64, 0, 1),
    ];
    for (bound, per_image, batch, group) in cases {
        assert_eq!(
            images_per_group(bound, per_image, batch),
            group,
            "{per_image} columns per image, batch {batch}, bound {bound}"
        );
    }
}

/// Winograd's transforms take the networks' layers where they paid (BENCHMARKS.md): the strided
/// 4x4 ones from 32x32 outputs alone, or 16x16 in a batch of four, the stride-1 ones (3x3 and
/// 4x4) from 16x16 in a batch of two (so 31x31 alone, 15x15 in a batch of four), their weight
/// gradients too; the weight gradients of the strided 4x4 ones only from 16x16 in a batch of
/// eight; never 8x8 maps or 3-channel inputs. Under bf16, only the 3x3 ones on the dot products
/// (where they pay in f32), none on the tiles.
#[test]
fn winograd_takes_the_layers_where_it_pays() {
    let geometry = |kernel: usize, stride: usize, channels: usize, out: usize| Geometry {
        channels,
        height: out * stride,
        width: out * stride,
        kernel,
        stride,
        padding: 1,
        out_h: out,
        out_w: out,
        bf16: Bf16Products::F32,
    };
    let cases = [
        // (kernel, stride, in channels, output side, batch, taken, and for the weight gradient)
        (4, 2, 64, 32, 1, true, true),
        (4, 2, 256, 16, 1, false, false),
        (4, 2, 256, 16, 2, false, false),
        (4, 2, 256, 16, 4, true, false),
        (4, 2, 256, 16, 8, true, true),
        (4, 2, 512, 8, 16, false, false),
        (4, 2, 3, 64, 1, false, false),
        (4, 1, 256, 7, 16, false, false),
        (4, 1, 256, 15, 1, false, false),
        (4, 1, 256, 15, 2, false, false),
        (4, 1, 256, 15, 4, true, true),
        (4, 1, 256, 15, 8, true, true),
        (4, 1, 256, 31, 1, true, true),
        (4, 1, 256, 31, 2, true, true),
        (4, 1, 256, 31, 4, true, true),
        (4, 1, 256, 31, 8, true, true),
        (4, 1, 256, 31, 16, true, true),
        (4, 1, 256, 63, 1, true, true),
        (3, 1, 256, 16, 1, false, false),
        (3, 1, 256, 16, 2, true, true),
        (3, 1, 256, 16, 4, true, true),
    ];
    for (kernel, stride, channels, out, batch, taken, gradient) in cases {
        let g = geometry(kernel, stride, channels, out);
        let what =
            format!("{kernel}x{kernel}/{stride} {channels} channels to {out}x{out}, batch {batch}");
        let expected = |taken| {
            if taken {
                Algorithm::Winograd
            } else {
                Algorithm::Columns
            }
        };
        assert_eq!(g.algorithm(128, batch), expected(taken), "{what}");
        assert_eq!(
            g.gradient_algorithm(128, batch),
            expected(gradient),
            "{what}: weight gradient"
        );
    }
    // (products, kernel, stride, output side, batch, taken)
    let bf16_cases = [
        (Bf16Products::DotProducts, 4, 2, 32, 1, false),
        (Bf16Products::DotProducts, 4, 2, 64, 8, false),
        (Bf16Products::DotProducts, 4, 1, 31, 1, false),
        (Bf16Products::DotProducts, 3, 1, 16, 1, false),
        (Bf16Products::DotProducts, 3, 1, 16, 2, true),
        (Bf16Products::DotProducts, 3, 1, 32, 4, true),
        (Bf16Products::DotProducts, 3, 1, 64, 1, true),
        (Bf16Products::DotProducts, 3, 1, 128, 1, true),
        (Bf16Products::Tiles, 3, 1, 64, 1, false),
        (Bf16Products::Tiles, 4, 1, 31, 1, false),
    ];
    for (products, kernel, stride, out, batch, taken) in bf16_cases {
        let g = Geometry {
            bf16: products,
            ..geometry(kernel, stride, 256, out)
        };
        let what = format!("bf16 on {products}: {kernel}x{kernel}/{stride} to {out}x{out}");
        let expected = if taken {
            Algorithm::Winograd
        } else {
            Algorithm::Columns
        };
        assert_eq!(g.algorithm(128, batch), expected, "{what}, batch {batch}");
        assert_eq!(
            g.gradient_algorithm(128, batch),
            expected,
            "{what}: weight gradient"
        );
    }
}
