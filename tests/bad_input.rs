//! Bad input over every subcommand: each case must end in a clean error (exit status 1, or 2 for
//! flags clap rejects), never a panic or a signal, with a message naming the flag or file.

mod common;

use std::path::Path;

use common::{TINY, ok, pix2pix, stderr, stdout, train_tiny};

/// `train` on the tiny dataset and network, with `extra` flags last (they win).
fn train(extra: &[&str]) -> Vec<String> {
    let mut args = vec!["train", "--dataroot", "shapes", "--name", "bad"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// (what the user typed, what the message must name).
fn cases() -> Vec<(Vec<String>, &'static str)> {
    vec![
        // Sizes the networks cannot take.
        (
            train(&["--netD", "n_layers", "--n_layers_D", "4"]),
            "--crop_size",
        ),
        (
            train(&[
                "--netG",
                "resnet_6blocks",
                "--load_size",
                "4",
                "--crop_size",
                "4",
            ]),
            "--crop_size",
        ),
        (
            train(&[
                "--netG",
                "resnet_6blocks",
                "--load_size",
                "8",
                "--crop_size",
                "8",
            ]),
            "--crop_size",
        ),
        (train(&["--netG", "unet_64"]), "--crop_size"),
        (train(&["--crop_size", "0"]), "--crop_size"),
        (train(&["--load_size", "16"]), "--load_size"),
        // Zero, NaN and out-of-range numbers.
        (train(&["--batch_size", "0"]), "--batch_size"),
        (train(&["--ngf", "0"]), "--ngf"),
        (train(&["--ndf", "0"]), "--ndf"),
        (
            train(&["--netD", "n_layers", "--n_layers_D", "0"]),
            "--n_layers_D",
        ),
        (train(&["--input_nc", "2"]), "--input_nc"),
        (train(&["--output_nc", "4"]), "--output_nc"),
        (train(&["--lr", "nan"]), "--lr"),
        (train(&["--lr=-1"]), "--lr"),
        (train(&["--lr", "inf"]), "--lr"),
        (train(&["--beta1", "2"]), "--beta1"),
        (train(&["--lambda_L1", "nan"]), "--lambda_L1"),
        (train(&["--lambda_L1=-5"]), "--lambda_L1"),
        (train(&["--init_gain", "nan"]), "--init_gain"),
        (train(&["--epoch_count", "0"]), "--epoch_count"),
        // Past the schedule: nothing would be trained, so nothing may be reported as trained.
        (
            train(&[
                "--epoch_count",
                "50",
                "--n_epochs",
                "1",
                "--n_epochs_decay",
                "1",
            ]),
            "--epoch_count: 50 is past the schedule's last epoch",
        ),
        (train(&["--max_dataset_size", "0"]), "--max_dataset_size"),
        // Numbers at the edge of their type or past the data: refused before anything is sized
        // by them.
        (
            train(&["--batch_size", "18446744073709551615"]),
            "--batch_size: 18446744073709551615 is more than the 2 training pairs",
        ),
        (
            train(&["--batch_size", "1000000000"]),
            "--batch_size: 1000000000 is more than the 2 training pairs",
        ),
        (
            train(&["--batch_size", "3"]),
            "--batch_size: 3 is more than",
        ),
        (
            train(&["--num_threads", "18446744073709551615"]),
            "--num_threads: 18446744073709551615 is more than 1024",
        ),
        (
            train(&["--load_size", "18446744073709551615"]),
            "--load_size: 18446744073709551615 is above the largest side",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--crop_size",
                "18446744073709551615",
            ]),
            "--crop_size: 18446744073709551615 is above the largest side",
        ),
        (
            args(&[
                "data",
                "check",
                "shapes",
                "--load_size",
                "18446744073709551615",
            ]),
            "--load_size",
        ),
        (
            args(&["bench", "--repeats", "18446744073709551615"]),
            "--repeats: 18446744073709551615 is more than 100000",
        ),
        (
            args(&["bench", "--warmup", "18446744073709551615"]),
            "--warmup: 18446744073709551615 is more than 100000",
        ),
        (args(&["demo", "--size", "2048"]), "--size: 2048"),
        (args(&["demo", "--size", "48"]), "--size: 48"),
        (args(&["demo", "--train-images", "0"]), "--train_images: 0"),
        (
            args(&["demo", "--train-images", "18446744073709551615"]),
            "--train_images: 18446744073709551615",
        ),
        (
            train(&["--n_epochs", "0", "--n_epochs_decay", "0"]),
            "--n_epochs",
        ),
        (
            train(&[
                "--n_epochs",
                "18446744073709551615",
                "--n_epochs_decay",
                "1",
            ]),
            "--n_epochs",
        ),
        (
            train(&["--n_epochs", "18446744073709551616"]),
            "18446744073709551616",
        ),
        (train(&["--batch_size=-3"]), "-3"),
        // Names clap or our parsers reject.
        (train(&["--netG", "unet_999"]), "unet_999"),
        (
            train(&["--netG", "unet_1099511627776"]),
            "unet_1099511627776",
        ),
        (
            train(&["--netG", "resnet_1000000000blocks"]),
            "resnet_1000000000blocks",
        ),
        (train(&["--netG", "resnet_0blocks"]), "resnet_0blocks"),
        (train(&["--norm", "weird"]), "weird"),
        (train(&["--direction", "sideways"]), "sideways"),
        (train(&["--gan_mode", "hinge"]), "hinge"),
        (train(&["--precision", "f8"]), "f8"),
        (train(&["--lr_policy", "sometimes"]), "sometimes"),
        (train(&["--device", "tpu"]), "tpu"),
        // Missing or wrong folders and runs.
        (train(&["--dataroot", "nowhere"]), "nowhere"),
        (train(&["--phase", "nophase"]), "nophase"),
        (
            args(&["train", "--name", "nothing", "--continue_train"]),
            "--continue_train",
        ),
        (args(&["train", "--name", "ok"]), "--dataroot"),
        (
            args(&["train", "--name", "ok", "--continue_train", "--seed", "5"]),
            "--seed",
        ),
        (
            args(&[
                "train",
                "--name",
                "ok",
                "--continue_train",
                "--netG",
                "unet_64",
            ]),
            "--netG",
        ),
        (
            args(&["train", "--name", "ok", "--continue_train", "--no_flip"]),
            "--no_flip",
        ),
        (
            args(&["train", "--name", "ok", "--continue_train", "--epoch", "7"]),
            "7_state.json",
        ),
        // test and translate: runs and files that are not there or not generators.
        (
            args(&["test", "--dataroot", "shapes", "--name", "nothing"]),
            "--name",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--name",
                "ok",
                "--epoch",
                "99",
            ]),
            "--epoch",
        ),
        (
            args(&["test", "--dataroot", "nowhere", "--name", "ok"]),
            "nowhere",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "missing.pth",
            ]),
            "missing.pth",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "garbage.pth",
            ]),
            "garbage.pth",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "empty.safetensors",
            ]),
            "empty.safetensors",
        ),
        (
            args(&["test", "--dataroot", "shapes", "--checkpoint", "half.bpk"]),
            "half.bpk",
        ),
        (
            args(&["translate", "nowhere.png", "-o", "out", "--name", "ok"]),
            "nowhere.png",
        ),
        (
            args(&["translate", "notes.txt", "-o", "out", "--name", "ok"]),
            "notes.txt",
        ),
        (
            args(&["translate", "photos", "-o", "translated", "--name", "ok"]),
            "--force",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "out",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
                "--netG",
                "resnet_6blocks",
            ]),
            "--netG",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "out",
                "--name",
                "ok",
                "--epoch",
                "x",
            ]),
            "--epoch",
        ),
        // export
        (
            args(&["export", "--name", "nothing", "-o", "x.pth"]),
            "--name",
        ),
        (args(&["export", "--name", "ok", "-o", "photos"]), "photos"),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "-o",
                "checkpoints/ok/latest_net_G.bpk",
                "--force",
            ]),
            "latest_net_G.bpk",
        ),
        (
            args(&["export", "--name", "ok", "--format", "tflite", "-o", "x"]),
            "tflite",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.onnx", "--opset", "9"]),
            "--opset",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.onnx", "--io", "rgba"]),
            "--io",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.pth", "--batch-stats"]),
            "--batch-stats",
        ),
        (
            args(&[
                "export", "--name", "ok", "-o", "ok.onnx", "--netG", "unet_64",
            ]),
            "--checkpoint",
        ),
        (
            args(&[
                "export", "--name", "ok", "-o", "photos", "--format", "onnx", "--force",
            ]),
            "photos",
        ),
        (
            args(&["export", "--checkpoint", "notes.txt", "-o", "ok.onnx"]),
            "notes.txt",
        ),
        // bench and info
        (args(&["bench", "--crop_size", "0"]), "--crop_size"),
        (args(&["bench", "--batch_size", "0"]), "--batch_size"),
        (args(&["bench", "--repeats", "0"]), "--repeats"),
        (
            args(&["bench", "--netG", "unet_64", "--crop_size", "48"]),
            "--crop_size",
        ),
        (
            args(&[
                "bench",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--netD",
                "n_layers",
                "--n_layers_D",
                "5",
            ]),
            "--crop_size",
        ),
        (args(&["bench", "--ngf", "0"]), "--ngf"),
        (args(&["info", "--ngf", "0"]), "--ngf"),
        (args(&["info", "--input_nc", "7"]), "--input_nc"),
        (args(&["info", "--netG", "unet_3"]), "unet_3"),
        // data tools
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--size", "0",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--size", "100000",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--low", "nan",
            ]),
            "--low",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--high", "inf",
            ]),
            "--high",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--low", "5", "--high", "1",
            ]),
            "--low",
        ),
        (
            args(&["data", "edges", "--photos", "nowhere", "--out", "e"]),
            "nowhere",
        ),
        (
            args(&[
                "data",
                "colorization",
                "--photos",
                "photos",
                "--out",
                "c",
                "--size",
                "0",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "combine", "--a", "photos", "--b", "photos", "--out", "p", "--resize", "0",
            ]),
            "--resize",
        ),
        (
            args(&[
                "data", "combine", "--a", "nowhere", "--b", "photos", "--out", "p",
            ]),
            "nowhere",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--val", "1.5",
            ]),
            "--val",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--test", "nan",
            ]),
            "--test",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--val", "0.6", "--test", "0.5",
            ]),
            "--val",
        ),
        (args(&["data", "check", "nowhere"]), "nowhere"),
        (
            args(&["data", "check", "shapes", "--crop_size", "0"]),
            "--crop_size",
        ),
        (
            args(&["data", "download", "nosuchdataset", "--to", "d"]),
            "nosuchdataset",
        ),
        // Sizes that only show after preprocessing, and files cut short.
        (
            train(&["--dataroot", "odd", "--preprocess", "none"]),
            "--preprocess",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "odd",
                "--name",
                "ok",
                "--preprocess",
                "none",
            ]),
            "a.png",
        ),
        (
            args(&[
                "data",
                "check",
                "odd",
                "--preprocess",
                "none",
                "--netG",
                "unet_32",
            ]),
            "a.png",
        ),
        (args(&["data", "check", "narrow"]), "too narrow"),
        (
            args(&[
                "data",
                "check",
                "shapes",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--load_size",
                "32",
                "--netD",
                "n_layers",
                "--n_layers_D",
                "5",
            ]),
            "crop_size",
        ),
        (
            args(&["translate", "cut.jpg", "-o", "out", "--name", "ok"]),
            "cut.jpg",
        ),
        // Paths of the wrong kind: named as what they are, and never written over.
        (
            args(&["translate", "pipe", "-o", "out", "--name", "ok"]),
            "pipe is a FIFO, not an image file or a folder",
        ),
        (
            args(&["translate", "/dev/zero", "-o", "out", "--name", "ok"]),
            "/dev/zero is a device",
        ),
        (
            args(&["translate", "photos", "-o", "notes.txt", "--name", "ok"]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "/dev/null",
                "--force",
                "--name",
                "ok",
            ]),
            "/dev/null is a device, not a folder",
        ),
        (
            args(&["export", "--name", "ok", "--output", "translated"]),
            "translated is a folder, not a regular file",
        ),
        (
            args(&["export", "--name", "ok", "--output", "pipe", "--force"]),
            "pipe is a FIFO, not a regular file",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--results_dir",
                "fifo_results",
            ]),
            "test_latest is a FIFO, not a folder",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--results_dir",
                "notes.txt",
            ]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            train(&["--dataroot", "notes.txt"]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            args(&["data", "split", "--in", "pipe", "--out", "split"]),
            "pipe is a FIFO, not a folder",
        ),
        // serve: models that are not there or not generators, limits and addresses that
        // cannot work. None of these may start a server.
        (
            args(&["serve", "--checkpoints_dir", "nowhere"]),
            "nowhere does not exist (check --checkpoints_dir",
        ),
        (args(&["serve", "--name", "missing"]), "missing"),
        (
            args(&["serve", "--checkpoint", "garbage.pth"]),
            "garbage.pth",
        ),
        (args(&["serve", "--checkpoint", "half.bpk"]), "half.bpk"),
        (
            args(&[
                "serve",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
            ]),
            "latest_net_G",
        ),
        (args(&["serve", "--port", "70000"]), "--port"),
        (args(&["serve", "--max-pixels", "0"]), "--max-pixels"),
        (args(&["serve", "--max-upload-mb", "0"]), "--max-upload-mb"),
        (args(&["serve", "--queue", "0"]), "--queue"),
        (args(&["serve", "--workers", "0"]), "--workers"),
        (args(&["serve", "--body-timeout", "0"]), "--body-timeout"),
        (
            args(&["serve", "--host", "192.0.2.1", "--port", "0"]),
            "192.0.2.1",
        ),
        // pretrained: names it does not know, servers that are not there.
        (args(&["pretrained", "download", "cats"]), "cats"),
        (
            args(&[
                "pretrained",
                "download",
                "sat2map",
                "--base-url",
                "http://127.0.0.1:9/models",
            ]),
            "http://127.0.0.1:9/models/sat2map.pth",
        ),
        (
            args(&[
                "pretrained",
                "download",
                "sat2map",
                "--base-url",
                "not a url",
            ]),
            "not a url",
        ),
        (args(&["pretrained", "download"]), "NAME"),
    ]
}

