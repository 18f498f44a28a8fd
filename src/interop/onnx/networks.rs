//! Our generators as ONNX nodes, layer by layer as their `forward` runs them, dropout left out.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use super::graph::{Attr, Graph};
use crate::model::norm::{BATCH_NORM_EPS, Norm};
use crate::model::{Generator, Resnet, Unet};

/// How batch-norm layers normalise in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BatchNormMode {
    /// With the running statistics (`BatchNormalization`, eval mode).
    Running,
    /// With each image's own statistics and the layer's affine weights (`InstanceNormalization`):
    /// the official test mode, exact for batches of one.
    PerImage,
}

/// Adds `generator` reading the value `input`; returns its output value's name.
pub(super) fn generator(
    g: &mut Graph,
    generator: &Generator,
    input: &str,
    mode: BatchNormMode,
) -> String {
    match generator {
        Generator::Unet(unet) => unet_block(g, unet, 0, input, mode),
        Generator::Resnet(resnet) => resnet_forward(g, resnet, input, mode),
    }
}

fn unet_block(g: &mut Graph, unet: &Unet, index: usize, x: &str, mode: BatchNormMode) -> String {
    let block = &unet.blocks[index];
    let name = format!("unet.block{index}");
    let outermost = index == 0;
    let mut h = if outermost {
        x.to_string()
    } else {
        let alpha = vec![("alpha", Attr::Float(0.2))];
        g.node(&format!("{name}.down_act"), "LeakyRelu", &[x], alpha)
    };
    h = conv(g, &format!("{name}.down_conv"), &h, &block.down_conv);
    if let Some(n) = &block.down_norm {
        h = norm(g, &format!("{name}.down_norm"), &h, n, mode);
    }
    if index + 1 < unet.blocks.len() {
        h = unet_block(g, unet, index + 1, &h, mode);
    }
    h = g.node(&format!("{name}.up_act"), "Relu", &[&h], vec![]);
    h = conv_transpose(g, &format!("{name}.up_conv"), &h, &block.up_conv);
    if outermost {
        return g.node(&format!("{name}.tanh"), "Tanh", &[&h], vec![]);
    }
    if let Some(n) = &block.up_norm {
        h = norm(g, &format!("{name}.up_norm"), &h, n, mode);
    }
    g.node(
        &format!("{name}.cat"),
        "Concat",
        &[x, &h],
        vec![("axis", Attr::Int(1))],
    )
}

fn resnet_forward(g: &mut Graph, resnet: &Resnet, x: &str, mode: BatchNormMode) -> String {
    let stage = |g: &mut Graph, name: &str, h: String, n: &Option<Norm>| {
        let h = match n {
            Some(n) => norm(g, &format!("{name}.norm"), &h, n, mode),
            None => h,
        };
        g.node(&format!("{name}.relu"), "Relu", &[&h], vec![])
    };
    let padded = reflect(g, "resnet.stem.pad", x, 3);
    let h = conv(g, "resnet.stem.conv", &padded, &resnet.stem.conv);
    let mut h = stage(g, "resnet.stem", h, &resnet.stem.norm);
    for (i, down) in resnet.downsampling.iter().enumerate() {
        let name = format!("resnet.down{i}");
        let c = conv(g, &format!("{name}.conv"), &h, &down.conv);
        h = stage(g, &name, c, &down.norm);
    }
    for (i, block) in resnet.blocks.iter().enumerate() {
        let name = format!("resnet.block{i}");
        let p = reflect(g, &format!("{name}.pad1"), &h, 1);
        let c = conv(g, &format!("{name}.conv1"), &p, &block.conv1);
        let r = stage(g, &format!("{name}.1"), c, &block.norm1);
        let p = reflect(g, &format!("{name}.pad2"), &r, 1);
        let mut c = conv(g, &format!("{name}.conv2"), &p, &block.conv2);
        if let Some(n) = &block.norm2 {
            c = norm(g, &format!("{name}.norm2"), &c, n, mode);
        }
        h = g.node(&format!("{name}.add"), "Add", &[&h, &c], vec![]);
    }
    for (i, up) in resnet.upsampling.iter().enumerate() {
        let name = format!("resnet.up{i}");
        let c = conv_transpose(g, &format!("{name}.conv"), &h, &up.conv);
        h = stage(g, &name, c, &up.norm);
    }
    let padded = reflect(g, "resnet.head.pad", &h, 3);
    let h = conv(g, "resnet.head.conv", &padded, &resnet.head);
    g.node("resnet.tanh", "Tanh", &[&h], vec![])
}

