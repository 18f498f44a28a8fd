//! What a network holds, counted from its plan alone (no tensor is made): parameters, the
//! feature maps a forward pass produces, and the largest unfolded-input buffer a convolution
//! needs. The `pix2pix` crate's memory check turns these counts into bytes before anything is
//! allocated, so they are floats: a typed `--ngf` or `unet_<N>` may not fit any integer.
//! [`training_bytes`], [`inference_bytes`] and [`weights_bytes`] weigh them as measured on the
//! CPU backends (the `pix2pix` crate's BENCHMARKS.md, "Memory estimates").

use crate::backend::convolves_directly;
use crate::model::plan::{Join, Plan, Step};
use crate::model::{ModelOptions, NormKind};

const F32: f64 = 4.0;
/// The process before any network: the binary, its threads and the data pipeline.
const BASE: f64 = 32.0 * (1 << 20) as f64;
/// The share of G's feature maps alive at once in a forward pass without gradients.
const INFERENCE_FEATURE_MAPS: f64 = 0.5;

/// Bytes a training step of `batch` images of `height` x `width` needs.
pub fn training_bytes(model: &ModelOptions, batch: usize, height: usize, width: usize) -> f64 {
    let g = Footprint::of(&model.generator_plan(), height, width);
    let d = Footprint::of(&model.discriminator_plan(), height, width);
    let batch = batch as f64;
    let weights = 4.0 * (g.parameters + d.parameters);
    let feature_maps = batch * (g.feature_maps + 3.0 * d.feature_maps);
    let workspace = batch * g.workspace.max(d.workspace);
    F32 * (weights + feature_maps + workspace) + BASE
}

/// Bytes translating `batch` images of `height` x `width` needs (G only, no gradients).
pub fn inference_bytes(model: &ModelOptions, batch: usize, height: usize, width: usize) -> f64 {
    let g = Footprint::of(&model.generator_plan(), height, width);
    let batch = batch as f64;
    let feature_maps = batch * INFERENCE_FEATURE_MAPS * g.feature_maps;
    F32 * (2.0 * g.parameters + feature_maps + batch * g.workspace) + BASE
}

/// Bytes G's and D's weights take (what building them allocates).
pub fn weights_bytes(model: &ModelOptions) -> f64 {
    let parameters =
        model.generator_plan().parameters() as f64 + model.discriminator_plan().parameters() as f64;
    F32 * parameters + BASE
}

/// Element counts of one network; `feature_maps` and `workspace` are for one image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Footprint {
    /// Learnable parameters (PyTorch's count).
    pub parameters: f64,
    /// Every step's output for one image (what a forward pass with gradients keeps).
    pub feature_maps: f64,
    /// The largest unfolded input (im2col) or column buffer of one convolution, for one image
    /// (none for those the kernels compute directly).
    pub workspace: f64,
}

/// A feature map's channels and sides, as floats.
#[derive(Clone, Copy)]
struct Shape {
    channels: f64,
    height: f64,
    width: f64,
}

impl Shape {
    fn size(self) -> f64 {
        self.channels * self.height * self.width
    }

    fn pixels(self) -> f64 {
        self.height * self.width
    }
}

impl Footprint {
    /// The footprint of `plan` for `height` x `width` images.
    pub fn of(plan: &Plan, height: usize, width: usize) -> Self {
        let mut f = Footprint::default();
        let input = Shape {
            channels: plan.input_nc as f64,
            height: height as f64,
            width: width as f64,
        };
        f.steps(&plan.steps, input);
        f
    }