/// Cases whose sizes would take more memory than any machine has: run under an address-space
/// limit, so that a real allocation fails in the process instead of waking the OOM killer.
fn huge_cases() -> Vec<(Vec<String>, &'static str)> {
    vec![
        (train(&["--ngf", "100000"]), "--ngf"),
        (train(&["--ndf", "1000000"]), "--ndf"),
        (
            train(&[
                "--netG",
                "unet_16384",
                "--load_size",
                "16384",
                "--crop_size",
                "16384",
            ]),
            "--crop_size",
        ),
        (
            args(&[
                "bench",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--batch_size",
                "100000000",
            ]),
            "--batch_size",
        ),
        (args(&["bench", "--ngf", "20000"]), "--ngf"),
        (args(&["info", "--ngf", "100000"]), "--ngf"),
        (
            args(&["translate", "huge.bmp", "-o", "out", "--name", "ok"]),
            "huge.bmp",
        ),
        (
            args(&["data", "edges", "--photos", "huge", "--out", "e"]),
            "huge.bmp",
        ),
    ]
}

/// A dataset, a trained run `ok`, photos, and the hostile files the cases name.
fn workspace(dir: &Path) {
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "ok", &["--n_epochs_decay", "0"]));
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos/camera.jpg");
    std::fs::copy(fixture, photos.join("camera.jpg")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir_all(dir.join("translated")).unwrap();
    std::fs::write(dir.join("translated/camera.png"), "an earlier result").unwrap();
    std::fs::write(dir.join("garbage.pth"), b"PK\x03\x04 not really a zip").unwrap();
    std::fs::write(dir.join("empty.safetensors"), b"").unwrap();
    let weights = std::fs::read(dir.join("checkpoints/ok/latest_net_G.bpk")).unwrap();
    std::fs::write(dir.join("half.bpk"), &weights[..weights.len() / 2]).unwrap();
    // 36x36 halves: not a multiple of unet_32's 32 when nothing crops them.
    for phase in ["train", "test"] {
        let folder = dir.join("odd").join(phase);
        std::fs::create_dir_all(&folder).unwrap();
        image::RgbImage::new(72, 36)
            .save(folder.join("a.png"))
            .unwrap();
    }
    std::fs::create_dir_all(dir.join("narrow/train")).unwrap();
    image::RgbImage::new(1, 32)
        .save(dir.join("narrow/train/a.png"))
        .unwrap();
    let camera = std::fs::read(photos.join("camera.jpg")).unwrap();
    std::fs::write(dir.join("cut.jpg"), &camera[..camera.len() * 2 / 3]).unwrap();
    // A BMP header declaring 100000 x 100000 pixels, with no pixels after it.
    let mut bmp = b"BM".to_vec();
    for value in [54u32, 0, 54, 40, 100_000, 100_000] {
        bmp.extend(value.to_le_bytes());
    }
    bmp.extend([1, 0, 24, 0]);
    bmp.extend([0u8; 24]);
    std::fs::write(dir.join("huge.bmp"), &bmp).unwrap();
    std::fs::create_dir_all(dir.join("huge")).unwrap();
    std::fs::write(dir.join("huge/huge.bmp"), &bmp).unwrap();
    std::fs::create_dir_all(dir.join("fifo_results/ok")).unwrap();
    for fifo in ["pipe", "fifo_results/ok/test_latest"] {
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join(fifo))
            .status()
            .unwrap();
        assert!(made.success());
    }
}

/// Runs one case; `limited` runs it under a 4 GiB address-space limit (`ulimit -v`).
fn run_case(args: &[String], dir: &Path, limited: bool) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    if !limited {
        return pix2pix(&refs, dir);
    }
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pix2pix"))
        .args(&refs)
        .current_dir(dir)
        .output()
        .expect("sh runs")
}

#[test]
fn every_bad_input_is_a_clean_error_that_names_the_flag_or_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    workspace(dir);
    let plain = cases().into_iter().map(|case| (case, false));
    let limited = if cfg!(unix) { huge_cases() } else { Vec::new() };
    let cases: Vec<_> = plain
        .chain(limited.into_iter().map(|case| (case, true)))
        .collect();
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for ((args, needle), limited) in &cases {
        let output = run_case(args, dir, *limited);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        let status = output.status.code();
        let problem = if !matches!(status, Some(1 | 2)) {
            Some(format!("exit status {status:?}"))
        } else if all.contains("panicked") {
            Some("a panic".into())
        } else if !all.contains(needle) {
            Some(format!("no mention of {needle:?}"))
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!("pix2pix {}: {problem}\n{all}", args.join(" ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