/// A convolution node of either kind: the shared attributes, `extra` ones, weight and bias.
struct ConvNode<'a> {
    op: &'static str,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    weight: &'a Param<Tensor<4>>,
    bias: &'a Option<Param<Tensor<1>>>,
}

/// The node of a Conv2d or ConvTranspose2d, whose fields have the same names.
macro_rules! conv_node {
    ($op:literal, $layer:expr) => {
        ConvNode {
            op: $op,
            kernel: $layer.kernel_size,
            stride: $layer.stride,
            dilation: $layer.dilation,
            groups: $layer.groups,
            weight: &$layer.weight,
            bias: &$layer.bias,
        }
    };
}

impl ConvNode<'_> {
    fn add(self, g: &mut Graph, name: &str, x: &str, extra: Vec<(&str, Attr)>) -> String {
        let ints = |v: [usize; 2]| Attr::Ints(v.iter().map(|x| *x as i64).collect());
        let mut attributes = vec![
            ("kernel_shape", ints(self.kernel)),
            ("strides", ints(self.stride)),
            ("dilations", ints(self.dilation)),
            ("group", Attr::Int(self.groups as i64)),
        ];
        attributes.extend(extra);
        let mut inputs = vec![
            x.to_string(),
            g.param(&format!("{name}.weight"), self.weight),
        ];
        if let Some(bias) = self.bias {
            inputs.push(g.param(&format!("{name}.bias"), bias));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        g.node(name, self.op, &inputs, attributes)
    }
}

fn conv(g: &mut Graph, name: &str, x: &str, layer: &Conv2d) -> String {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => vec![],
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            let pads = [top, left, bottom, right].map(|p| p as i64).to_vec();
            vec![("pads", Attr::Ints(pads))]
        }
        PaddingConfig2d::Same => vec![("auto_pad", Attr::Str("SAME_UPPER"))],
    };
    let node = conv_node!("Conv", layer);
    node.add(g, name, x, padding)
}

fn conv_transpose(g: &mut Graph, name: &str, x: &str, layer: &ConvTranspose2d) -> String {
    let [ph, pw] = layer.padding.map(|p| p as i64);
    let output_padding = layer.padding_out.map(|p| p as i64).to_vec();
    let node = conv_node!("ConvTranspose", layer);
    let extra = vec![
        ("pads", Attr::Ints(vec![ph, pw, ph, pw])),
        ("output_padding", Attr::Ints(output_padding)),
    ];
    node.add(g, name, x, extra)
}

fn norm(g: &mut Graph, name: &str, x: &str, layer: &Norm, mode: BatchNormMode) -> String {
    let epsilon = |e: f64| vec![("epsilon", Attr::Float(e as f32))];
    match layer {
        Norm::Batch(bn) => {
            let scale = g.param(&format!("{name}.weight"), &bn.weight);
            let bias = g.param(&format!("{name}.bias"), &bn.bias);
            if mode == BatchNormMode::PerImage {
                return g.node(
                    name,
                    "InstanceNormalization",
                    &[x, &scale, &bias],
                    epsilon(BATCH_NORM_EPS),
                );
            }
            let mean = g.tensor(&format!("{name}.running_mean"), bn.running_mean.value());
            let var = g.tensor(&format!("{name}.running_var"), bn.running_var.value());
            g.node(
                name,
                "BatchNormalization",
                &[x, &scale, &bias, &mean, &var],
                epsilon(BATCH_NORM_EPS),
            )
        }
        Norm::Instance(instance) => {
            // The official InstanceNorm2d has no affine weights; ONNX wants them all the same.
            let channels = instance.num_channels;
            let scale = match &instance.gamma {
                Some(gamma) => g.param(&format!("{name}.weight"), gamma),
                None => g.floats(
                    &format!("ones{channels}"),
                    &[channels],
                    &vec![1.0; channels],
                ),
            };
            let bias = match &instance.beta {
                Some(beta) => g.param(&format!("{name}.bias"), beta),
                None => g.floats(
                    &format!("zeros{channels}"),
                    &[channels],
                    &vec![0.0; channels],
                ),
            };
            g.node(
                name,
                "InstanceNormalization",
                &[x, &scale, &bias],
                epsilon(instance.epsilon),
            )
        }
    }
}

/// Reflection padding of `pad` pixels on every side of the image (not the batch or channels).
fn reflect(g: &mut Graph, name: &str, x: &str, pad: usize) -> String {
    let p = pad as i64;
    let pads = g.ints(&format!("pads{pad}"), &[0, 0, p, p, 0, 0, p, p]);
    g.node(
        name,
        "Pad",
        &[x, &pads],
        vec![("mode", Attr::Str("reflect"))],
    )
}
