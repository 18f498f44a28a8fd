//! Network structure: parameter counts equal the official ones, and output shapes.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use pix2pix::Precision;
use pix2pix::backend::Bf16Products;
use pix2pix::model::{
    DiscriminatorArch, Generator, GeneratorArch, ModelOptions, NormKind, parameter_count,
};
use pix2pix::train::{Pix2Pix, TrainOptions};

fn options(net_g: &str) -> ModelOptions {
    ModelOptions {
        net_g: net_g.parse().unwrap(),
        ..ModelOptions::default()
    }
}

#[test]
fn parameter_counts_equal_the_official_networks() {
    let device = pix2pix::device::cpu().unwrap();
    let count = |o: &ModelOptions| parameter_count(&o.generator(&device));
    assert_eq!(count(&options("unet_256")), 54_413_955);
    assert_eq!(count(&options("unet_128")), 41_828_995);
    assert_eq!(count(&options("resnet_9blocks")), 11_383_427);
    let d = ModelOptions::default().discriminator(&device);
    assert_eq!(parameter_count(&d), 2_768_705);
}

#[test]
fn generator_names_parse_and_print_back() {
    for name in [
        "unet_256",
        "unet_128",
        "unet_64",
        "unet_32",
        "unet_1024",
        "resnet_9blocks",
        "resnet_6blocks",
    ] {
        let arch: GeneratorArch = name.parse().unwrap();
        assert_eq!(arch.to_string(), name);
    }
    assert_eq!(
        "unet_256".parse::<GeneratorArch>(),
        Ok(GeneratorArch::Unet { num_downs: 8 })
    );
    for bad in ["unet_100", "unet_16", "resnet", "vgg"] {
        assert!(
            bad.parse::<GeneratorArch>().is_err(),
            "{bad} should be rejected"
        );
    }
}

fn small(net_g: &str, norm: NormKind, dropout: bool) -> ModelOptions {
    ModelOptions {
        net_g: net_g.parse().unwrap(),
        ngf: 8,
        ndf: 8,
        norm,
        dropout,
        ..ModelOptions::default()
    }
}

#[test]
fn generators_keep_the_image_shape_for_every_configuration() {
    let device = pix2pix::device::cpu().unwrap();
    for net_g in ["unet_32", "unet_64", "resnet_6blocks"] {
        for norm in [NormKind::Batch, NormKind::Instance, NormKind::None] {
            for dropout in [true, false] {
                for (input_nc, output_nc) in [(3, 3), (1, 3), (3, 1)] {
                    let mut o = small(net_g, norm, dropout);
                    o.input_nc = input_nc;
                    o.output_nc = output_nc;
                    let g = o.generator(&device);
                    let x = Tensor::<4>::random(
                        [2, input_nc, 64, 64],
                        burn::tensor::Distribution::Default,
                        &device,
                    );
                    let y = g.forward(x);
                    assert_eq!(
                        y.dims(),
                        [2, output_nc, 64, 64],
                        "{net_g} {norm} dropout {dropout}"
                    );
                    let values = y.into_data().try_to_vec::<f32>().unwrap();
                    assert!(
                        values.iter().all(|v| v.abs() <= 1.0),
                        "tanh output in [-1, 1]"
                    );
                }
            }
        }
    }
}

#[test]
fn unet_parameter_count_follows_the_official_formula_for_each_depth() {
    // Each extra middle block (8ngf -> 8ngf) adds a conv, a transposed conv (2x input) and two
    // batch norms: 16*64*64*8*8... computed here from the official layer list.
    let device = pix2pix::device::cpu().unwrap();
    let ngf = 8;
    let block = |outer: usize, inner: usize, up_in: usize| outer * inner * 16 + up_in * outer * 16;
    let middle =
        |outer: usize, inner: usize| block(outer, inner, 2 * inner) + 2 * inner + 2 * outer;
    for num_downs in 5..=8 {
        let o = ModelOptions {
            net_g: GeneratorArch::Unet { num_downs },
            ngf,
            ..ModelOptions::default()
        };
        let mut expected = 3 * ngf * 16 + 2 * ngf * 3 * 16 + 3; // outermost, with the up bias
        expected += middle(ngf, 2 * ngf) + middle(2 * ngf, 4 * ngf) + middle(4 * ngf, 8 * ngf);
        expected += (num_downs - 5) * middle(8 * ngf, 8 * ngf);
        expected += block(8 * ngf, 8 * ngf, 8 * ngf) + 2 * 8 * ngf; // innermost: up norm only
        assert_eq!(
            parameter_count(&o.generator(&device)),
            expected,
            "num_downs {num_downs}"
        );
    }
}

