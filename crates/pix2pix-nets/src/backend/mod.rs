//! Where pix2pix's operations run. The networks (src/model/) and the optimiser call one entry
//! point per operation here: `conv2d`, `conv_transpose2d`, `leaky_relu`, `batch_norm_train`,
//! `reflect_pad`, `dropout` and `adam_step`. Each decides, in this file only, between our kernels
//! (where a backend keeps its buffers in this process and ours are faster than Burn's) and
//! Burn's own operations (every other backend, dtype or shape):
//!
//! - `flex/`: convolutions, training-mode BatchNorm, LeakyReLU and reflection padding for Flex,
//!   Burn's pure-Rust CPU backend, as Burn backend extensions, and dropout's mask drawn in
//!   parallel;
//! - `tch/`: Adam's fused loop in place on LibTorch's CPU buffers;
//! - `adam`: that loop, shared by both, and its tensor-operation form for the other backends.
//!
//! [`Precision`] (mixed precision) is decided here too: as PyTorch's autocast, each convolution
//! casts its input, weight and bias to the low precision and its output back to f32, so weights,
//! optimiser state, normalisation, activations and losses stay f32, and gradients reach the f32
//! weights through the casts.

pub(crate) mod adam;
mod device;
#[cfg(feature = "flex")]
mod flex;
pub mod profile;
#[cfg(feature = "tch")]
mod tch;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::module::BatchNormTrainOutput;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode};
use burn::tensor::{DType, Distribution, FloatDType};
use serde::{Deserialize, Serialize};
use std::cell::Cell;

pub use adam::{AdamParam, AdamStep};
pub use device::Backend;

/// The arithmetic of the convolutions (`--precision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the official code's default).
    #[default]
    F32,
    /// Convolutions in bfloat16.
    Bf16,
    /// Convolutions in float16.
    F16,
}

crate::names::named_values!(Precision, "precision", {
    F32 => "f32",
    Bf16 => "bf16",
    F16 => "f16",
});

impl Precision {
    /// An error where `device` cannot compute in this precision: on a driver without bf16,
    /// CubeCL's kernels fail on their own threads and the step goes on with wrong numbers
    /// (BENCHMARKS.md, 2026-12-05).
    pub fn check(self, device: &Device) -> crate::Result<()> {
        match self.low() {
            Some(dtype) if !device.supports_dtype(dtype) => Err(crate::Error::InvalidOption {
                option: "precision",
                reason: format!("{self} is not supported by this device's driver: use f16 or f32"),
            }),
            _ => Ok(()),
        }
    }

    /// The convolutions' dtype; None for plain f32.
    fn low(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
        }
    }
}

/// The environment variable that, set to `burn`, sends every operation to Burn's own
/// implementation on every backend: the route the GPU backends take, run on the CPU by the tests
/// (CI runs the parity, training and resume tests through it) and timed by `bench`.
pub const ROUTE_VARIABLE: &str = "PIX2PIX_ROUTE";

/// Whether [`ROUTE_VARIABLE`] asks for Burn's operations everywhere (read once).
pub fn generic_route() -> bool {
    static GENERIC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GENERIC.get_or_init(|| std::env::var(ROUTE_VARIABLE).is_ok_and(|v| v == "burn"))
}

/// The instructions that compute `--precision bf16`'s convolution products on Flex, from the
/// slowest. A CPU offers the first, or the first two, or all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bf16Products {
    /// f32 products of the unrounded operands: a CPU without bf16 instructions, where rounding
    /// would only cost time.
    F32,
    /// AVX512_BF16's dot products (`vdpbf16ps`) of operands rounded to bf16, summed in f32: AMD
    /// Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and later.
    DotProducts,
    /// Intel's AMX tiles (`tdpbf16ps`), the same arithmetic on 16x16 tiles: Sapphire Rapids and
    /// later, where Linux grants the tile state and the tiles checked themselves on first use.
    Tiles,
}

crate::names::named_values!(Bf16Products, "bf16 products", {
    F32 => "f32",
    DotProducts => "dot-products",
    Tiles => "tiles",
});

thread_local! {
    /// The fastest products [`with_bf16_products`] allows on this thread.
    static BF16_PRODUCTS_LIMIT: Cell<Bf16Products> = const { Cell::new(Bf16Products::Tiles) };
}

/// The products `--precision bf16` runs its convolutions on, on this thread: the fastest the
/// CPU offers, within [`with_bf16_products`]'s limit. Each convolution reads it once, where it
/// is called, and passes the choice to its kernels.
pub fn bf16_products() -> Bf16Products {
    #[cfg(feature = "flex")]
    {
        BF16_PRODUCTS_LIMIT.get().min(flex::conv::bf16::offered())
    }
    #[cfg(not(feature = "flex"))]
    {
        Bf16Products::F32
    }
}

