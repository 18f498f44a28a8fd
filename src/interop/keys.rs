//! The official state_dict key of each of our parameters. Our modules are organised by block
//! (src/model); the official ones by nested `nn.Sequential`s, whose indices these functions
//! compute (see the checkpoint section of the reference notes).

use crate::model::{DiscriminatorArch, GeneratorArch, ModelOptions};

/// Our module path, without the enum variant names (`Unet`, `Batch`, ...) that have no
/// counterpart in PyTorch.
fn fields(path: &[String]) -> Vec<&str> {
    path.iter()
        .map(String::as_str)
        .filter(|p| !matches!(*p, "Unet" | "Resnet" | "Batch" | "Instance"))
        .collect()
}

/// The key of generator parameter `path` for `model`, or None if the path is not one of ours.
pub fn generator_key(path: &[String], model: &ModelOptions) -> Option<String> {
    let parts = fields(path);
    let param = *parts.last()?;
    match model.net_g {
        GeneratorArch::Unet { num_downs } => unet_key(&parts, param, num_downs),
        GeneratorArch::Resnet { n_blocks } => resnet_key(&parts, param, n_blocks, model.dropout),
    }
}

/// `model.model` for the outermost block, then `.1.model` and `.3.model` for each level down
/// (the outermost Sequential holds its submodule at 1, middle blocks at 3).
pub fn unet_block_prefix(block: usize) -> String {
    let mut prefix = String::from("model.model");
    for level in 1..=block {
        prefix.push_str(if level == 1 { ".1.model" } else { ".3.model" });
    }
    prefix
}

fn unet_key(parts: &[&str], param: &str, num_downs: usize) -> Option<String> {
    let ["blocks", block, layer, ..] = parts else {
        return None;
    };
    let block: usize = block.parse().ok()?;
    let index = match (block, *layer) {
        (0, "down_conv") => 0,
        (0, "up_conv") => 3,
        (b, "down_conv") if b + 1 == num_downs => 1,
        (b, "up_conv") if b + 1 == num_downs => 3,
        (b, "up_norm") if b + 1 == num_downs => 4,
        (_, "down_conv") => 1,
        (_, "down_norm") => 2,
        (_, "up_conv") => 5,
        (_, "up_norm") => 6,
        _ => return None,
    };
    Some(format!("{}.{index}.{param}", unet_block_prefix(block)))
}

/// Sequential indices of the ResNet generator: pad, conv, norm, relu, then three per
/// downsampling stage, one per block, three per upsampling stage, then pad, conv, tanh.
fn resnet_key(parts: &[&str], param: &str, n_blocks: usize, dropout: bool) -> Option<String> {
    let key = match parts {
        ["stem", "conv", ..] => "model.1".to_string(),
        ["stem", "norm", ..] => "model.2".to_string(),
        ["downsampling", i, layer, ..] => {
            let i: usize = i.parse().ok()?;
            format!("model.{}", 4 + 3 * i + usize::from(*layer == "norm"))
        }
        ["blocks", b, layer, ..] => {
            let b: usize = b.parse().ok()?;
            let shift = usize::from(dropout);
            let index = match *layer {
                "conv1" => 1,
                "norm1" => 2,
                "conv2" => 5 + shift,
                "norm2" => 6 + shift,
                _ => return None,
            };
            format!("model.{}.conv_block.{index}", 10 + b)
        }
        ["upsampling", i, layer, ..] => {
            let i: usize = i.parse().ok()?;
            format!(
                "model.{}",
                10 + n_blocks + 3 * i + usize::from(*layer == "norm")
            )
        }
        ["head", ..] => format!("model.{}", 17 + n_blocks),
        _ => return None,
    };
    Some(format!("{key}.{param}"))
}

/// The key of discriminator parameter `path` for `model`.
pub fn discriminator_key(path: &[String], model: &ModelOptions) -> Option<String> {
    let parts = fields(path);
    let param = *parts.last()?;
    let ["layers", layer, kind, ..] = parts.as_slice() else {
        return None;
    };
    let layer: usize = layer.parse().ok()?;
    let norm = usize::from(*kind == "norm");
    if model.net_d == DiscriminatorArch::Pixel {
        // net: conv 0, lrelu 1, conv 2, norm 3, lrelu 4, conv 5.
        let index = [0, 2, 5].get(layer)? + norm;
        return Some(format!("net.{index}.{param}"));
    }
    // model: conv 0, lrelu 1, then conv, norm, lrelu per normalised layer, then the last conv.
    let index = if layer == 0 { 0 } else { 2 + 3 * (layer - 1) } + norm;
    Some(format!("model.{index}.{param}"))
}
