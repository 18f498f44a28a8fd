//! `pix2pix export --format onnx`, checked in onnxruntime by scripts/reference/check_onnx.py:
//! every generator kind (U-Nets of three depths, ResNets of 6 and 9 blocks; batch, instance and no
//! norm; 1 and 3 channels) from .pth, .bpk and .safetensors files and from a run, at two image
//! sizes, gives our outputs within 1e-4 in eval mode (batch 2) and with --batch-stats (image by
//! image); --io uint8 gives our images; the official fixtures give PyTorch's outputs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::prelude::*;
use common::{dataset, fails_with, fixture, ok, pix2pix, requirement, train_tiny};
use image::{DynamicImage, RgbImage};
use pix2pix::checkpoint::save_module;
use pix2pix::infer::ModelOverrides;
use pix2pix::infer::{GeneratorSource, LoadedGenerator, load_generator, translate_batch};
use pix2pix::interop::{StateDict, load_generator_state_dict, write_pth, write_safetensors};
use pix2pix::model::{Generator, ModelOptions, NormKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// One generator kind, the file it is saved as, and the two image sizes (height, width) it is
/// checked at.
struct Kind {
    name: &'static str,
    net_g: &'static str,
    norm: NormKind,
    channels: (usize, usize),
    dropout: bool,
    extension: &'static str,
    sizes: [(usize, usize); 2],
}

const KINDS: &[Kind] = &[
    Kind {
        name: "unet32_batch",
        net_g: "unet_32",
        norm: NormKind::Batch,
        channels: (3, 3),
        dropout: true,
        extension: "pth",
        sizes: [(32, 32), (64, 32)],
    },
    Kind {
        name: "unet64_instance_gray_in",
        net_g: "unet_64",
        norm: NormKind::Instance,
        channels: (1, 3),
        dropout: false,
        extension: "bpk",
        sizes: [(64, 64), (64, 128)],
    },
    Kind {
        name: "unet128_none_gray_out",
        net_g: "unet_128",
        norm: NormKind::None,
        channels: (3, 1),
        dropout: true,
        extension: "safetensors",
        sizes: [(128, 128), (256, 128)],
    },
    Kind {
        name: "resnet6_batch_gray",
        net_g: "resnet_6blocks",
        norm: NormKind::Batch,
        channels: (1, 1),
        dropout: true,
        extension: "bpk",
        sizes: [(32, 32), (24, 40)],
    },
    Kind {
        name: "resnet9_instance",
        net_g: "resnet_9blocks",
        norm: NormKind::Instance,
        channels: (3, 3),
        dropout: true,
        extension: "pth",
        sizes: [(32, 32), (36, 20)],
    },
    Kind {
        name: "resnet6_none",
        net_g: "resnet_6blocks",
        norm: NormKind::None,
        channels: (3, 3),
        dropout: false,
        extension: "safetensors",
        sizes: [(32, 32), (16, 28)],
    },
];

const TOLERANCE: f64 = 1e-4;

impl Kind {
    fn model(&self) -> ModelOptions {
        ModelOptions {
            net_g: self.net_g.parse().unwrap(),
            norm: self.norm,
            input_nc: self.channels.0,
            output_nc: self.channels.1,
            dropout: self.dropout,
            ngf: 8,
            ..ModelOptions::default()
        }
    }
}

/// G with random weights, and batch norms with random running statistics and affine weights (a
/// fresh layer's zeros and ones would hide a mix-up).
fn random_generator(model: &ModelOptions, seed: u64, device: &Device) -> StateDict {
    device.seed(seed);
    let mut dict = model.generator_state_dict(&model.generator(device));
    let mut rng = StdRng::seed_from_u64(seed);
    let prefixes: Vec<String> = dict
        .keys()
        .filter_map(|k| k.strip_suffix(".running_mean").map(str::to_string))
        .collect();
    for prefix in prefixes {
        for (suffix, low, high) in [
            ("running_mean", -0.5, 0.5),
            ("running_var", 0.5, 2.0),
            ("weight", 0.5, 1.5),
            ("bias", -0.3, 0.3),
        ] {
            let key = format!("{prefix}.{suffix}");
            let shape = dict[&key].shape().to_vec();
            let values: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|_| rng.random_range(low..high))
                .collect();
            dict.insert(key, TensorData::new(values, shape));
        }
    }
    dict
}

