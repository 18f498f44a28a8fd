//! A network's layers as a table, as `print(net)` and torchsummary users expect (what `pix2pix
//! info` prints) instead of Burn's nested dump: each module that holds parameters, by path, with
//! its type, its parameters' shapes and their count.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// One module holding parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Its dotted path in the network, e.g. `blocks.1.down_conv`.
    pub path: String,
    /// Its type, e.g. `Conv2d` or `BatchNorm2d`.
    pub kind: String,
    /// The shapes of its learnable tensors (weight, then bias).
    pub shapes: Vec<Vec<usize>>,
    /// Learnable parameters, as PyTorch counts them.
    pub parameters: usize,
}

/// The layers of `module`, in the order of its fields.
pub fn layers<M: Module>(module: &M) -> Vec<Layer> {
    let mut walk = Walk::default();
    module.visit(&mut walk);
    walk.layers
}

/// The modules entered so far, as (field name, container type), and the layers found.
#[derive(Default)]
struct Walk {
    stack: Vec<(String, String)>,
    layers: Vec<Layer>,
}

impl ModuleVisitor for Walk {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // The last entry is the tensor's own field, entered by the layer that holds it (a
        // container type is the holder's: `Struct:Conv2d`); running statistics are not
        // parameters.
        let Some(((field, holder), owners)) = self.stack.split_last() else {
            return;
        };
        if field.starts_with("running_") {
            return;
        }
        // Enum variants (the generator's kind, the norm's) and tuple fields name no layer.
        let path: Vec<&str> = owners
            .iter()
            .filter(|(name, container)| !name.starts_with('_') && !container.starts_with("Enum:"))
            .map(|(name, _)| name.as_str())
            .collect();
        let path = path.join(".");
        let kind = holder.rsplit(':').next().unwrap_or(holder).to_string();
        let shape = param.lazy_shape().dims::<D>().to_vec();
        let count: usize = shape.iter().product();
        match self.layers.last_mut() {
            Some(layer) if layer.path == path => {
                layer.shapes.push(shape);
                layer.parameters += count;
            }
            _ => self.layers.push(Layer {
                path,
                kind,
                shapes: vec![shape],
                parameters: count,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GeneratorArch, ModelOptions, NormKind, parameter_count};

    #[test]
    fn every_parameter_is_in_one_named_layer() {
        let device = crate::device::cpu().unwrap();
        for (net_g, norm) in [
            (GeneratorArch::Unet { num_downs: 5 }, NormKind::Batch),
            (GeneratorArch::Resnet { n_blocks: 2 }, NormKind::Instance),
        ] {
            let options = ModelOptions {
                net_g,
                norm,
                ngf: 8,
                ndf: 8,
                ..ModelOptions::default()
            };
            let generator = options.generator(&device);
            let table = layers(&generator);
            let total: usize = table.iter().map(|l| l.parameters).sum();
            assert_eq!(total, parameter_count(&generator), "{net_g}");
            for layer in &table {
                // Enum variants and tuple fields are left out of the paths.
                assert!(
                    !layer.path.is_empty() && !layer.path.split('.').any(|p| p.starts_with('_')),
                    "{layer:?}"
                );
                let counted: usize = layer
                    .shapes
                    .iter()
                    .map(|s| s.iter().product::<usize>())
                    .sum();
                assert_eq!(counted, layer.parameters, "{layer:?}");
            }
            let discriminator = options.discriminator(&device);
            let total: usize = layers(&discriminator).iter().map(|l| l.parameters).sum();
            assert_eq!(total, parameter_count(&discriminator));
        }
        let unet = layers(
            &ModelOptions {
                net_g: GeneratorArch::Unet { num_downs: 5 },
                ngf: 8,
                ..ModelOptions::default()
            }
            .generator(&device),
        );
        assert_eq!(
            (
                unet[0].path.as_str(),
                unet[0].kind.as_str(),
                &unet[0].shapes
            ),
            ("blocks.0.down_conv", "Conv2d", &vec![vec![8, 3, 4, 4]])
        );
        assert!(
            unet.iter()
                .any(|l| l.path == "blocks.1.down_norm" && l.kind == "BatchNorm2d")
        );
    }
}