#[test]
fn instance_norm_convs_have_biases_and_no_norm_parameters() {
    let device = pix2pix::device::cpu().unwrap();
    let batch = parameter_count(&small("unet_32", NormKind::Batch, true).generator(&device));
    let instance = parameter_count(&small("unet_32", NormKind::Instance, true).generator(&device));
    let none = parameter_count(&small("unet_32", NormKind::None, true).generator(&device));
    // Batch norm adds weight+bias per normalised channel; instance norm adds a bias per conv
    // that feeds a norm; none adds neither.
    assert!(instance != batch && none < batch && none < instance);
}

#[test]
fn discriminators_output_one_logit_per_patch() {
    let device = pix2pix::device::cpu().unwrap();
    let x = Tensor::<4>::random([2, 6, 64, 64], burn::tensor::Distribution::Default, &device);
    let cases = [
        (DiscriminatorArch::Basic, 3, [2, 1, 6, 6]),
        (DiscriminatorArch::NLayers, 1, [2, 1, 30, 30]),
        (DiscriminatorArch::NLayers, 2, [2, 1, 14, 14]),
        (DiscriminatorArch::Pixel, 3, [2, 1, 64, 64]),
    ];
    for (net_d, n_layers_d, shape) in cases {
        let o = ModelOptions {
            net_d,
            n_layers_d,
            ndf: 8,
            ..ModelOptions::default()
        };
        assert_eq!(
            o.discriminator(&device).forward(x.clone()).dims(),
            shape,
            "{net_d} {n_layers_d}"
        );
    }
    let unconditional = ModelOptions {
        conditional_d: false,
        ndf: 8,
        ..ModelOptions::default()
    };
    let b = Tensor::<4>::random([1, 3, 64, 64], burn::tensor::Distribution::Default, &device);
    assert_eq!(
        unconditional.discriminator(&device).forward(b).dims(),
        [1, 1, 6, 6]
    );
}

#[test]
fn the_basic_discriminator_gives_30x30_patches_at_256() {
    let device = pix2pix::device::cpu().unwrap();
    let o = ModelOptions {
        ndf: 4,
        ..ModelOptions::default()
    };
    let x = Tensor::<4>::zeros([1, 6, 256, 256], &device);
    assert_eq!(o.discriminator(&device).forward(x).dims(), [1, 1, 30, 30]);
}

#[test]
fn the_pixel_discriminator_count_matches_pytorch() {
    // Conv1x1(6->64, bias) + Conv1x1(64->128, no bias) + BN(128) + Conv1x1(128->1, no bias).
    let device = pix2pix::device::cpu().unwrap();
    let o = ModelOptions {
        net_d: DiscriminatorArch::Pixel,
        ..ModelOptions::default()
    };
    let expected = 6 * 64 + 64 + 64 * 128 + 2 * 128 + 128;
    assert_eq!(parameter_count(&o.discriminator(&device)), expected);
}

