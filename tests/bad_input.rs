//! Bad input over every subcommand: each case must end in a clean error (exit status 1, or 2 for
//! flags clap rejects), never a panic or a signal, with a message naming the flag or file.

#[path = "bad_input/commands.rs"]
mod command_cases;
mod common;
#[path = "bad_input/training.rs"]
mod training_cases;

use std::path::Path;

use common::{ok, pix2pix, stderr, stdout, train_tiny};

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
    let plain = training_cases::training()
        .into_iter()
        .chain(command_cases::commands())
        .map(|case| (case, false));
    let limited = if cfg!(unix) {
        training_cases::huge()
    } else {
        Vec::new()
    };
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
    // Nothing a case named was replaced.
    assert_eq!(
        std::fs::read_to_string(dir.join("translated/camera.png")).unwrap(),
        "an earlier result"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "not an image"
    );
    assert!(!dir.join("site").exists() && !dir.join("checkpoints/ok/site").exists());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
