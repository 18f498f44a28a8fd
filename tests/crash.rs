//! Crash consistency: a `pix2pix train` process stopped at any moment of a save, by an abort right
//! after each of the save's file operations (the test-only PIX2PIX_FAULT_AFTER switch) or by a
//! seeded random SIGKILL, resumes with only `--name ... --continue_train` into exactly the run that
//! was never interrupted: the same checkpoint files and test images byte for byte, no temporary
//! file left, the same loss log line for line. Each resume runs from another folder than the one
//! the run was started in with a relative --dataroot.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{TINY, ok, pix2pix, stderr};

/// The file operations of the first epoch's three saves (see `train_args`).
const FIRST_EPOCH_OPERATIONS: u64 = 52;

/// Two images an epoch, one a step, a loss-log line every two steps (so that a resume between them
/// must continue the line's mean), a `latest` save after each step and a numbered one at each
/// epoch end: the first epoch saves after step 1 and step 2 (14 file operations each: five files
/// staged, the folder synced, the commit written and renamed, five renames, a last sync) and at
/// its end (24: ten files). A kill in the second save could mix weights of two different steps.
fn train_args(name: &str) -> Vec<&str> {
    let mut args = vec![
        "train",
        "--dataroot",
        "shapes",
        "--name",
        name,
        "--n_epochs",
        "1",
        "--n_epochs_decay",
        "1",
        "--save_latest_freq",
        "1",
        "--save_epoch_freq",
        "1",
        "--print_freq",
        "2",
        "--display_freq",
        "1",
        "--num_threads",
        "1",
    ];
    args.extend_from_slice(TINY);
    args
}

fn train_command(dir: &Path, name: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pix2pix"));
    command.args(train_args(name)).current_dir(dir);
    command
}

/// Resumes `name` until it finishes, from another folder (the run was started with a relative
/// --dataroot): with no other flag than where the checkpoints are, or also naming the same data
/// folder by its absolute path.
fn resume_to_the_end(dir: &Path, name: &str, name_the_data: bool) {
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let checkpoints = dir.join("checkpoints");
    let dataroot = dir.join("shapes");
    let mut args = vec![
        "train",
        "--name",
        name,
        "--continue_train",
        "--checkpoints_dir",
        checkpoints.to_str().unwrap(),
    ];
    if name_the_data {
        args.extend(["--dataroot", dataroot.to_str().unwrap()]);
    }
    ok(pix2pix(&args, &elsewhere));
}

/// What a finished run is: the names of its files (so that no leftover goes unseen), its
/// weights (exported, since burnpack files also hold Burn's random parameter ids), its states and
/// its test images, as bytes.
fn outcome(dir: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
    let run = dir.join("checkpoints").join(name);
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&run).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if file.ends_with("_state.json") {
            files.insert(file.clone(), std::fs::read(run.join(&file)).unwrap());
        }
        files.insert(format!("file {file}"), Vec::new());
    }
    for label in ["1", "latest"] {
        let exported = format!("exports/{name}/{label}_net_G.safetensors");
        ok(pix2pix(
            &[
                "export",
                "--name",
                name,
                "--epoch",
                label,
                "--format",
                "safetensors",
                "-o",
                &exported,
            ],
            dir,
        ));
        for network in ["G", "D"] {
            let file = format!("{label}_net_{network}.safetensors");
            let path = dir.join("exports").join(name).join(&file);
            files.insert(format!("weights {file}"), std::fs::read(path).unwrap());
        }
    }
    ok(pix2pix(
        &[
            "test",
            "--dataroot",
            "shapes",
            "--name",
            name,
            "--results_dir",
            "results",
        ],
        dir,
    ));
    let images = dir.join("results").join(name).join("test_latest/images");
    for entry in std::fs::read_dir(&images).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name().into_string().unwrap();
        files.insert(
            format!("image {file}"),
            std::fs::read(entry.path()).unwrap(),
        );
    }
    files
}

/// The loss log's lines.
fn loss_log(dir: &Path, name: &str) -> Vec<String> {
    let log =
        std::fs::read_to_string(dir.join("checkpoints").join(name).join("loss_log.jsonl")).unwrap();
    log.lines().map(String::from).collect()
}

fn assert_same_run(dir: &Path, name: &str, reference: &BTreeMap<String, Vec<u8>>, what: &str) {
    let got = outcome(dir, name);
    let names = |files: &BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got), names(reference), "{what}: other files");
    for (file, bytes) in reference {
        assert!(got[file] == *bytes, "{what}: {file} differs");
    }
    assert_eq!(
        loss_log(dir, name),
        loss_log(dir, "reference"),
        "{what}: loss log"
    );
}

#[test]
fn a_run_stopped_at_any_moment_of_a_save_resumes_into_the_uninterrupted_run() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_command(dir, "reference").output().unwrap());
    let reference = outcome(dir, "reference");

    for k in 1..=FIRST_EPOCH_OPERATIONS {
        let name = format!("fault{k}");
        let aborted = train_command(dir, &name)
            .env("PIX2PIX_FAULT_AFTER", k.to_string())
            .output()
            .unwrap();
        assert!(
            !aborted.status.success(),
            "operation {k} is past the first epoch's saves: {}",
            stderr(&aborted)
        );
        resume_to_the_end(dir, &name, k % 2 == 0);
        assert_same_run(
            dir,
            &name,
            &reference,
            &format!("abort after operation {k}"),
        );
    }
}

#[cfg(unix)]
#[test]
fn a_run_killed_at_random_moments_resumes_into_the_uninterrupted_run() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    let started = std::time::Instant::now();
    ok(train_command(dir, "reference").output().unwrap());
    let duration = started.elapsed();
    let reference = outcome(dir, "reference");

    // Kill times spread over a run's length, drawn by a small linear congruential generator: the
    // same fractions on every run of the test.
    let mut seed: u64 = 7;
    for trial in 0..4 {
        let name = format!("kill{trial}");
        let mut child = train_command(dir, &name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let fraction = (seed >> 40) as f64 / (1u64 << 24) as f64;
        std::thread::sleep(duration.mul_f64(fraction));
        let _ = child.kill();
        let _: Output = child.wait_with_output().unwrap();
        if dir
            .join("checkpoints")
            .join(&name)
            .join("train_opt.json")
            .is_file()
        {
            resume_to_the_end(dir, &name, trial % 2 == 1);
        } else {
            // Killed before the run had begun: there is nothing to resume.
            ok(train_command(dir, &name).output().unwrap());
        }
        assert_same_run(dir, &name, &reference, &format!("kill {trial}"));
    }
}
