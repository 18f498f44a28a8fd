//! What G and D hold, counted from the options alone (no tensor is made): parameters, the
//! feature maps a forward pass produces, and the largest unfolded-input buffer a convolution
//! needs. The memory check (src/memory.rs) turns these counts into bytes before anything is
//! allocated, so they are floats: a typed `--ngf` or `unet_<N>` may not fit any integer.

use super::resnet::DOWNSAMPLINGS;
use super::unet::UnetConfig;
use super::{GeneratorArch, ModelOptions, NormKind};
use crate::backend::convolves_directly;

/// Element counts of one network; `feature_maps` and `workspace` are for one image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Footprint {
    /// Learnable parameters (PyTorch's count).
    pub parameters: f64,
    /// Every convolution's and normalisation's output for one image.
    pub feature_maps: f64,
    /// The largest unfolded input (im2col) or column buffer of one convolution, for one image
    /// (none for those the kernels compute directly).
    pub workspace: f64,
}

impl Footprint {
    /// Adds a convolution with a `kernel` x `kernel` window and `stride` from `cin` to `cout`
    /// channels whose output has `out` pixels; `unfolded` is the pixels its column buffer spans
    /// per channel and kernel tap (the output for a convolution, the input for a transposed one).
    fn conv(
        &mut self,
        [cin, cout]: [f64; 2],
        kernel: f64,
        stride: usize,
        bias: bool,
        out: f64,
        unfolded: f64,
    ) {
        self.parameters += cin * cout * kernel * kernel + if bias { cout } else { 0.0 };
        self.feature_maps += cout * out;
        // A transposed convolution is the adjoint of the convolution from its output to its
        // input: its columns are of its output channels, its products' rows its input channels.
        let (columns, rows) = if unfolded == out {
            (cin, cout)
        } else {
            (cout, cin)
        };
        if !convolves_directly(stride, rows as usize) {
            self.workspace = self.workspace.max(columns * kernel * kernel * unfolded);
        }
    }

    /// Adds a normalisation of `channels` over `out` pixels (nothing for `none`).
    fn norm(&mut self, kind: NormKind, channels: f64, out: f64) {
        if kind == NormKind::None {
            return;
        }
        if kind == NormKind::Batch {
            self.parameters += 2.0 * channels;
        }
        self.feature_maps += channels * out;
    }
}

impl ModelOptions {
    /// G's footprint for `height` x `width` images.
    pub fn generator_footprint(&self, height: usize, width: usize) -> Footprint {
        let mut f = Footprint::default();
        let (input_nc, output_nc) = (self.input_nc as f64, self.output_nc as f64);
        let ngf = self.ngf as f64;
        let norm = self.norm;
        let bias = norm.conv_bias();
        let pixels = |downs: usize| {
            let scale = (2.0f64).powi(downs as i32);
            (height as f64 / scale).floor() * (width as f64 / scale).floor()
        };
        match self.net_g {
            GeneratorArch::Unet { num_downs } => {
                let widen = |level: usize| ngf * (2.0f64).powi(level.min(3) as i32);
                for level in 0..num_downs {
                    let innermost = level + 1 == num_downs;
                    let (outer, inner) = match level {
                        0 => (output_nc, ngf),
                        _ => (widen(level - 1), widen(level)),
                    };
                    let down_in = if level == 0 { input_nc } else { outer };
                    let (above, below) = (pixels(level), pixels(level + 1));
                    // LeakyReLU of the input, the down conv and its norm.
                    f.feature_maps += down_in * above;
                    f.conv([down_in, inner], 4.0, 2, bias, below, below);
                    if level > 0 && !innermost {
                        f.norm(norm, inner, below);
                    }
                    // ReLU, the up conv from the skip concatenation, its norm, the next concat.
                    let up_in = if innermost { inner } else { 2.0 * inner };
                    f.feature_maps += up_in * below;
                    f.conv([up_in, outer], 4.0, 2, level == 0 || bias, above, below);
                    if level > 0 {
                        f.norm(norm, outer, above);
                        f.feature_maps += 2.0 * outer * above;
                    }
                }
                debug_assert!(num_downs >= UnetConfig::MIN_DOWNS);
            }
            GeneratorArch::Resnet { n_blocks } => {
                let full = pixels(0);
                // The 3-pixel reflection padding around the 7x7 convolutions.
                let padded = (height as f64 + 6.0) * (width as f64 + 6.0);
                f.feature_maps += input_nc * padded;
                f.conv([input_nc, ngf], 7.0, 1, bias, full, full);
                f.norm(norm, ngf, full);
                // Every normalisation outside the blocks' second is followed by a ReLU.
                f.feature_maps += ngf * full;
                let mut channels = ngf;
                for level in 1..=DOWNSAMPLINGS {
                    f.conv(
                        [channels, 2.0 * channels],
                        3.0,
                        2,
                        bias,
                        pixels(level),
                        pixels(level),
                    );
                    f.norm(norm, 2.0 * channels, pixels(level));
                    f.feature_maps += 2.0 * channels * pixels(level);
                    channels *= 2.0;
                }
                let inner = pixels(DOWNSAMPLINGS);
                for _ in 0..n_blocks {
                    for _ in 0..2 {
                        f.conv([channels, channels], 3.0, 1, bias, inner, inner);
                        f.norm(norm, channels, inner);
                    }
                    // The reflection-padded inputs, the ReLU, the dropout's mask and output,
                    // and the residual sum.
                    let dropout = if self.dropout { 2.0 } else { 0.0 };
                    f.feature_maps += (4.0 + dropout) * channels * inner;
                }
                for level in (0..DOWNSAMPLINGS).rev() {
                    let out = pixels(level);
                    f.conv(
                        [channels, channels / 2.0],
                        3.0,
                        2,
                        bias,
                        out,
                        pixels(level + 1),
                    );
                    f.norm(norm, channels / 2.0, out);
                    f.feature_maps += channels / 2.0 * out;
                    channels /= 2.0;
                }
                f.feature_maps += ngf * padded;
                f.conv([ngf, output_nc], 7.0, 1, true, full, full);
                // tanh.
                f.feature_maps += output_nc * full;
            }
        }
        f
    }

