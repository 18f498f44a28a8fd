//! A network as ONNX nodes, step by step from its plan (crates/pix2pix-nets/src/model/plan.rs),
//! dropout left out. Nodes are named after the official modules (`model.model.1.model.1`) and
//! weights after the official state_dict keys, as `torch.onnx.export` of the official network names
//! them.

use super::graph::{Attr, Graph};
use crate::interop::StateDict;
use crate::model::NormKind;
use crate::model::norm::BATCH_NORM_EPS;
use crate::model::plan::{Conv, Join, LEAKY_SLOPE, Plan, Step};

/// How batch-norm layers normalise in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BatchNormMode {
    /// With the running statistics (`BatchNormalization`, eval mode).
    Running,
    /// With each image's own statistics and the layer's affine weights (`InstanceNormalization`):
    /// the official test mode, exact for batches of one.
    PerImage,
}

/// Adds the network of `plan`, with its tensors from `weights` (its official state_dict),
/// reading the value `input`; returns its output value's name.
pub(super) fn network(
    g: &mut Graph,
    plan: &Plan,
    weights: &StateDict,
    input: &str,
    mode: BatchNormMode,
) -> String {
    let mut nodes = Nodes { g, weights, mode };
    nodes.steps(plan.prefix, &plan.steps, input.to_string())
}

struct Nodes<'a> {
    g: &'a mut Graph,
    weights: &'a StateDict,
    mode: BatchNormMode,
}

impl Nodes<'_> {
    /// Adds `steps`, the Sequential at `prefix`, on `x`.
    fn steps(&mut self, prefix: &str, steps: &[Step], x: String) -> String {
        let mut h = x;
        for (index, step) in steps.iter().enumerate() {
            let name = format!("{prefix}.{index}");
            let g = &mut *self.g;
            h = match step {
                Step::Conv(conv) => self.conv(&name, &h, conv),
                Step::Norm { kind, channels, .. } => self.norm(&name, &h, *kind, *channels),
                Step::LeakyRelu => {
                    let alpha = vec![("alpha", Attr::Float(LEAKY_SLOPE as f32))];
                    g.node(&name, "LeakyRelu", &[&h], alpha)
                }
                Step::Relu => g.node(&name, "Relu", &[&h], vec![]),
                Step::Tanh => g.node(&name, "Tanh", &[&h], vec![]),
                Step::Dropout { .. } => h,
                Step::ReflectPad(pad) => {
                    let p = *pad as i64;
                    let pads = g.ints(&format!("pads{pad}"), &[0, 0, p, p, 0, 0, p, p]);
                    let mode = vec![("mode", Attr::Str("reflect"))];
                    g.node(&name, "Pad", &[&h, &pads], mode)
                }
                Step::Block(block) => {
                    let inner = format!("{name}.{}", block.attribute);
                    let y = self.steps(&inner, &block.steps, h.clone());
                    match block.join {
                        Join::Concat => {
                            let axis = vec![("axis", Attr::Int(1))];
                            self.g
                                .node(&format!("{name}.cat"), "Concat", &[&h, &y], axis)
                        }
                        Join::Residual => {
                            self.g
                                .node(&format!("{name}.add"), "Add", &[&h, &y], vec![])
                        }
                    }
                }
            };
        }
        h
    }

    /// The official tensor `key` as a graph constant.
    fn weight(&mut self, key: &str) -> String {
        let data = &self.weights[key];
        let values = data
            .try_to_vec::<f32>()
            .expect("a state_dict's float tensor");
        self.g.floats(key, data.shape(), &values)
    }

    fn conv(&mut self, name: &str, x: &str, conv: &Conv) -> String {
        let spec = conv.spec;
        let ints = |v: usize| Attr::Ints(vec![v as i64; 2]);
        let p = spec.padding as i64;
        let mut attributes = vec![
            ("kernel_shape", ints(spec.kernel)),
            ("strides", ints(spec.stride)),
            ("dilations", ints(1)),
            ("group", Attr::Int(1)),
            ("pads", Attr::Ints(vec![p; 4])),
        ];
        if conv.transposed {
            attributes.push(("output_padding", ints(spec.output_padding)));
        }
        let mut inputs = vec![x.to_string(), self.weight(&format!("{name}.weight"))];
        if spec.bias {
            inputs.push(self.weight(&format!("{name}.bias")));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let op = if conv.transposed {
            "ConvTranspose"
        } else {
            "Conv"
        };
        self.g.node(name, op, &inputs, attributes)
    }

    fn norm(&mut self, name: &str, x: &str, kind: NormKind, channels: usize) -> String {
        let epsilon = vec![("epsilon", Attr::Float(BATCH_NORM_EPS as f32))];
        match kind {
            NormKind::None => x.to_string(),
            NormKind::Batch => {
                let scale = self.weight(&format!("{name}.weight"));
                let bias = self.weight(&format!("{name}.bias"));
                if self.mode == BatchNormMode::PerImage {
                    let inputs = [x, &scale, &bias];
                    return self.g.node(name, "InstanceNormalization", &inputs, epsilon);
                }
                let mean = self.weight(&format!("{name}.running_mean"));
                let var = self.weight(&format!("{name}.running_var"));
                let inputs = [x, &scale, &bias, &mean, &var];
                self.g.node(name, "BatchNormalization", &inputs, epsilon)
            }
            NormKind::Instance => {
                // The official InstanceNorm2d has no affine weights; ONNX wants them all the same.
                let ones = vec![1.0; channels];
                let scale = self
                    .g
                    .floats(&format!("ones{channels}"), &[channels], &ones);
                let zeros = vec![0.0; channels];
                let bias = self
                    .g
                    .floats(&format!("zeros{channels}"), &[channels], &zeros);
                self.g
                    .node(name, "InstanceNormalization", &[x, &scale, &bias], epsilon)
            }
        }
    }
}