/// Runs `f` with `--precision bf16`'s products on at most `limit` (the fastest the CPU offers
/// below it where it lacks `limit`), for the convolutions `f` calls on this thread only: the
/// tests compare the paths side by side.
pub fn with_bf16_products<T>(limit: Bf16Products, f: impl FnOnce() -> T) -> T {
    let before = BF16_PRODUCTS_LIMIT.replace(limit);
    // Restored even if `f` panics.
    struct Restore(Bf16Products);
    impl Drop for Restore {
        fn drop(&mut self) {
            BF16_PRODUCTS_LIMIT.set(self.0);
        }
    }
    let _restore = Restore(before);
    f()
}

/// Whether the Flex kernels compute a convolution with `stride` to `out_channels` directly,
/// without a column matrix (src/backend/flex/conv/direct.rs): at stride 1 to up to four channels
/// (BENCHMARKS.md, direct convolutions). For a transposed convolution, `out_channels` is its
/// input's channels (it is the adjoint of a convolution to them).
pub(crate) fn convolves_directly(stride: usize, out_channels: usize) -> bool {
    stride == 1 && out_channels <= 4
}

/// Which implementation runs an operation on a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Our kernels on Flex's f32 buffers.
    #[cfg(feature = "flex")]
    Flex,
    /// Our kernels on LibTorch's f32 CPU buffers.
    #[cfg(feature = "tch")]
    LibTorchCpu,
    /// Burn's own operations.
    Burn,
}

impl Route {
    fn of<const D: usize>(tensor: &Tensor<D>) -> Self {
        if tensor.dtype() != DType::F32 || generic_route() {
            return Route::Burn;
        }
        match Backend::on_host(&tensor.device()) {
            #[cfg(feature = "flex")]
            Some(Backend::Flex) => Route::Flex,
            #[cfg(feature = "tch")]
            Some(Backend::LibTorchCpu) => Route::LibTorchCpu,
            _ => Route::Burn,
        }
    }
}

/// A convolution's hyper-parameters as our kernels take them: a square kernel with equal strides
/// and one padding on every side, no dilation, no groups (what pix2pix's networks use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvShape {
    pub stride: usize,
    pub padding: usize,
    /// Transposed convolution; its extra rows and columns at the end are `output_padding`.
    pub transposed: bool,
    pub output_padding: usize,
    /// The products' instructions: [`Bf16Products::F32`] (unrounded) but for `--precision
    /// bf16`, which takes [`bf16_products`].
    pub bf16: Bf16Products,
}

impl ConvShape {
    /// The shape of `conv`, if our kernels take it.
    fn of_conv2d(conv: &Conv2d) -> Option<Self> {
        let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
            return None;
        };
        let uniform = [left, bottom, right].iter().all(|&p| p == top);
        (uniform && plain(conv.kernel_size, conv.stride, conv.dilation, conv.groups)).then_some(
            Self {
                stride: conv.stride[0],
                padding: top,
                transposed: false,
                output_padding: 0,
                bf16: Bf16Products::F32,
            },
        )
    }

    /// The transposed counterpart of [`ConvShape::of_conv2d`].
    fn of_conv_transpose2d(conv: &ConvTranspose2d) -> Option<Self> {
        let fits = conv.padding[0] == conv.padding[1]
            && conv.padding_out[0] == conv.padding_out[1]
            && plain(conv.kernel_size, conv.stride, conv.dilation, conv.groups);
        fits.then_some(Self {
            stride: conv.stride[0],
            padding: conv.padding[0],
            transposed: true,
            output_padding: conv.padding_out[0],
            bf16: Bf16Products::F32,
        })
    }
}

/// A square kernel, equal strides, no dilation, no groups.
fn plain(kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], groups: usize) -> bool {
    kernel[0] == kernel[1] && stride[0] == stride[1] && dilation == [1, 1] && groups == 1
}

/// `conv` applied to `x` (f32 in and out) at `precision`.
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>, precision: Precision) -> Tensor<4> {
    // The networks' convolutions all pad explicitly (src/model/init.rs).
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => unreachable!("pix2pix's convolutions pad explicitly"),
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    let kernel = Convolution {
        weight: &conv.weight,
        bias: &conv.bias,
        shape: ConvShape::of_conv2d(conv),
    };
    kernel.apply(x, precision, |x, weight, bias| {
        burn::tensor::module::conv2d(x, weight, bias, options)
    })
}

/// The transposed counterpart of [`conv2d`].
pub(crate) fn conv_transpose2d(
    conv: &ConvTranspose2d,
    x: Tensor<4>,
    precision: Precision,
) -> Tensor<4> {
    let options = ConvTransposeOptions::new(
        conv.stride,
        conv.padding,
        conv.padding_out,
        conv.dilation,
        conv.groups,
    );
    let kernel = Convolution {
        weight: &conv.weight,
        bias: &conv.bias,
        shape: ConvShape::of_conv_transpose2d(conv),
    };
    kernel.apply(x, precision, |x, weight, bias| {
        burn::tensor::module::conv_transpose2d(x, weight, bias, options)
    })
}

/// A convolution's parameters, and its shape where our kernels take it.
struct Convolution<'a> {
    weight: &'a Param<Tensor<4>>,
    bias: &'a Option<Param<Tensor<1>>>,
    /// Read by the Flex kernels only.
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    shape: Option<ConvShape>,
}