fn save(kind: &Kind, dict: &StateDict, dir: &Path, device: &Device) -> PathBuf {
    let path = dir.join(format!("{}.{}", kind.name, kind.extension));
    match kind.extension {
        "pth" => write_pth(&path, dict).unwrap(),
        "safetensors" => write_safetensors(&path, dict).unwrap(),
        _ => {
            let g = load_generator_state_dict(&kind.model(), dict, device, &path).unwrap();
            save_module(&path, &g).unwrap();
        }
    }
    path
}

/// G in eval mode, or (the batch-stats reference) as in training without its dropout layers.
fn load(source: &GeneratorSource, eval: bool, device: &Device) -> LoadedGenerator {
    let mut loaded = load_generator(source, &ModelOverrides::default(), eval, device).unwrap();
    match &mut loaded.generator {
        Generator::Unet(unet) => unet.blocks.iter_mut().for_each(|b| b.dropout = None),
        Generator::Resnet(resnet) => resnet.blocks.iter_mut().for_each(|b| b.dropout = None),
    }
    loaded
}

fn random_values(rng: &mut StdRng, count: usize) -> Vec<f32> {
    (0..count).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn write_f32(path: &Path, values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
    path.to_str().unwrap().into()
}

/// Runs G on `input` ([n, c, h, w]) and records the run for the checker.
fn float_run(
    loaded: &LoadedGenerator,
    input: Vec<f32>,
    shape: [usize; 4],
    stem: &Path,
    device: &Device,
) -> Value {
    let x = Tensor::<4>::from_data(TensorData::new(input.clone(), shape), device);
    let y = loaded.generator.forward(x);
    let out_shape = y.dims();
    let output = y.into_data().try_to_vec::<f32>().unwrap();
    json!({
        "input": write_f32(&stem.with_extension("in"), &input),
        "input_shape": shape,
        "expected": write_f32(&stem.with_extension("out"), &output),
        "expected_shape": out_shape,
        "dtype": "float32",
        "tolerance": TOLERANCE,
    })
}

/// A case of eval-mode runs at batch 2, or with `batch_stats` image by image, at each size.
fn float_case(
    name: &str,
    onnx: &Path,
    loaded: &LoadedGenerator,
    sizes: &[(usize, usize)],
    batch_stats: bool,
    metadata: Value,
    device: &Device,
) -> Value {
    let mut rng = StdRng::seed_from_u64(7);
    let channels = loaded.model.input_nc;
    let mut runs = Vec::new();
    for (h, w) in sizes {
        let input = random_values(&mut rng, 2 * channels * h * w);
        let stem = onnx.with_file_name(format!("{name}_{h}x{w}"));
        if batch_stats {
            for (i, image) in input.chunks(channels * h * w).enumerate() {
                let stem = stem.with_file_name(format!("{name}_{h}x{w}_{i}"));
                runs.push(float_run(
                    loaded,
                    image.to_vec(),
                    [1, channels, *h, *w],
                    &stem,
                    device,
                ));
            }
        } else {
            runs.push(float_run(
                loaded,
                input,
                [2, channels, *h, *w],
                &stem,
                device,
            ));
        }
    }
    json!({"name": name, "onnx": onnx, "metadata": metadata, "runs": runs})
}

/// `--io uint8`: images in, our translated images out (within one level: float rounding at the
/// truncation to 0-255).
fn uint8_case(name: &str, onnx: &Path, loaded: &LoadedGenerator, (h, w): (usize, usize)) -> Value {
    let device = pix2pix::device::cpu().unwrap();
    let (input_nc, output_nc) = (loaded.model.input_nc, loaded.model.output_nc);
    let mut rng = StdRng::seed_from_u64(11);
    let images: Vec<DynamicImage> = (0..2)
        .map(|_| {
            let image = RgbImage::from_fn(w as u32, h as u32, |_, _| {
                let rgb: [u8; 3] = rng.random();
                // A gray input is fed as one channel: its pixels must be gray already.
                image::Rgb(if input_nc == 1 { [rgb[0]; 3] } else { rgb })
            });
            DynamicImage::ImageRgb8(image)
        })
        .collect();
    let translated = translate_batch(loaded, &images, &device).unwrap();
    let nhwc = |image: &RgbImage, channels: usize| -> Vec<u8> {
        image
            .pixels()
            .flat_map(|p| p.0[..channels].to_vec())
            .collect()
    };
    let input: Vec<u8> = images
        .iter()
        .flat_map(|i| nhwc(&i.to_rgb8(), input_nc))
        .collect();
    let expected: Vec<u8> = translated.iter().flat_map(|i| nhwc(i, output_nc)).collect();
    let stem = onnx.with_file_name(format!("{name}_u8"));
    std::fs::write(stem.with_extension("in"), &input).unwrap();
    std::fs::write(stem.with_extension("out"), &expected).unwrap();
    json!({
        "name": name,
        "onnx": onnx,
        "metadata": {"io": "uint8"},
        "runs": [{
            "input": stem.with_extension("in"),
            "input_shape": [2, h, w, input_nc],
            "expected": stem.with_extension("out"),
            "expected_shape": [2, h, w, output_nc],
            "dtype": "uint8",
            "tolerance": 1,
        }],
    })
}

fn export(dir: &Path, args: &[&str]) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    ok(pix2pix(&all, dir));
}

