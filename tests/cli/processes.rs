//! The binary as a process: the demo, Ctrl-C, bench, device choice, closed pipes and `test`'s
//! results folder.

use super::*;

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

/// `pix2pix bench` on a tiny network, without warm-up calls.
const TINY_BENCH: &[&str] = &[
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
];

#[test]
fn bench_prints_one_json_object_with_the_timings() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 3, 1);
    let out = ok(pix2pix(
        &[
            TINY_BENCH,
            &["--repeats", "1", "--data", "shapes/train", "--json"],
        ]
        .concat(),
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

/// `bench --profile`: the convolutions of as many more steps as were timed, each kind of call
/// on each layer counted (G's first layer runs forward once a step, D's first three times: for
/// D's loss on the fake and the real pair, then for G's), and the table says what they add up to.
#[test]
fn bench_profiles_the_convolutions_of_its_steps() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let bench = |json: bool| {
        let mut args = [TINY_BENCH, &["--repeats", "2", "--profile"]].concat();
        if json {
            args.push("--json");
        }
        stdout(&ok(pix2pix(&args, dir)))
    };
    let report: serde_json::Value = serde_json::from_str(bench(true).trim()).unwrap();
    assert_eq!(report["profiled_steps"], 2);
    let convolutions = report["convolutions"].as_array().unwrap();
    if report["backend"] != "flex" {
        assert!(convolutions.is_empty(), "{report}");
        return;
    }
    let calls = |call: &str, layer: &str| {
        let found = convolutions
            .iter()
            .find(|c| c["call"] == call && c["layer"] == layer)
            .unwrap_or_else(|| panic!("no {call} of {layer} in {report}"));
        assert!(found["millis"].as_f64().unwrap() > 0.0);
        found["calls"].as_u64().unwrap()
    };
    assert_eq!(calls("forward", "conv 4x4/2 3->8 at 32x32, batch 1"), 2);
    assert_eq!(calls("forward", "conv 4x4/2 6->8 at 32x32, batch 1"), 6);
    // G's weights get one gradient a step, D's two: from the fake and from the real pair.
    assert_eq!(
        calls("weight gradient", "conv 4x4/2 3->8 at 32x32, batch 1"),
        2
    );
    assert_eq!(
        calls("weight gradient", "conv 4x4/2 6->8 at 32x32, batch 1"),
        4
    );
    assert_eq!(
        calls("forward", "transposed conv 4x4/2 16->3 at 16x16, batch 1"),
        2
    );
    let millis: Vec<f64> = convolutions
        .iter()
        .map(|c| c["millis"].as_f64().unwrap())
        .collect();
    assert!(
        millis.windows(2).all(|w| w[0] >= w[1]),
        "longest first: {millis:?}"
    );
    let table = bench(false);
    assert!(
        table.contains("convolutions, per step of 2 more:")
            && table.contains("forward          conv 4x4/2 3->8 at 32x32, batch 1"),
        "{table}"
    );
}

#[test]
fn devices_are_chosen_by_flag_and_a_missing_backend_names_its_feature() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let bench = |device: &[&str]| {
        let mut args = [TINY_BENCH, &["--repeats", "1", "--json"]].concat();
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