impl Convolution<'_> {
    /// Our kernel on Flex in f32 or bf16 (its products' operands rounded, f32 sums, the bias
    /// added in f32); otherwise Burn's operation `burn`, in `precision` as autocast does: input,
    /// weight and bias cast to it, the output back to f32.
    fn apply(
        &self,
        x: Tensor<4>,
        precision: Precision,
        burn: impl FnOnce(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>,
    ) -> Tensor<4> {
        let bias = self.bias.as_ref().map(Param::val);
        #[cfg(feature = "flex")]
        if Route::of(&x) == Route::Flex
            && precision != Precision::F16
            && let Some(shape) = self.shape
        {
            let shape = ConvShape {
                bf16: if precision == Precision::Bf16 {
                    bf16_products()
                } else {
                    Bf16Products::F32
                },
                ..shape
            };
            let y = flex::conv::conv(x, self.weight.val(), shape);
            return match bias {
                Some(bias) => {
                    let channels = bias.dims()[0];
                    y + bias.reshape([1, channels, 1, 1])
                }
                None => y,
            };
        }
        if let Some(dtype) = precision.low() {
            let bias = bias.map(|bias| bias.cast(dtype));
            return burn(x.cast(dtype), self.weight.val().cast(dtype), bias).cast(FloatDType::F32);
        }
        burn(x, self.weight.val(), bias)
    }
}

/// LeakyReLU with PyTorch's gradient rule.
pub(crate) fn leaky_relu(x: Tensor<4>, slope: f64) -> Tensor<4> {
    match Route::of(&x) {
        #[cfg(feature = "flex")]
        Route::Flex => flex::leaky_relu::leaky_relu(x, slope),
        _ => burn::tensor::activation::leaky_relu(x, slope),
    }
}

/// x [batch, channels, height, width] with `pad` reflected rows and columns on every side
/// (PyTorch's `ReflectionPad2d`).
pub(crate) fn reflect_pad(x: Tensor<4>, pad: usize) -> Tensor<4> {
    match Route::of(&x) {
        // Burn's own checks (and messages) for a padding as wide as the image.
        #[cfg(feature = "flex")]
        Route::Flex if pad < x.dims()[2] && pad < x.dims()[3] => {
            flex::reflect_pad::reflect_pad(x, pad)
        }
        _ => x.pad((pad, pad, pad, pad), PadMode::Reflect),
    }
}

/// x with each value kept with probability `keep` and scaled by 1 / `keep`, zero otherwise
/// (dropout while training), the mask from the device's generator.
pub(crate) fn dropout(x: Tensor<4>, keep: f64) -> Tensor<4> {
    match Route::of(&x) {
        #[cfg(feature = "flex")]
        Route::Flex => flex::dropout::dropout(x, keep),
        _ => {
            let mask = x.random_like(Distribution::Bernoulli(keep));
            (x * mask).div_scalar(keep)
        }
    }
}

/// Batch statistics of x [batch, channels, height, width] and the normalised output.
pub(crate) fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrainOutput<4> {
    match Route::of(&x) {
        #[cfg(feature = "flex")]
        Route::Flex => flex::batch_norm::batch_norm_train(x, gamma, beta, epsilon),
        _ => burn::tensor::module::batch_norm_train(x, gamma, beta, epsilon),
    }
}

/// One Adam step of a parameter and its moments (the training loop's optimiser, in the
/// `pix2pix` crate, calls it for every parameter).
pub fn adam_step<const D: usize>(
    state: AdamParam<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> AdamParam<D> {
    adam_step_on(Route::of(&state.param), state, grad, step)
}

fn adam_step_on<const D: usize>(
    route: Route,
    state: AdamParam<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> AdamParam<D> {
    match route {
        #[cfg(feature = "flex")]
        Route::Flex => adam::on_host(state, grad, step),
        #[cfg(feature = "tch")]
        Route::LibTorchCpu => tch::adam::step(state, grad, step),
        Route::Burn => adam::with_tensor_ops(state, grad, step),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    /// Burn's tensor operations (the route of the GPU backends) give the fused loop's result.
    #[test]
    fn adam_with_tensor_operations_equals_the_fused_loop() {
        let device = Device::flex();
        let random = || Tensor::<2>::random([37, 29], Distribution::Normal(0.0, 1.0), &device);
        let (param, grad, moment_1) = (random(), random(), random());
        let moment_2 = random().abs();
        for time in [1, 7] {
            let step = AdamStep {
                lr: 2e-4,
                time,
                beta_1: 0.5,
                beta_2: 0.999,
                epsilon: 1e-8,
            };
            let state = AdamParam {
                param: param.clone(),
                moment_1: moment_1.clone(),
                moment_2: moment_2.clone(),
            };
            let run = |route| {
                let after = adam_step_on(route, state.clone(), grad.clone(), step);
                [after.param, after.moment_1, after.moment_2]
                    .map(|t| t.into_data().try_into_vec::<f32>().unwrap())
            };
            let (fused, tensor_ops) = (run(Route::Flex), run(Route::Burn));
            for (a, b) in fused.iter().flatten().zip(tensor_ops.iter().flatten()) {
                assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
            }
        }
    }
}