/// The official fixtures (tests/fixtures/parity, written by PyTorch) exported in both modes,
/// for PyTorch to run on the fixtures' inputs.
fn pytorch_cases(dir: &Path) -> Vec<Value> {
    let fixtures = [
        ("G_unet32_batch", "unet_32", "batch", 3, false),
        ("G_unet32_none_gray", "unet_32", "none", 1, false),
        ("G_unet64_batch_dropout", "unet_64", "batch", 3, true),
        ("G_unet64_instance", "unet_64", "instance", 3, false),
        ("G_resnet6_batch", "resnet_6blocks", "batch", 3, false),
        (
            "G_resnet6_instance_dropout",
            "resnet_6blocks",
            "instance",
            3,
            true,
        ),
    ];
    let mut cases = Vec::new();
    for (name, net_g, norm, input_nc, dropout) in fixtures {
        let pth = fixture(&format!("{name}.pth"));
        for batch_stats in [false, true] {
            let onnx = dir.join(format!(
                "{name}_{}.onnx",
                if batch_stats { "bs" } else { "eval" }
            ));
            let mut args = vec![
                "--checkpoint",
                pth.to_str().unwrap(),
                "-o",
                onnx.to_str().unwrap(),
            ];
            if batch_stats {
                args.push("--batch-stats");
            }
            export(dir, &args);
            cases.push(json!({
                "name": format!("{name} (PyTorch, {})", if batch_stats { "batch-stats" } else { "eval" }),
                "onnx": onnx,
                "pth": pth,
                "io": fixture(&format!("{name}_io.pth")),
                "net_g": net_g,
                "ngf": 4,
                "norm": norm,
                "input_nc": input_nc,
                "output_nc": 3,
                "dropout": dropout,
                "batch_stats": batch_stats,
                "metadata": {"netG": net_g, "norm": norm, "mode": if batch_stats { "batch-stats" } else { "eval" }},
            }));
        }
    }
    cases
}