/// Mixed precision changes the convolutions' arithmetic and nothing else: f32 is the unchanged
/// network, bf16 and f16 stay close to it, and training keeps f32 weights that the step moves.
/// bf16 runs on each of the products this CPU offers (f32, AVX512_BF16's dot products, AMX
/// tiles) and, limited to one it lacks, on the fastest it has below it: forward and training
/// step, each way.
#[test]
fn mixed_precision_runs_convolutions_in_low_precision_only() {
    let device = pix2pix::device::cpu().unwrap();
    let model = small("unet_32", NormKind::Batch, false);
    let generator = model.generator(&device).valid();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let values = |y: Tensor<4>| y.into_data().try_into_vec::<f32>().unwrap();
    let reference = values(generator.forward(x.clone()));
    let f32_output = generator
        .clone()
        .with_precision(Precision::F32)
        .forward(x.clone());
    assert_eq!(values(f32_output), reference);
    // On Burn's route (PIX2PIX_ROUTE=burn, the GPUs' route, and LibTorch's) bf16 casts the
    // convolutions' operands as autocast does, whatever the CPU; on our Flex kernels it rounds the
    // products' operands where the CPU has bf16 instructions and runs them in f32 where not.
    let generic = pix2pix::backend::generic_route()
        || pix2pix::device::Backend::of(&device) != pix2pix::device::Backend::Flex;
    let offered = pix2pix::backend::bf16_products();
    let all = [
        Bf16Products::F32,
        Bf16Products::DotProducts,
        Bf16Products::Tiles,
    ];
    let lacking: Vec<_> = all.iter().filter(|&&p| p > offered).collect();
    if !generic && !lacking.is_empty() {
        eprintln!(
            "bf16 products: this CPU offers up to {offered}; {lacking:?} run as its fallback"
        );
    }
    let mut bf16_outputs = Vec::new();
    let cases = all.map(|limit| (Precision::Bf16, limit));
    for (precision, limit) in cases
        .into_iter()
        .chain([(Precision::F16, Bf16Products::Tiles)])
    {
        let output = pix2pix::backend::with_bf16_products(limit, || {
            generator
                .clone()
                .with_precision(precision)
                .forward(x.clone())
        });
        assert_eq!(output.dtype(), DType::F32, "{precision}");
        let output = values(output);
        let largest = output
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let runs = limit.min(offered);
        let what = format!("{precision}, products {limit} (runs {runs}): {largest}");
        // bf16 keeps 8 bits of mantissa: visibly different, yet close on outputs in [-1, 1].
        assert!(largest < 0.05, "{what}");
        let differs = precision == Precision::F16 || generic || runs != Bf16Products::F32;
        assert_eq!(largest > 0.0, differs, "{what}");
        if precision == Precision::Bf16 {
            // A limit the CPU lacks runs its fallback: the same output as the fallback's own.
            if let Some((_, same)) = bf16_outputs.iter().find(|(r, _)| *r == runs) {
                assert!(&output == same, "{what}: differs from {runs}'s own output");
            }
            bf16_outputs.push((runs, output));
            pix2pix::backend::with_bf16_products(limit, || {
                training_step_moves_f32_weights(&model, &device, Precision::Bf16)
            });
        }
    }
}

/// One training step at `precision`: finite losses, f32 weights that the step changed.
fn training_step_moves_f32_weights(model: &ModelOptions, device: &Device, precision: Precision) {
    let values = |y: Tensor<4>| y.into_data().try_into_vec::<f32>().unwrap();
    let train_device = device.clone().autodiff();
    let options = TrainOptions {
        precision,
        ..TrainOptions::default()
    };
    let mut pix2pix = Pix2Pix::new(model, &options, &train_device);
    let weight = |p: &Pix2Pix| match &p.generator {
        Generator::Unet(unet) => unet.blocks[1].down_conv.weight.val(),
        Generator::Resnet(_) => unreachable!(),
    };
    let before = values(weight(&pix2pix).inner());
    let batch = |channels| {
        Tensor::<4>::random(
            [2, channels, 32, 32],
            Distribution::Uniform(-1.0, 1.0),
            &train_device,
        )
    };
    let (losses, _) = pix2pix.step(batch(3), batch(3), 2e-4);
    assert!(losses.is_finite(), "{precision}: {losses}");
    let after = weight(&pix2pix);
    assert_eq!(after.dtype(), DType::F32);
    assert_ne!(values(after.inner()), before, "{precision}");
}

/// A library user can name any depth: validation refuses what cannot be built, instead of an
/// assertion deep in the U-Net.
#[test]
fn generators_the_parser_cannot_make_are_refused_by_validation() {
    for net_g in [
        GeneratorArch::Unet { num_downs: 4 },
        GeneratorArch::Unet { num_downs: 15 },
        GeneratorArch::Resnet { n_blocks: 0 },
        GeneratorArch::Resnet { n_blocks: 101 },
    ] {
        let model = ModelOptions {
            net_g,
            ..ModelOptions::default()
        };
        let error = model.validate().unwrap_err().to_string();
        assert!(error.contains("netG"), "{net_g}: {error}");
    }
}
