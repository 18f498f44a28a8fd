//! Weight initialisation as the official `init_weights`: conv weights from the chosen scheme,
//! conv biases zero (batch-norm weights N(1, gain) live in [`super::norm::BatchNorm2d::new`]).

use burn::module::{Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::seed::{derive_seed, device_seed};

/// `--init_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitType {
    /// N(0, gain): the pix2pix default.
    #[default]
    Normal,
    /// Xavier (Glorot) normal with the given gain.
    Xavier,
    /// Kaiming (He) normal, fan_in, a = 0 (the gain is not used, as in the official code).
    Kaiming,
    /// Orthogonal with the given gain.
    Orthogonal,
}

crate::names::named_values!(InitType, "init type", {
    Normal => "normal",
    Xavier => "xavier",
    Kaiming => "kaiming",
    Orthogonal => "orthogonal",
});

/// `--init_type` and `--init_gain` together.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitOptions {
    pub init_type: InitType,
    pub gain: f64,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            init_type: InitType::Normal,
            gain: 0.02,
        }
    }
}

impl InitOptions {
    /// The standard deviation of the normal schemes, with PyTorch's fans; `None` for orthogonal.
    fn normal_std(&self, fan_in: usize, fan_out: usize) -> Option<f64> {
        match self.init_type {
            InitType::Normal => Some(self.gain),
            InitType::Xavier => Some(self.gain * (2.0 / (fan_in + fan_out) as f64).sqrt()),
            InitType::Kaiming => Some((2.0 / fan_in as f64).sqrt()),
            InitType::Orthogonal => None,
        }
    }

    /// A weight of `shape` with PyTorch's fan computation (dims 1 and 0 times the kernel area).
    fn weight(&self, shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
        let area = shape[2] * shape[3];
        let (fan_in, fan_out) = (shape[1] * area, shape[0] * area);
        match self.normal_std(fan_in, fan_out) {
            Some(std) => normal(shape, 0.0, std, device),
            None => Initializer::Orthogonal { gain: self.gain }.init_with(
                shape,
                Some(fan_in),
                Some(fan_out),
                device,
            ),
        }
    }
}

/// A parameter drawn from N(`mean`, `std`) when first used, as Burn's lazy initialisers.
///
/// Burn draws its normals on one thread through a cryptographic generator, slow for unet_256's
/// 54M weights (BENCHMARKS.md); here one seed comes from the device's generator, so `--seed` still
/// fixes the draw, and fixed-size chunks are drawn in parallel from generators seeded by their
/// index, so the values do not depend on the number of threads.
pub fn normal<const D: usize>(
    shape: [usize; D],
    mean: f64,
    std: f64,
    device: &Device,
) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::new(),
        move |device, require_grad| {
            device.memory_persistent_allocations((), move |_| {
                let values = sample_normal(shape.iter().product(), mean, std, device_seed(device));
                let tensor = Tensor::<D>::from_data(TensorData::new(values, shape), device);
                if require_grad {
                    tensor.require_grad()
                } else {
                    tensor
                }
            })
        },
        device.clone(),
        true,
        shape.into(),
    )
}

/// `len` draws from N(`mean`, `std`), in chunks of [`NORMAL_CHUNK`] from generators seeded by
/// `seed` and the chunk's index.
fn sample_normal(len: usize, mean: f64, std: f64, seed: u64) -> Vec<f32> {
    let mut values = vec![0f32; len];
    values
        .par_chunks_mut(NORMAL_CHUNK)
        .enumerate()
        .for_each(|(index, chunk)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[index as u64]));
            for value in chunk {
                let draw: f64 = rng.sample(StandardNormal);
                *value = (mean + std * draw) as f32;
            }
        });
    values
}

/// Values per generator in [`sample_normal`].
const NORMAL_CHUNK: usize = 1 << 16;

/// A square convolution's geometry and bias, read as
/// `ConvSpec::kernel(4).stride(2).padding(1)`: stride 1, no padding and a bias unless given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub kernel: usize,
    pub stride: usize,
    /// Zeros on every side.
    pub padding: usize,
    /// Extra rows and columns at the end of a transposed convolution's output.
    pub output_padding: usize,
    pub bias: bool,
}

