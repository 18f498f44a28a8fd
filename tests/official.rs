//! Official checkpoints through the binary: `test` and `translate` on a .pth with no flags, the
//! official folder layout, `export`, and the errors for files that are not what was expected.

mod common;

use common::{fails_with, fixture, ok, pix2pix, stdout, train_tiny};

use std::process::Output;

/// A clean failure with a one-line message holding every needle.
fn one_line(output: Output, needles: &[&str]) {
    let message = fails_with(output, needles);
    assert_eq!(
        message.trim().lines().count(),
        1,
        "a one-line error: {message}"
    );
}

#[test]
fn an_official_checkpoint_needs_no_architecture_flags() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 1, 2);
    let official = fixture("G_unet32_batch.pth");
    let official = official.to_str().unwrap();
    ok(pix2pix(
        &[
            "test",
            "--checkpoint",
            official,
            "--dataroot",
            "shapes",
            "--name",
            "off",
        ],
        dir,
    ));
    assert!(
        dir.join("results/off/test_latest/images/0001_fake_B.png")
            .is_file()
    );
    ok(pix2pix(
        &[
            "translate",
            "--checkpoint",
            official,
            "shapes/test",
            "-o",
            "out",
            "--eval",
        ],
        dir,
    ));
    assert!(dir.join("out/0000.png").is_file());

    // The official layout: checkpoints/<name>/<epoch>_net_G.pth found by --name and --epoch.
    std::fs::create_dir_all(dir.join("checkpoints/facades")).unwrap();
    std::fs::copy(
        fixture("G_unet32_batch.pth"),
        dir.join("checkpoints/facades/7_net_G.pth"),
    )
    .unwrap();
    ok(pix2pix(
        &[
            "test",
            "--name",
            "facades",
            "--epoch",
            "7",
            "--dataroot",
            "shapes",
        ],
        dir,
    ));
    assert!(dir.join("results/facades/test_7/index.html").is_file());

    // Exported from that folder (no train_opt.json, so G only): the same tensors.
    ok(pix2pix(
        &[
            "export",
            "--name",
            "facades",
            "--epoch",
            "7",
            "-o",
            "g.safetensors",
        ],
        dir,
    ));
    let exported = pix2pix::interop::read_safetensors(&dir.join("g.safetensors")).unwrap();
    let original = pix2pix::interop::read_pth(&fixture("G_unet32_batch.pth")).unwrap();
    for (key, value) in &original {
        if !key.ends_with("num_batches_tracked") {
            assert_eq!(exported[key].as_bytes(), value.as_bytes(), "{key}");
        }
    }
    assert!(!dir.join("g_D.safetensors").exists());
}

#[test]
fn flags_that_contradict_an_official_checkpoint_list_the_keys_and_the_matching_options() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let official = fixture("G_unet32_batch.pth");
    one_line(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                official.to_str().unwrap(),
                "--netG",
                "unet_64",
                "--norm",
                "instance",
                ".",
                "-o",
                "o",
            ],
            dir,
        ),
        &[
            "missing keys",
            "unexpected keys",
            "--netG unet_32 --ngf 4 --norm batch",
        ],
    );
}

#[test]
fn files_that_are_not_generators_are_named_with_what_was_expected() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    std::fs::write(dir.join("image.png"), b"not an image").unwrap();
    std::fs::write(dir.join("notes_net_G.pth"), b"plain text, not a checkpoint").unwrap();
    one_line(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                "notes_net_G.pth",
                "image.png",
                "-o",
                "o",
            ],
            dir,
        ),
        &["notes_net_G.pth", "expected a PyTorch state_dict"],
    );
    let bytes = std::fs::read(fixture("G_unet32_batch.pth")).unwrap();
    std::fs::write(dir.join("cut_net_G.pth"), &bytes[..bytes.len() / 3]).unwrap();
    one_line(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                "cut_net_G.pth",
                "image.png",
                "-o",
                "o",
            ],
            dir,
        ),
        &["cut_net_G.pth", "expected a PyTorch state_dict"],
    );
    let d = fixture("D_basic_batch.pth");
    one_line(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                d.to_str().unwrap(),
                "image.png",
                "-o",
                "o",
            ],
            dir,
        ),
        &["D_basic_batch.pth", "discriminator", "_net_G file"],
    );
    let mut other = pix2pix::interop::StateDict::new();
    other.insert(
        "fc.weight".into(),
        burn::tensor::TensorData::new(vec![0.0f32; 6], [2, 3]),
    );
    pix2pix::interop::write_pth(&dir.join("mlp.pth"), &other).unwrap();
    one_line(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                "mlp.pth",
                "image.png",
                "-o",
                "o",
            ],
            dir,
        ),
        &["mlp.pth", "not a pix2pix generator", "fc.weight"],
    );
}

#[test]
fn export_writes_official_files_that_load_back_with_the_same_outputs() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "ours", &["--n_epochs_decay", "0"]));
    let out = stdout(&ok(pix2pix(
        &[
            "export",
            "--name",
            "ours",
            "--output",
            "exported/latest_net_G.pth",
        ],
        dir,
    )));
    assert!(out.contains("latest_net_D.pth"), "{out}");
    ok(pix2pix(
        &[
            "export",
            "--name",
            "ours",
            "--format",
            "safetensors",
            "-o",
            "exported/g.safetensors",
        ],
        dir,
    ));
    assert!(dir.join("exported/g_D.safetensors").is_file());

    // Existing files are replaced only with --force; a run's own files and anything that is not
    // a regular file never are.
    let export_to = |output: &str, force: bool| {
        let mut args = vec!["export", "--name", "ours", "--output", output];
        if force {
            args.push("--force");
        }
        pix2pix(&args, dir)
    };
    fails_with(
        export_to("exported/latest_net_G.pth", false),
        &["exported/latest_net_G.pth", "--force"],
    );
    ok(export_to("exported/latest_net_G.pth", true));
    let own = std::fs::read(dir.join("checkpoints/ours/latest_net_G.bpk")).unwrap();
    fails_with(
        export_to("checkpoints/ours/latest_net_G.bpk", true),
        &["latest_net_G.bpk", "training run's own file"],
    );
    assert_eq!(
        std::fs::read(dir.join("checkpoints/ours/latest_net_G.bpk")).unwrap(),
        own
    );
    std::fs::create_dir_all(dir.join("folder.pth")).unwrap();
    fails_with(
        export_to("folder.pth", true),
        &["folder.pth", "not a regular file"],
    );

    let d = pix2pix::interop::read_pth(&dir.join("exported/latest_net_D.pth")).unwrap();
    assert!(matches!(
        pix2pix::interop::detect(&d),
        pix2pix::interop::Detected::Discriminator(_)
    ));

    // Our checkpoint and its export translate identically (eval mode: deterministic).
    ok(pix2pix(
        &[
            "translate",
            "--name",
            "ours",
            "shapes/test",
            "-o",
            "a",
            "--eval",
        ],
        dir,
    ));
    ok(pix2pix(
        &[
            "translate",
            "--checkpoint",
            "exported/latest_net_G.pth",
            "shapes/test",
            "-o",
            "b",
            "--eval",
        ],
        dir,
    ));
    let a = image::open(dir.join("a/0000.png")).unwrap().to_rgb8();
    let b = image::open(dir.join("b/0000.png")).unwrap().to_rgb8();
    assert_eq!(a, b);
}
