//! What network a state_dict (or one of our burnpack files) holds, read from its keys and shapes
//! alone: so that an official `latest_net_G.pth` can be used with no architecture flags.

use std::collections::{BTreeMap, BTreeSet};

use super::StateDict;
use super::keys::unet_block_prefix;
use crate::model::{DiscriminatorArch, GeneratorArch, ModelOptions, NormKind};

/// What a file turned out to hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Detected {
    /// A generator, with the options that rebuild it (dropout cannot be seen in a U-Net's keys:
    /// it is assumed on, the pix2pix default).
    Generator(ModelOptions),
    /// A discriminator, with the options that rebuild it.
    Discriminator(ModelOptions),
    /// Neither: the reason names what was found.
    Unknown(String),
}

fn dims(dict: &StateDict, key: &str) -> Option<Vec<usize>> {
    dict.get(key).map(|d| d.shape().to_vec())
}

/// The normalisation a layer prefix (e.g. `model.model.1.model`) shows: running statistics at
/// `norm_index` mean batch norm; otherwise a bias on the conv feeding it means instance norm.
fn norm_of(dict: &StateDict, norm_key: &str, conv_key: &str) -> NormKind {
    if dict.contains_key(&format!("{norm_key}.running_mean")) {
        NormKind::Batch
    } else if dict.contains_key(&format!("{conv_key}.bias")) {
        NormKind::Instance
    } else {
        NormKind::None
    }
}

pub fn detect(dict: &StateDict) -> Detected {
    if let Some(options) = detect_unet(dict).or_else(|| detect_resnet(dict)) {
        return Detected::Generator(options);
    }
    if let Some(options) = detect_discriminator(dict) {
        return Detected::Discriminator(options);
    }
    let sample: Vec<&str> = dict.keys().take(4).map(String::as_str).collect();
    Detected::Unknown(format!(
        "{} tensors with keys like {} match no pix2pix network",
        dict.len(),
        sample.join(", ")
    ))
}

/// What one of our burnpack files holds, from its tensor names (our modules' field paths, e.g.
/// `Unet.blocks.0.down_conv.weight`) and shapes: so that a `.bpk` away from its run folder needs
/// no architecture flags either. Dropout has no weights: it is assumed on, the pix2pix default.
pub fn detect_burnpack(shapes: &BTreeMap<String, Vec<usize>>) -> Detected {
    let get = |name: &str| shapes.get(name).map(Vec::as_slice);
    let has = |name: &str| shapes.contains_key(name);
    let indices = |prefix: &str| -> BTreeSet<usize> {
        (shapes.keys())
            .filter_map(|k| k.strip_prefix(prefix)?.split_once('.')?.0.parse().ok())
            .collect()
    };
    let norm = |norm: &str, conv: &str| {
        if has(&format!("{norm}.Batch.weight")) {
            NormKind::Batch
        } else if has(&format!("{conv}.bias")) {
            NormKind::Instance
        } else {
            NormKind::None
        }
    };
    if let Some(&[ngf, input_nc, 4, 4]) = get("Unet.blocks.0.down_conv.weight")
        && let Some(&[_, output_nc, ..]) = get("Unet.blocks.0.up_conv.weight")
    {
        return Detected::Generator(ModelOptions {
            net_g: GeneratorArch::Unet {
                num_downs: indices("Unet.blocks.").len(),
            },
            ngf,
            input_nc,
            output_nc,
            norm: norm("Unet.blocks.1.down_norm", "Unet.blocks.1.down_conv"),
            ..ModelOptions::default()
        });
    }
    if let Some(&[ngf, input_nc, 7, 7]) = get("Resnet.stem.conv.weight")
        && let Some(&[output_nc, ..]) = get("Resnet.head.weight")
    {
        return Detected::Generator(ModelOptions {
            net_g: GeneratorArch::Resnet {
                n_blocks: indices("Resnet.blocks.").len(),
            },
            ngf,
            input_nc,
            output_nc,
            norm: norm("Resnet.stem.norm", "Resnet.stem.conv"),
            ..ModelOptions::default()
        });
    }
    if let Some(&[ndf, input_nc, kernel, _]) = get("layers.0.conv.weight") {
        let layers = indices("layers.").len();
        let (net_d, n_layers) = match (kernel, layers.saturating_sub(2)) {
            (1, _) => (DiscriminatorArch::Pixel, 3),
            (_, 3) => (DiscriminatorArch::Basic, 3),
            (_, n) => (DiscriminatorArch::NLayers, n),
        };
        let norm = norm("layers.1.norm", "layers.1.conv");
        return Detected::Discriminator(discriminator_options(
            net_d, n_layers, ndf, input_nc, norm,
        ));
    }
    if shapes.keys().any(|k| k.contains(".momentum.moment_")) {
        return Detected::Unknown(
            "it holds an optimizer's state (Adam moments), not a network: give the \
             *_net_G file beside it"
                .into(),
        );
    }
    let sample: Vec<&str> = shapes.keys().take(4).map(String::as_str).collect();
    Detected::Unknown(format!(
        "{} tensors named like {} match no pix2pix network",
        shapes.len(),
        sample.join(", ")
    ))
}

