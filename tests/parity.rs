//! Numerical parity with the official PyTorch pix2pix, against fixtures written by
//! scripts/reference/generate.py (torch 2.15.0): forward passes of every network kind in train
//! and eval mode, one complete training step, architecture detection, and export back to PyTorch.

mod common;

use common::fixture;
use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use pix2pix::interop::{
    Detected, StateDict, detect, load_discriminator_state_dict, load_generator_state_dict,
    read_pth, write_pth,
};
use pix2pix::model::{DiscriminatorArch, GeneratorArch, ModelOptions, NormKind};
use pix2pix::train::Pix2Pix;

fn tensor(dict: &StateDict, key: &str, device: &Device) -> Tensor<4> {
    Tensor::from_data(dict[key].clone(), device)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn detected_generator(name: &str) -> (ModelOptions, StateDict) {
    let dict = read_pth(&fixture(&format!("{name}.pth"))).unwrap();
    match detect(&dict) {
        Detected::Generator(model) => (model, dict),
        other => panic!("{name}: detected {other:?}"),
    }
}

/// Loads a generator fixture, checks what detection found, and compares outputs.
fn check_generator(name: &str, net_g: &str, norm: NormKind, input_nc: usize, dropout: bool) {
    let device = pix2pix::device::cpu().unwrap();
    let (model, dict) = detected_generator(name);
    assert_eq!(
        model.net_g,
        net_g.parse::<GeneratorArch>().unwrap(),
        "{name}"
    );
    assert_eq!(
        (model.ngf, model.norm, model.input_nc, model.output_nc),
        (4, norm, input_nc, 3)
    );
    let mut model = model;
    match model.net_g {
        GeneratorArch::Resnet { .. } => {
            assert_eq!(
                model.dropout, dropout,
                "{name}: ResNet dropout shows in the keys"
            )
        }
        // A U-Net's keys do not show dropout: it is assumed on (the pix2pix default), and
        // --no_dropout turns it off, as here for the fixtures made without it.
        GeneratorArch::Unet { .. } => model.dropout = dropout,
    }
    let g = load_generator_state_dict(&model, &dict, &device, Path::new(name)).unwrap();
    let io = read_pth(&fixture(&format!("{name}_io.pth"))).unwrap();
    let input = tensor(&io, "input", &device);
    let eval = values(g.valid().forward(input.clone()));
    let diff = max_abs_diff(&eval, &values(tensor(&io, "eval", &device)));
    eprintln!("{name} eval: max abs diff {diff:e}");
    assert!(diff < 1e-4, "{name} eval: max abs diff {diff:e}");
    if let Some(expected) = io.get("train") {
        let train = values(g.forward(input));
        let expected = expected.clone().try_to_vec::<f32>().unwrap();
        let diff = max_abs_diff(&train, &expected);
        eprintln!("{name} train: max abs diff {diff:e}");
        assert!(diff < 1e-4, "{name} train: max abs diff {diff:e}");
    }
}

#[test]
fn unet_with_batch_norm_matches_pytorch() {
    check_generator("G_unet32_batch", "unet_32", NormKind::Batch, 3, false);
}

#[test]
fn unet_with_instance_norm_matches_pytorch() {
    check_generator("G_unet64_instance", "unet_64", NormKind::Instance, 3, false);
}

/// Its `_io.pth` also covers a zip-crate bug: a 21-character archive root that the reader
/// only opens through the repacking fallback of `read_pth`.
#[test]
fn unet_without_norm_and_one_input_channel_matches_pytorch() {
    check_generator("G_unet32_none_gray", "unet_32", NormKind::None, 1, false);
}

#[test]
fn unet_with_dropout_matches_pytorch_in_eval_mode() {
    check_generator(
        "G_unet64_batch_dropout",
        "unet_64",
        NormKind::Batch,
        3,
        true,
    );
}

#[test]
fn resnet_matches_pytorch() {
    check_generator(
        "G_resnet6_batch",
        "resnet_6blocks",
        NormKind::Batch,
        3,
        false,
    );
    check_generator(
        "G_resnet6_instance_dropout",
        "resnet_6blocks",
        NormKind::Instance,
        3,
        true,
    );
}

fn check_discriminator(name: &str, net_d: DiscriminatorArch, n_layers: usize, norm: NormKind) {
    let device = pix2pix::device::cpu().unwrap();
    let dict = read_pth(&fixture(&format!("{name}.pth"))).unwrap();
    let model = match detect(&dict) {
        Detected::Discriminator(model) => model,
        other => panic!("{name}: detected {other:?}"),
    };
    assert_eq!(
        (model.net_d, model.ndf, model.norm),
        (net_d, 8, norm),
        "{name}"
    );
    if net_d == DiscriminatorArch::NLayers {
        assert_eq!(model.n_layers_d, n_layers);
    }
    let d = load_discriminator_state_dict(&model, &dict, &device, Path::new(name)).unwrap();
    let io = read_pth(&fixture(&format!("{name}_io.pth"))).unwrap();
    let input = tensor(&io, "input", &device);
    for (mode, output) in [
        ("eval", d.valid().forward(input.clone())),
        ("train", d.forward(input.clone())),
    ] {
        let diff = max_abs_diff(&values(output), &values(tensor(&io, mode, &device)));
        eprintln!("{name} {mode}: max abs diff {diff:e}");
        assert!(diff < 1e-4, "{name} {mode}: max abs diff {diff:e}");
    }
}

#[test]
fn discriminators_match_pytorch() {
    check_discriminator(
        "D_basic_batch",
        DiscriminatorArch::Basic,
        3,
        NormKind::Batch,
    );
    check_discriminator(
        "D_nlayers1_instance",
        DiscriminatorArch::NLayers,
        1,
        NormKind::Instance,
    );
    check_discriminator(
        "D_pixel_batch",
        DiscriminatorArch::Pixel,
        3,
        NormKind::Batch,
    );
}

#[test]
fn legacy_format_and_missing_num_batches_tracked_load() {
    let device = pix2pix::device::cpu().unwrap();
    let zip = read_pth(&fixture("D_pixel_batch.pth")).unwrap();
    let legacy = read_pth(&fixture("D_pixel_batch_legacy.pth")).unwrap();
    assert_eq!(zip.len(), legacy.len());
    for (key, value) in &zip {
        assert_eq!(legacy[key].as_bytes(), value.as_bytes(), "{key}");
    }
    // Old checkpoints have no num_batches_tracked buffers; they load all the same.
    let (model, mut dict) = detected_generator("G_unet32_batch");
    dict.retain(|key, _| !key.ends_with("num_batches_tracked"));
    let file = tempfile::tempdir().unwrap();
    let path = file.path().join("old_net_G.pth");
    write_pth(&path, &dict).unwrap();
    let reloaded = read_pth(&path).unwrap();
    assert!(load_generator_state_dict(&model, &reloaded, &device, &path).is_ok());
}

/// max |a - b| / max |b| for each tensor of `expected`.
fn assert_state_dicts_close(ours: &StateDict, expected: &StateDict, tolerance: f32, what: &str) {
    let mut worst = 0.0f32;
    for (key, theirs) in expected {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        let theirs = theirs.clone().try_to_vec::<f32>().unwrap();
        let mine = ours[key].clone().try_to_vec::<f32>().unwrap();
        let scale = theirs.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let relative = max_abs_diff(&mine, &theirs) / scale;
        worst = worst.max(relative);
        assert!(
            relative < tolerance,
            "{what} {key}: relative difference {relative:e}"
        );
    }
    eprintln!("{what} after one step: largest relative difference {worst:e}");
}

#[test]
fn one_training_step_matches_pytorch() {
    let device = pix2pix::device::cpu().unwrap().autodiff();
    let g_before = read_pth(&fixture("step_G_before.pth")).unwrap();
    let d_before = read_pth(&fixture("step_D_before.pth")).unwrap();
    let io = read_pth(&fixture("step_io.pth")).unwrap();
    let model = ModelOptions {
        net_g: GeneratorArch::Unet { num_downs: 5 },
        ngf: 4,
        ndf: 8,
        dropout: false,
        ..ModelOptions::default()
    };
    let mut step = Pix2Pix::new(&model, &pix2pix::train::TrainOptions::default(), &device);
    step.generator = load_generator_state_dict(&model, &g_before, &device, Path::new("G")).unwrap();
    let adversary = step.adversary.as_mut().unwrap();
    adversary.discriminator =
        load_discriminator_state_dict(&model, &d_before, &device, Path::new("D")).unwrap();

    let (losses, _) = step.step(
        tensor(&io, "real_A", &device),
        tensor(&io, "real_B", &device),
        2e-4,
    );
    let scalar = |key: &str| io[key].clone().try_to_vec::<f32>().unwrap()[0] as f64;
    for (name, ours, theirs) in [
        ("D_fake", losses.D_fake, scalar("D_fake")),
        ("D_real", losses.D_real, scalar("D_real")),
        ("G_GAN", losses.G_GAN, scalar("G_GAN")),
        ("G_L1", losses.G_L1, scalar("G_L1")),
    ] {
        eprintln!("{name}: {ours} (PyTorch {theirs})");
        assert!(
            ((ours - theirs) / theirs).abs() < 1e-4,
            "{name}: {ours} vs PyTorch {theirs}"
        );
    }
    let g_after = read_pth(&fixture("step_G_after.pth")).unwrap();
    let d_after = read_pth(&fixture("step_D_after.pth")).unwrap();
    assert_state_dicts_close(
        &model.generator_state_dict(&step.generator),
        &g_after,
        1e-3,
        "G",
    );
    let d = &step.adversary.as_ref().unwrap().discriminator;
    assert_state_dicts_close(&model.discriminator_state_dict(d), &d_after, 1e-3, "D");
}

#[test]
fn exported_state_dicts_have_the_official_keys_shapes_and_values() {
    let device = pix2pix::device::cpu().unwrap();
    for name in [
        "G_unet32_batch",
        "G_unet64_instance",
        "G_resnet6_instance_dropout",
    ] {
        let (model, dict) = detected_generator(name);
        let g = load_generator_state_dict(&model, &dict, &device, Path::new(name)).unwrap();
        let exported = model.generator_state_dict(&g);
        let keys = |d: &StateDict| {
            d.iter()
                .map(|(k, v)| (k.clone(), v.shape().to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&exported), keys(&dict), "{name}: keys and shapes");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latest_net_G.pth");
        write_pth(&file, &exported).unwrap();
        let back = read_pth(&file).unwrap();
        for (key, value) in dict
            .iter()
            .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        {
            assert_eq!(back[key].as_bytes(), value.as_bytes(), "{name} {key}");
        }
        check_in_pytorch(&file, &model, name);
    }
}

/// With PIX2PIX_PYTHON naming a Python that has the pinned torch (CI sets it up), PyTorch loads
/// the exported file with strict=True into the official network and reproduces the outputs.
fn check_in_pytorch(file: &Path, model: &ModelOptions, name: &str) {
    let Some(python) = common::requirement(
        "PIX2PIX_PYTHON",
        "a Python with the pinned torch (scripts/reference/requirements.txt)",
    ) else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/reference/check_export.py");
    let out = Command::new(python)
        .arg(script)
        .arg(file)
        .args([
            model.net_g.to_string(),
            model.ngf.to_string(),
            model.norm.to_string(),
            model.input_nc.to_string(),
            model.output_nc.to_string(),
            (model.dropout as u8).to_string(),
        ])
        .arg(fixture(&format!("{name}_io.pth")))
        .output()
        .expect("PIX2PIX_PYTHON runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name}: PyTorch refused the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff: f64 = stdout
        .trim()
        .strip_prefix("max_abs_diff ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(diff < 1e-4, "{name}: PyTorch output differs by {diff:e}");
}