    /// D's footprint for `height` x `width` images (what it sees: A and B, or B alone).
    pub fn discriminator_footprint(&self, height: usize, width: usize) -> Footprint {
        let mut f = Footprint::default();
        let input_nc = self.discriminator_input_nc() as f64;
        let ndf = self.ndf as f64;
        let norm = self.norm;
        let bias = norm.conv_bias();
        let Some(n_layers) = self.patchgan_layers() else {
            let pixels = height as f64 * width as f64;
            f.conv([input_nc, ndf], 1.0, 1, true, pixels, pixels);
            f.conv([ndf, 2.0 * ndf], 1.0, 1, bias, pixels, pixels);
            f.norm(norm, 2.0 * ndf, pixels);
            f.conv([2.0 * ndf, 1.0], 1.0, 1, bias, pixels, pixels);
            return f;
        };
        let width_of = |n: usize| ndf * (2.0f64).powi(n.min(3) as i32);
        // 4x4 convolutions with padding 1: strided ones halve the side, the last two take 1 off.
        let (mut h, mut w) = (height as f64, width as f64);
        let mut layer =
            |f: &mut Footprint, channels: [f64; 2], stride: usize, bias: bool, normed: bool| {
                h = ((h - 2.0) / stride as f64).floor() + 1.0;
                w = ((w - 2.0) / stride as f64).floor() + 1.0;
                let out = h.max(0.0) * w.max(0.0);
                f.conv(channels, 4.0, stride, bias, out, out);
                if normed {
                    f.norm(norm, channels[1], out);
                }
            };
        layer(&mut f, [input_nc, ndf], 2, true, false);
        for n in 1..n_layers {
            layer(&mut f, [width_of(n - 1), width_of(n)], 2, bias, true);
        }
        let last = width_of(n_layers);
        layer(&mut f, [width_of(n_layers - 1), last], 1, bias, true);
        layer(&mut f, [last, 1.0], 1, true, false);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DiscriminatorArch;
    use crate::model::parameter_count;
    use burn::prelude::Device;

    /// The counts from the options equal the parameters of the networks they build.
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
                    let g = options.generator_footprint(64, 64).parameters;
                    let d = options.discriminator_footprint(64, 64).parameters;
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
        let small = options.generator_footprint(128, 128);
        let large = options.generator_footprint(256, 256);
        assert!((large.feature_maps / small.feature_maps - 4.0).abs() < 0.1);
        let wide = ModelOptions {
            ngf: 128,
            ..options.clone()
        }
        .generator_footprint(128, 128);
        assert!(wide.feature_maps > 1.9 * small.feature_maps);
        let huge = ModelOptions {
            ngf: usize::MAX,
            ..options
        }
        .generator_footprint(256, 256);
        assert!(huge.parameters.is_finite() && huge.parameters > 1e38);
    }
}