fn detect_unet(dict: &StateDict) -> Option<ModelOptions> {
    let first = dims(dict, "model.model.0.weight")?;
    let outer_up = dims(dict, "model.model.3.weight")?;
    let [ngf, input_nc, 4, 4] = first.as_slice() else {
        return None;
    };
    let output_nc = *outer_up.get(1)?;
    let mut blocks = 1;
    while dict.contains_key(&format!("{}.1.weight", unet_block_prefix(blocks))) {
        blocks += 1;
    }
    let norm = norm_of(
        dict,
        &format!("{}.2", unet_block_prefix(1)),
        &format!("{}.1", unet_block_prefix(1)),
    );
    Some(ModelOptions {
        net_g: GeneratorArch::Unet { num_downs: blocks },
        ngf: *ngf,
        input_nc: *input_nc,
        output_nc,
        norm,
        dropout: true,
        ..ModelOptions::default()
    })
}

fn detect_resnet(dict: &StateDict) -> Option<ModelOptions> {
    let stem = dims(dict, "model.1.weight")?;
    let [ngf, input_nc, 7, 7] = stem.as_slice() else {
        return None;
    };
    let blocks: BTreeSet<usize> = dict
        .keys()
        .filter_map(|k| k.strip_prefix("model.")?.split_once(".conv_block."))
        .filter_map(|(index, _)| index.parse().ok())
        .collect();
    let n_blocks = blocks.len();
    let head = dims(dict, &format!("model.{}.weight", 17 + n_blocks))?;
    // With dropout the second conv moves from conv_block.5 to conv_block.6, where a batch-norm
    // weight (1-d) would otherwise be.
    let dropout = dims(dict, "model.10.conv_block.6.weight").is_some_and(|d| d.len() == 4);
    Some(ModelOptions {
        net_g: GeneratorArch::Resnet { n_blocks },
        ngf: *ngf,
        input_nc: *input_nc,
        output_nc: head[0],
        norm: norm_of(dict, "model.2", "model.1"),
        dropout,
        ..ModelOptions::default()
    })
}

fn detect_discriminator(dict: &StateDict) -> Option<ModelOptions> {
    if let Some(first) = dims(dict, "net.0.weight") {
        let [ndf, input_nc, 1, 1] = first.as_slice() else {
            return None;
        };
        return Some(discriminator_options(
            DiscriminatorArch::Pixel,
            3,
            *ndf,
            *input_nc,
            norm_of(dict, "net.3", "net.2"),
        ));
    }
    let first = dims(dict, "model.0.weight")?;
    let [ndf, input_nc, 4, 4] = first.as_slice() else {
        return None;
    };
    // Convs at 0, then 2, 5, 8, ...: n_layers normalised layers and the last conv.
    let mut convs = 1;
    while dict.contains_key(&format!("model.{}.weight", 2 + 3 * (convs - 1))) {
        convs += 1;
    }
    let n_layers = convs - 2;
    if n_layers == 0 {
        return None;
    }
    let net_d = if n_layers == 3 {
        DiscriminatorArch::Basic
    } else {
        DiscriminatorArch::NLayers
    };
    Some(discriminator_options(
        net_d,
        n_layers,
        *ndf,
        *input_nc,
        norm_of(dict, "model.3", "model.2"),
    ))
}

fn discriminator_options(
    net_d: DiscriminatorArch,
    n_layers_d: usize,
    ndf: usize,
    input_nc: usize,
    norm: NormKind,
) -> ModelOptions {
    // D sees A and B; split its channels the usual way (3 + 3, or 1 + 3 / 3 + 1).
    let (a, b) = match input_nc {
        6 => (3, 3),
        4 => (1, 3),
        2 => (1, 1),
        n => (n.saturating_sub(3), 3.min(n)),
    };
    ModelOptions {
        net_d,
        n_layers_d,
        ndf,
        input_nc: a,
        output_nc: b,
        norm,
        ..ModelOptions::default()
    }
}