impl ConvSpec {
    pub const fn kernel(kernel: usize) -> Self {
        Self {
            kernel,
            stride: 1,
            padding: 0,
            output_padding: 0,
            bias: true,
        }
    }

    pub const fn stride(self, stride: usize) -> Self {
        Self { stride, ..self }
    }

    pub const fn padding(self, padding: usize) -> Self {
        Self { padding, ..self }
    }

    pub const fn output_padding(self, output_padding: usize) -> Self {
        Self {
            output_padding,
            ..self
        }
    }

    pub const fn bias(self, bias: bool) -> Self {
        Self { bias, ..self }
    }

    /// A convolution from `channels[0]` to `channels[1]` channels, initialised per `init`.
    pub fn conv2d(self, channels: [usize; 2], init: &InitOptions, device: &Device) -> Conv2d {
        let Self {
            kernel,
            stride,
            padding,
            ..
        } = self;
        let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(
                padding, padding, padding, padding,
            ))
            .with_bias(self.bias)
            .with_initializer(Initializer::Zeros)
            .init(device);
        conv.weight = init.weight([channels[1], channels[0], kernel, kernel], device);
        conv
    }

    /// A transposed convolution from `channels[0]` to `channels[1]` channels, initialised per
    /// `init`; its weight is (in, out, k, k) as in PyTorch.
    pub fn conv_transpose2d(
        self,
        channels: [usize; 2],
        init: &InitOptions,
        device: &Device,
    ) -> ConvTranspose2d {
        let Self {
            kernel,
            stride,
            padding,
            output_padding,
            ..
        } = self;
        let mut conv = ConvTranspose2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding([padding, padding])
            .with_padding_out([output_padding, output_padding])
            .with_bias(self.bias)
            .with_initializer(Initializer::Zeros)
            .init(device);
        conv.weight = init.weight([channels[0], channels[1], kernel, kernel], device);
        conv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_std(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let variance = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, variance.sqrt())
    }

    #[test]
    fn normal_draws_depend_on_the_seed_alone() {
        let len = 5 * NORMAL_CHUNK + 123;
        let parallel = sample_normal(len, 1.0, 0.02, 7);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| sample_normal(len, 1.0, 0.02, 7));
        assert_eq!(parallel, one_thread);
        assert_ne!(parallel, sample_normal(len, 1.0, 0.02, 8));
        let (mean, std) = mean_and_std(&parallel);
        assert!(
            (mean - 1.0).abs() < 1e-3 && (std / 0.02 - 1.0).abs() < 0.01,
            "{mean} {std}"
        );
    }

    /// Conv weights follow each scheme's standard deviation with PyTorch's fans
    /// (fan_in = 64 * 16, fan_out = 128 * 16 for a 4x4 conv from 64 to 128 channels).
    #[test]
    fn conv_weights_follow_the_init_type() {
        let device = Device::flex();
        let (fan_in, fan_out): (f64, f64) = (64.0 * 16.0, 128.0 * 16.0);
        for (init_type, expected) in [
            (InitType::Normal, 0.02),
            (InitType::Xavier, 0.02 * (2.0 / (fan_in + fan_out)).sqrt()),
            (InitType::Kaiming, (2.0 / fan_in).sqrt()),
            (InitType::Orthogonal, 0.02 / fan_in.sqrt()),
        ] {
            let init = InitOptions {
                init_type,
                gain: 0.02,
            };
            let conv = ConvSpec::kernel(4).stride(2).padding(1).bias(false).conv2d(
                [64, 128],
                &init,
                &device,
            );
            let values = conv.weight.val().into_data().try_into_vec::<f32>().unwrap();
            let (mean, std) = mean_and_std(&values);
            assert!(mean.abs() < 0.02 * expected, "{init_type:?}: mean {mean}");
            assert!(
                (std / expected - 1.0).abs() < 0.02,
                "{init_type:?}: std {std} vs {expected}"
            );
        }
    }
}
