//! The real binary: train, test, translate, info and demo on tiny data, and the errors users get
//! for bad input (each names the file or option and the fix, and nothing is lost).

mod common;
#[path = "cli/processes.rs"]
mod processes;

use common::{TINY, fails_with, ok, pix2pix, stderr, stdout, train_tiny};

use std::path::Path;
use std::process::Command;

#[test]
fn train_test_translate_and_info_through_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 4, 3);

    // Its stderr is a pipe, so no bars: the official log's lines, every --print_freq images
    // and at each epoch's end.
    let trained = stdout(&ok(train_tiny(dir, "cli", &["--print_freq", "2"])));
    for line in [
        "(epoch: 1, iters: 2, time: ",
        "(epoch: 1, iters: 4, time: ",
        "(epoch: 2, iters: 4, time: ",
        "End of epoch 1 / 2 \t Time Taken: ",
        "End of epoch 2 / 2 \t Time Taken: ",
        "learning rate 0.0001000",
    ] {
        assert!(trained.contains(line), "{line} in:\n{trained}");
    }
    assert!(
        trained
            .lines()
            .any(|l| l.starts_with("(epoch: 2, iters: 2, time: ")
                && l.contains(", data: ")
                && l.contains(") G_GAN: ")
                && l.contains(" D_fake: ")),
        "{trained}"
    );
    let run = dir.join("checkpoints/cli");
    for file in [
        "latest_net_G.bpk",
        "latest_net_D.bpk",
        "latest_optim_G.bpk",
        "latest_optim_D.bpk",
        "latest_state.json",
        "train_opt.json",
        "loss_log.jsonl",
        "web/index.html",
    ] {
        assert!(run.join(file).is_file(), "{file} written");
    }

    // Test needs no architecture flags: they come from train_opt.json.
    let out = ok(pix2pix(
        &["test", "--dataroot", "shapes", "--name", "cli"],
        dir,
    ));
    assert!(stdout(&out).contains("results page"));
    // A flag that contradicts train_opt.json is an error naming it and both values.
    fails_with(
        pix2pix(
            &[
                "test",
                "--dataroot",
                "shapes",
                "--name",
                "cli",
                "--direction",
                "BtoA",
            ],
            dir,
        ),
        &["direction", "AtoB", "BtoA"],
    );
    ok(pix2pix(
        &[
            "test",
            "--dataroot",
            "shapes",
            "--name",
            "cli",
            "--direction",
            "AtoB",
        ],
        dir,
    ));
    let results = dir.join("results/cli/test_latest");
    assert!(results.join("index.html").is_file());
    for suffix in ["real_A", "fake_B", "real_B"] {
        assert!(results.join(format!("images/0000_{suffix}.png")).is_file());
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["count"], 3);
    for key in ["l1", "psnr", "ssim"] {
        assert!(
            metrics["mean"][key].is_number(),
            "metrics.json has mean {key}"
        );
    }
    let page = std::fs::read_to_string(results.join("index.html")).unwrap();
    assert!(page.contains("images/0002_fake_B.png"));

    // --eval and --num_test.
    ok(pix2pix(
        &[
            "test",
            "--dataroot",
            "shapes",
            "--name",
            "cli",
            "--eval",
            "--num_test",
            "1",
            "--results-dir",
            "eval",
        ],
        dir,
    ));
    let eval: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("eval/cli/test_latest/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (eval["count"].as_u64(), eval["eval"].as_bool()),
        (Some(1), Some(true))
    );

    // Translate an odd-sized image (padded by reflection, cropped back) and a folder.
    let odd = image::RgbImage::from_fn(45, 37, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
    });
    std::fs::create_dir_all(dir.join("inputs")).unwrap();
    odd.save(dir.join("inputs/odd.png")).unwrap();
    ok(pix2pix(
        &["translate", "--name", "cli", "inputs", "--output", "out"],
        dir,
    ));
    let translated = image::open(dir.join("out/odd.png")).unwrap();
    assert_eq!((translated.width(), translated.height()), (45, 37));
    // Existing results are kept unless --force; --skip-existing continues a folder.
    let again = |extra: &[&str]| {
        let mut args = vec!["translate", "--name", "cli", "inputs", "--output", "out"];
        args.extend_from_slice(extra);
        pix2pix(&args, dir)
    };
    fails_with(again(&[]), &["out/odd.png", "--force"]);
    let skipped = ok(again(&["--skip-existing"]));
    assert!(
        stdout(&skipped).contains("translated 0 images"),
        "{}",
        stdout(&skipped)
    );
    ok(again(&["--force"]));
    ok(pix2pix(
        &[
            "translate",
            "--checkpoint",
            "checkpoints/cli/latest_net_G.bpk",
            "inputs/odd.png",
            "-o",
            "out2",
            "--eval",
        ],
        dir,
    ));
    assert!(dir.join("out2/odd.png").is_file());

    let info = ok(pix2pix(&["info"], dir));
    assert!(stdout(&info).contains("54,413,955"), "{}", stdout(&info));
    assert!(stdout(&info).contains("2,768,705"));
    // A table of layers, not a nested dump.
    assert!(
        stdout(&info).contains("blocks.0.down_conv  Conv2d"),
        "{}",
        stdout(&info)
    );
    assert!(stdout(&info).lines().count() < 50, "{}", stdout(&info));
    // Each layer with its official module name, from the plan: a network far too large to
    // build is still described, with what it would need.
    assert!(stdout(&info).contains("model.model.1.model.2"));
    let huge = ok(pix2pix(&["info", "--ngf", "100000"], dir));
    assert!(stdout(&huge).contains("PiB to train"), "{}", stdout(&huge));
}