#[test]
fn exports_run_in_onnxruntime_with_our_outputs_and_pytorchs() {
    let Some(python) = requirement(
        "PIX2PIX_PYTHON",
        "a Python with onnx and onnxruntime (scripts/reference/requirements.txt)",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let device = pix2pix::device::cpu().unwrap();
    let mut runs = Vec::new();
    for (seed, kind) in KINDS.iter().enumerate() {
        let file = save(
            kind,
            &random_generator(&kind.model(), seed as u64, &device),
            dir,
            &device,
        );
        let file_arg = file.to_str().unwrap();
        let source = GeneratorSource::File(file.clone());
        let metadata = json!({
            "netG": kind.net_g,
            "norm": kind.norm.to_string(),
            "input_nc": kind.channels.0.to_string(),
            "output_nc": kind.channels.1.to_string(),
        });
        // The format from the extension; eval mode by default.
        let onnx = dir.join(format!("{}.onnx", kind.name));
        export(
            dir,
            &["--checkpoint", file_arg, "-o", onnx.to_str().unwrap()],
        );
        let eval = load(&source, true, &device);
        runs.push(float_case(
            kind.name,
            &onnx,
            &eval,
            &kind.sizes,
            false,
            metadata.clone(),
            &device,
        ));

        let onnx_bs = dir.join(format!("{}_bs.model", kind.name));
        let args = [
            "--checkpoint",
            file_arg,
            "--format",
            "onnx",
            "--batch-stats",
        ];
        export(
            dir,
            &[&args[..], &["-o", onnx_bs.to_str().unwrap()]].concat(),
        );
        let name = format!("{} batch-stats", kind.name);
        let trains = load(&source, false, &device);
        runs.push(float_case(
            &name,
            &onnx_bs,
            &trains,
            &kind.sizes,
            true,
            json!({"mode": "batch-stats"}),
            &device,
        ));

        if kind.name.starts_with("unet32") || kind.name.starts_with("resnet6_batch") {
            let onnx_u8 = dir.join(format!("{}_u8.onnx", kind.name));
            export(
                dir,
                &[
                    "--checkpoint",
                    file_arg,
                    "--io",
                    "uint8",
                    "-o",
                    onnx_u8.to_str().unwrap(),
                ],
            );
            runs.push(uint8_case(
                &format!("{} uint8", kind.name),
                &onnx_u8,
                &eval,
                kind.sizes[1],
            ));
        }
        // The oldest and newest opsets, with batch norm (its operator changed at 14 and 15).
        if kind.name.starts_with("resnet9") || kind.name.starts_with("unet32") {
            for opset in ["13", "24"] {
                let onnx = dir.join(format!("{}_opset{opset}.onnx", kind.name));
                export(
                    dir,
                    &[
                        "--checkpoint",
                        file_arg,
                        "--opset",
                        opset,
                        "-o",
                        onnx.to_str().unwrap(),
                    ],
                );
                let name = format!("{} opset {opset}", kind.name);
                runs.push(float_case(
                    &name,
                    &onnx,
                    &eval,
                    &kind.sizes[..1],
                    false,
                    json!({}),
                    &device,
                ));
            }
        }
    }

    // From a run: its options and direction come with it.
    dataset(dir, 32, 4, 1);
    ok(train_tiny(dir, "run", &["--direction", "BtoA"]));
    export(dir, &["--name", "run", "-o", "run.onnx"]);
    let run = GeneratorSource::Run {
        dir: dir.join("checkpoints/run"),
        epoch: "latest".into(),
    };
    let metadata = json!({"netG": "unet_32", "ngf": "8", "direction": "BtoA", "mode": "eval"});
    let loaded = load(&run, true, &device);
    runs.push(float_case(
        "run",
        &dir.join("run.onnx"),
        &loaded,
        &[(32, 32), (64, 96)],
        false,
        metadata,
        &device,
    ));

    let manifest = json!({"runs": runs, "pytorch": pytorch_cases(dir)});
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/reference/check_onnx.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&manifest_path)
        .output()
        .expect("PIX2PIX_PYTHON runs");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "onnxruntime disagrees:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = report.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(checks, runs.len() + 12, "{report}");
}

/// What export refuses, with the option named and nothing written.
#[test]
fn export_refusals_name_the_option_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pth = fixture("G_unet32_batch.pth");
    let pth = pth.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--opset", "12", "-o", "a.onnx"], &["opset", "13 to 24"]),
        (&["--opset", "99", "-o", "a.onnx"], &["opset"]),
        (&["--io", "rgb", "-o", "a.onnx"], &["io", "float, uint8"]),
        (
            &["--batch-stats", "-o", "a.pth"],
            &["--batch-stats", "--format onnx"],
        ),
        (
            &["--opset", "17", "--format", "safetensors", "-o", "a"],
            &["--opset"],
        ),
        (
            &["--format", "tflite", "-o", "a"],
            &["format", "pth, safetensors, onnx"],
        ),
    ];
    for (args, needles) in cases {
        let all = [&["export", "--checkpoint", pth][..], args].concat();
        fails_with(pix2pix(&all, dir), needles);
        assert!(!dir.join("a.onnx").exists() && !dir.join("a.pth").exists());
    }
    // A discriminator is not a generator.
    let d = fixture("D_basic_batch.pth");
    let all = [
        "export",
        "--checkpoint",
        d.to_str().unwrap(),
        "-o",
        "d.onnx",
    ];
    fails_with(pix2pix(&all, dir), &["discriminator"]);
    assert!(!dir.join("d.onnx").exists());
    // An existing file stays unless --force.
    std::fs::write(dir.join("a.onnx"), "keep").unwrap();
    let all = ["export", "--checkpoint", pth, "-o", "a.onnx"];
    fails_with(pix2pix(&all, dir), &["a.onnx", "exists"]);
    assert_eq!(std::fs::read(dir.join("a.onnx")).unwrap(), b"keep");
    ok(pix2pix(&[&all[..], &["--force"]].concat(), dir));
    assert!(std::fs::metadata(dir.join("a.onnx")).unwrap().len() > 100_000);
    // A .pth or .safetensors from a generator file: G only, loadable again.
    ok(pix2pix(
        &["export", "--checkpoint", pth, "-o", "g.safetensors"],
        dir,
    ));
    ok(pix2pix(
        &["export", "--checkpoint", "g.safetensors", "-o", "g.onnx"],
        dir,
    ));
    assert!(!dir.join("g_D.safetensors").exists());
}