    /// Adds `steps` run on `x`; returns their output's shape.
    fn steps(&mut self, steps: &[Step], mut x: Shape) -> Shape {
        for step in steps {
            x = match step {
                Step::Conv(conv) => {
                    let [cin, cout] = conv.channels.map(|c| c as f64);
                    let spec = conv.spec;
                    let (k, s) = (spec.kernel as f64, spec.stride as f64);
                    let (p, op) = (spec.padding as f64, spec.output_padding as f64);
                    let side = |side: f64| {
                        let out = if conv.transposed {
                            (side - 1.0) * s - 2.0 * p + k + op
                        } else {
                            ((side + 2.0 * p - k) / s).floor() + 1.0
                        };
                        out.max(0.0)
                    };
                    let out = Shape {
                        channels: cout,
                        height: side(x.height),
                        width: side(x.width),
                    };
                    self.parameters += cin * cout * k * k + if spec.bias { cout } else { 0.0 };
                    // A transposed convolution is the adjoint of the convolution from its
                    // output to its input: its columns are of its output channels and span its
                    // input's pixels, its products' rows are its input channels.
                    let (columns, unfolded, rows) = if conv.transposed {
                        (cout, x.pixels(), cin)
                    } else {
                        (cin, out.pixels(), cout)
                    };
                    if !convolves_directly(spec.stride, rows as usize) {
                        self.workspace = self.workspace.max(columns * k * k * unfolded);
                    }
                    out
                }
                Step::Norm { kind, channels, .. } => {
                    if *kind == NormKind::None {
                        continue;
                    }
                    if *kind == NormKind::Batch {
                        self.parameters += 2.0 * *channels as f64;
                    }
                    x
                }
                Step::LeakyRelu | Step::Relu | Step::Tanh => x,
                Step::Dropout { .. } => {
                    // The mask as well as the output.
                    self.feature_maps += x.size();
                    x
                }
                Step::ReflectPad(pad) => Shape {
                    height: x.height + 2.0 * *pad as f64,
                    width: x.width + 2.0 * *pad as f64,
                    ..x
                },
                Step::Block(block) => {
                    let inner = self.steps(&block.steps, x);
                    match block.join {
                        Join::Concat => Shape {
                            channels: x.channels + inner.channels,
                            ..x
                        },
                        Join::Residual => x,
                    }
                }
            };
            self.feature_maps += x.size();
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiscriminatorArch, ModelOptions, parameter_count};
    use burn::prelude::Device;

    /// The counts from the plans equal the parameters of the networks they build.
    #[test]
    fn parameter_counts_match_the_built_networks() {
        let device = Device::flex();
        let archs = ["unet_32", "unet_64", "resnet_2blocks", "resnet_6blocks"];
        for arch in archs {
            for norm in [NormKind::Batch, NormKind::Instance, NormKind::None] {
                for (net_d, n_layers_d) in [
                    (DiscriminatorArch::Basic, 3),
                    (DiscriminatorArch::NLayers, 1),
                    (DiscriminatorArch::NLayers, 5),
                    (DiscriminatorArch::Pixel, 3),
                ] {
                    let options = ModelOptions {
                        net_g: arch.parse().unwrap(),
                        input_nc: 1,
                        ngf: 4,
                        ndf: 4,
                        norm,
                        net_d,
                        n_layers_d,
                        ..ModelOptions::default()
                    };
                    let what = format!("{arch} {norm} {net_d} {n_layers_d}");
                    let g = Footprint::of(&options.generator_plan(), 64, 64).parameters;
                    let d = Footprint::of(&options.discriminator_plan(), 64, 64).parameters;
                    assert_eq!(
                        g,
                        parameter_count(&options.generator(&device)) as f64,
                        "G {what}"
                    );
                    assert_eq!(
                        d,
                        parameter_count(&options.discriminator(&device)) as f64,
                        "D {what}"
                    );
                }
            }
        }
    }

    #[test]
    fn feature_maps_grow_with_the_image_and_the_width() {
        let options = ModelOptions::default();
        let small = Footprint::of(&options.generator_plan(), 128, 128);
        let large = Footprint::of(&options.generator_plan(), 256, 256);
        assert!((large.feature_maps / small.feature_maps - 4.0).abs() < 0.1);
        let wide = ModelOptions {
            ngf: 128,
            ..options.clone()
        };
        let wide = Footprint::of(&wide.generator_plan(), 128, 128);
        assert!(wide.feature_maps > 1.9 * small.feature_maps);
        let huge = ModelOptions {
            ngf: usize::MAX,
            ..options
        };
        let huge = Footprint::of(&huge.generator_plan(), 256, 256);
        assert!(huge.parameters.is_finite() && huge.parameters > 1e38);
    }
}