#[test]
fn continue_train_resumes_from_latest_and_keeps_the_options() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "resume", &[]));
    let state = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(dir.join("checkpoints/resume/latest_state.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(state(dir)["epoch"], 3);
    // Starting again under the same name would overwrite the run: refused.
    fails_with(
        train_tiny(dir, "resume", &[]),
        &["--continue_train", "nothing was overwritten"],
    );
    // Resume with more epochs: only the flags typed change, and each change is shown; the
    // architecture and the other settings come from the saved options.
    let resumed = ok(pix2pix(
        &[
            "train",
            "--name",
            "resume",
            "--continue_train",
            "--n_epochs",
            "2",
            "--batch_size",
            "2",
        ],
        dir,
    ));
    assert!(
        stdout(&resumed).contains("n_epochs: 1 -> 2"),
        "{}",
        stdout(&resumed)
    );
    assert!(
        !stdout(&resumed).contains("batch_size"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(state(dir)["epoch"], 4);
    assert_eq!(state(dir)["total_iters"], 6);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("checkpoints/resume/train_opt.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["train"]["display_freq"], 4);
    assert_eq!(saved["train"]["n_epochs"], 2);
    // A flag that changes what the run computes is refused, naming both values.
    fails_with(
        pix2pix(
            &[
                "train",
                "--name",
                "resume",
                "--continue_train",
                "--seed",
                "3",
            ],
            dir,
        ),
        &["--seed (checkpoint: 0, given: 3)"],
    );
    // Contradicting the saved architecture is an error naming the flag.
    fails_with(
        pix2pix(
            &[
                "train",
                "--name",
                "resume",
                "--continue_train",
                "--netG",
                "unet_64",
            ],
            dir,
        ),
        &["--netG", "unet_32", "unet_64"],
    );
}

#[test]
fn bad_datasets_give_errors_that_name_the_problem() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    fails_with(
        train_tiny(dir, "x", &[]),
        &["shapes/train", "does not exist", "--dataroot"],
    );

    std::fs::create_dir_all(dir.join("shapes/train")).unwrap();
    fails_with(train_tiny(dir, "x", &[]), &["shapes/train", "holds no"]);

    common::dataset(dir, 32, 2, 1);
    std::fs::write(
        dir.join("shapes/train/9999_broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    fails_with(
        train_tiny(dir, "x", &[]),
        &["9999_broken.png", "--skip_bad"],
    );
    let skipped = ok(train_tiny(dir, "skip", &["--skip_bad"]));
    assert!(
        stderr(&skipped).contains("9999_broken.png"),
        "{}",
        stderr(&skipped)
    );
    std::fs::remove_file(dir.join("shapes/train/9999_broken.png")).unwrap();

    // A truncated image: the first half of a valid PNG.
    let bytes = std::fs::read(dir.join("shapes/train/0000.png")).unwrap();
    std::fs::write(dir.join("shapes/train/0001.png"), &bytes[..bytes.len() / 2]).unwrap();
    fails_with(train_tiny(dir, "y", &[]), &["0001.png"]);
}

#[test]
fn bad_options_give_errors_that_name_the_option() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    fails_with(
        train_tiny(dir, "x", &["--crop_size", "48", "--load_size", "48"]),
        &["--crop_size", "48", "32"],
    );
    fails_with(
        train_tiny(dir, "x", &["--preprocess", "crop", "--crop_size", "64"]),
        &["smaller than --crop_size 64"],
    );
    fails_with(
        pix2pix(&["train", "--netG", "unet_100"], dir),
        &["unet_100"],
    );
    std::fs::write(dir.join("blocker"), b"a file where a folder should be").unwrap();
    fails_with(
        train_tiny(dir, "x", &["--checkpoints_dir", "blocker/sub"]),
        &[
            "blocker is a regular file, not a folder",
            "--checkpoints_dir",
        ],
    );
    fails_with(
        pix2pix(
            &["test", "--dataroot", "shapes", "--name", "nothing_here"],
            dir,
        ),
        &["nothing_here", "--name"],
    );
}

#[test]
fn a_checkpoint_of_another_architecture_says_which_options_differ() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "arch", &["--n_epochs_decay", "0"]));
    fails_with(
        pix2pix(
            &[
                "test",
                "--dataroot",
                "shapes",
                "--name",
                "arch",
                "--netG",
                "unet_64",
                "--norm",
                "instance",
            ],
            dir,
        ),
        &[
            "--netG (checkpoint: unet_32, given: unet_64)",
            "--norm (checkpoint: batch, given: instance)",
        ],
    );
    // Without train_opt.json the architecture is read from the file; flags that do not fit it
    // are an error.
    let lone = dir.join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(
        dir.join("checkpoints/arch/latest_net_G.bpk"),
        lone.join("latest_net_G.bpk"),
    )
    .unwrap();
    fails_with(
        pix2pix(
            &[
                "translate",
                "--checkpoint",
                "lone/latest_net_G.bpk",
                "--netG",
                "unet_64",
                "shapes/test",
                "-o",
                "o",
            ],
            dir,
        ),
        &["lone/latest_net_G.bpk", "--netG"],
    );
    ok(pix2pix(
        &[
            "translate",
            "--checkpoint",
            "lone/latest_net_G.bpk",
            "shapes/test",
            "-o",
            "o",
        ],
        dir,
    ));
    ok(pix2pix(
        &[
            "translate",
            "--checkpoint",
            "lone/latest_net_G.bpk",
            "--netG",
            "unet_32",
            "--ngf",
            "8",
            "shapes/test",
            "-o",
            "o",
            "--force",
        ],
        dir,
    ));
}

#[test]
fn nan_losses_stop_training_and_keep_the_last_good_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 4, 1);
    ok(train_tiny(dir, "nan", &["--n_epochs_decay", "0"]));
    let before = std::fs::read(dir.join("checkpoints/nan/latest_net_G.bpk")).unwrap();
    let out = pix2pix(
        &[
            "train",
            "--name",
            "nan",
            "--continue_train",
            "--n_epochs",
            "30",
            "--lr",
            "1e30",
            "--batch_size",
            "2",
        ],
        dir,
    );
    fails_with(out, &["NaN", "last checkpoint was kept", "--lr"]);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("checkpoints/nan/latest_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["epoch"], 2);
    let after = std::fs::read(dir.join("checkpoints/nan/latest_net_G.bpk")).unwrap();
    assert!(before == after, "the last good checkpoint was overwritten");
    ok(pix2pix(
        &["test", "--dataroot", "shapes", "--name", "nan"],
        dir,
    ));
}
