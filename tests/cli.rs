//! The real binary: train, test, translate, info and demo on tiny data, and the errors users get
//! for bad input (each names the file or option and the fix, and nothing is lost).

mod common;

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

#[test]
fn the_demo_runs_end_to_end_and_prints_the_results_page() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let out = ok(pix2pix(
        &[
            "demo",
            "--dir",
            "demo",
            "--epochs",
            "1",
            "--size",
            "32",
            "--train-images",
            "4",
        ],
        dir,
    ));
    let text = stdout(&out);
    let page = text
        .lines()
        .find_map(|l| l.strip_prefix("results page: "))
        .expect("the demo prints the page");
    assert!(dir.join(page).is_file(), "{page}");
}

/// Sends SIGINT with `kill`: Unix only.
#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_resumable_checkpoint_and_exits_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 4, 1);
    let mut args = vec![
        "train",
        "--dataroot",
        "shapes",
        "--name",
        "sigint",
        "--n_epochs",
        "100000",
        "--n_epochs_decay",
        "0",
        "--print_freq",
        "1",
    ];
    args.extend_from_slice(TINY);
    let child = Command::new(env!("CARGO_BIN_EXE_pix2pix"))
        .args(&args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training is under way (a few steps logged), then interrupt.
    let log = dir.join("checkpoints/sigint/loss_log.jsonl");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |l| l.lines().count()) < 3 {
        assert!(started.elapsed().as_secs() < 60, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit status {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("--continue_train"),
        "{}",
        stdout(&out)
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("checkpoints/sigint/latest_state.json")).unwrap(),
    )
    .unwrap();
    let trained = state["total_iters"].as_u64().unwrap();
    assert!(trained >= 3, "{state}");
    // The run resumes from there: it finishes the interrupted epoch, then one more.
    ok(pix2pix(
        &[
            "train",
            "--name",
            "sigint",
            "--continue_train",
            "--n_epochs",
            &(state["epoch"].as_u64().unwrap() + 1).to_string(),
            "--n_epochs_decay",
            "0",
        ],
        dir,
    ));
    let resumed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("checkpoints/sigint/latest_state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(resumed["position"], 0);
    assert!(resumed["total_iters"].as_u64().unwrap() > trained);
}

#[test]
fn bench_prints_one_json_object_with_the_timings() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 3, 1);
    let out = ok(pix2pix(
        &[
            "bench",
            "--netG",
            "unet_32",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--crop_size",
            "32",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--data",
            "shapes/train",
            "--json",
        ],
        dir,
    ));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    for key in [
        "inference_ms",
        "train_step_ms",
        "train_images_per_s",
        "first_inference_ms",
        "first_train_step_ms",
        "data_images_per_s",
    ] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key} in {report}");
    }
    assert_eq!(report["backend"], default_backend());
    assert_eq!(report["precision"], "f32");
    fails_with(
        pix2pix(&["bench", "--crop_size", "100"], dir),
        &["--crop_size", "100", "256"],
    );
}

#[test]
fn devices_are_chosen_by_flag_and_a_missing_backend_names_its_feature() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let bench = |device: &[&str]| {
        let mut args = vec![
            "bench",
            "--netG",
            "unet_32",
            "--crop_size",
            "32",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--json",
        ];
        args.extend(device);
        pix2pix(&args, dir)
    };
    let backend = |device: &[&str]| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout(&ok(bench(device)))).unwrap()["backend"]
            .clone()
    };
    assert_eq!(backend(&[]), default_backend());
    // The official spelling: -1 is the CPU.
    assert_eq!(backend(&["--gpu_ids", "-1"]), default_backend());
    // Only the commands that run networks take a device.
    let help = stdout(&ok(pix2pix(&["data", "check", "--help"], dir)));
    assert!(
        !help.contains("--device") && !help.contains("--gpu"),
        "{help}"
    );
    if cfg!(feature = "flex") {
        assert_eq!(backend(&["--device", "cpu"]), "flex");
    }
    if !cfg!(feature = "wgpu") {
        fails_with(
            bench(&["--device", "wgpu"]),
            &["--device wgpu", "--features wgpu"],
        );
    }
    fails_with(
        bench(&["--device", "tpu"]),
        &["unknown device 'tpu'", "cuda:N"],
    );
}

/// The backend name `bench` reports for the default device of this build.
fn default_backend() -> &'static str {
    if cfg!(feature = "flex") {
        "flex"
    } else {
        "libtorch"
    }
}

/// `pix2pix info | head -1`: the reader goes away and the process ends quietly, as Unix tools
/// do, instead of panicking in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_the_process_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // 128 KB of layers, more than a pipe holds: the writer is still writing when the reader goes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pix2pix"))
        .args([
            "info",
            "--netG",
            "resnet_100blocks",
            "--ngf",
            "8",
            "--ndf",
            "8",
        ])
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Generator"), "{first}");
    let output = child.wait_with_output().unwrap();
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

/// `test` replaces its results folder each time, as the official code overwrites it: one it
/// made (marked), one of the same names without a mark (an older version's, or the official
/// code's), but not a folder holding anything else.
#[test]
fn test_replaces_only_a_results_folder() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "res", &[]));
    let run_test = || pix2pix(&["test", "--dataroot", "shapes", "--name", "res"], dir);
    let results = dir.join("results/res/test_latest");
    ok(run_test());
    ok(run_test());
    std::fs::remove_file(results.join(".pix2pix-output")).unwrap();
    ok(run_test());
    std::fs::remove_file(results.join(".pix2pix-output")).unwrap();
    std::fs::write(results.join("notes.txt"), b"mine").unwrap();
    fails_with(run_test(), &["test_latest was not made by `pix2pix test`"]);
    assert_eq!(std::fs::read(results.join("notes.txt")).unwrap(), b"mine");
}
