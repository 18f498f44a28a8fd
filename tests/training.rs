//! End to end on a tiny synthetic set: training lowers the test L1; checkpoints reload exactly;
//! an interrupted run resumed with --continue_train ends where an uninterrupted one does.

mod common;

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::prelude::*;
use pix2pix::checkpoint::{Checkpoints, LATEST};
use pix2pix::data::DataOptions;
use pix2pix::infer::ModelOverrides;
use pix2pix::infer::{GeneratorSource, LoadedGenerator, TestOptions, load_generator, test};
use pix2pix::seed::Stream;
use pix2pix::train::{RunOptions, TrainEvent, TrainState, TrainSummary};

/// Trains quietly.
fn train(
    options: &RunOptions,
    device: &Device,
    resume: Option<&str>,
    stop: &AtomicBool,
) -> pix2pix::Result<TrainSummary> {
    pix2pix::train::train(options, device, resume, stop, &mut |_: &TrainEvent| {})
}

/// Burn's CPU backend has one global random generator: tests that seed it run one at a time.
static SEEDED: Mutex<()> = Mutex::new(());

fn test_l1(
    loaded: &LoadedGenerator,
    root: &std::path::Path,
    data: &DataOptions,
    label: &str,
) -> f64 {
    let summary = test(
        &TestOptions {
            name: "l1".into(),
            epoch: label.into(),
            results_dir: root.join("results"),
            data: DataOptions {
                phase: "test".into(),
                ..data.clone()
            },
            num_test: 0,
            eval: false,
            seed: 0,
        },
        loaded,
        &pix2pix::device::cpu().unwrap(),
    )
    .unwrap();
    assert_eq!(summary.count, 8);
    summary.mean.l1
}

#[test]
fn training_lowers_the_test_l1_well_below_its_initial_value() {
    let _serial = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let dataroot = common::dataset(root.path(), 32, 24, 8);
    let mut options = common::tiny_options(root.path(), &dataroot, "e2e");
    options.train.n_epochs = 6;
    options.train.n_epochs_decay = 2;
    options.train.lr = 1e-3;
    let device = pix2pix::device::cpu().unwrap();

    // A generator as initialised by train(): same seed, same init scheme.
    device.seed(Stream::Init.seed(0, &[]));
    let initial = LoadedGenerator {
        generator: options.model.generator(&device),
        model: options.model.clone(),
        run: None,
        non_finite: Vec::new(),
        generator_trains: true,
    };
    let before = test_l1(&initial, root.path(), &options.data, "init");

    let summary = train(&options, &device, None, &AtomicBool::new(false)).unwrap();
    assert!(!summary.interrupted);
    assert_eq!(summary.state.epoch, 9);
    let loaded = load_generator(
        &GeneratorSource::Run {
            dir: options.train.run_dir(),
            epoch: LATEST.into(),
        },
        &ModelOverrides::default(),
        false,
        &device,
    )
    .unwrap();
    let after = test_l1(&loaded, root.path(), &options.data, LATEST);
    eprintln!("test L1 before training {before:.4}, after {after:.4}");
    assert!(after < 0.6 * before, "L1 {before:.4} -> {after:.4}");

    let log = std::fs::read_to_string(options.train.run_dir().join("loss_log.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for key in ["G_GAN", "G_L1", "D_real", "D_fake", "epoch", "lr"] {
        assert!(first.get(key).is_some(), "loss log has {key}");
    }
    assert!(options.train.run_dir().join("web/index.html").is_file());
}

fn eval_output(loaded: &LoadedGenerator, x: &Tensor<4>) -> Vec<f32> {
    loaded
        .generator
        .forward(x.clone())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn a_saved_generator_reloads_bit_identically_in_eval_mode() {
    let _serial = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let dataroot = common::dataset(root.path(), 32, 4, 1);
    let options = common::tiny_options(root.path(), &dataroot, "reload");
    let device = pix2pix::device::cpu().unwrap();
    train(&options, &device, None, &AtomicBool::new(false)).unwrap();

    let source = GeneratorSource::Run {
        dir: options.train.run_dir(),
        epoch: LATEST.into(),
    };
    let a = load_generator(&source, &ModelOverrides::default(), true, &device).unwrap();
    let b = load_generator(&source, &ModelOverrides::default(), true, &device).unwrap();
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let (ya, yb) = (eval_output(&a, &x), eval_output(&b, &x));
    assert_eq!(ya, yb);

    // Saving the loaded network again and reloading it gives the same outputs, bit for bit.
    let copy = Checkpoints::new(root.path().join("copy"));
    let mut save = copy.begin_save();
    save.network("again", "G", &a.generator).unwrap();
    save.commit().unwrap();
    let again = copy
        .load_network("again", "G", a.model.generator(&device))
        .unwrap()
        .valid();
    let yc = again.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(ya, yc);
}

#[test]
fn an_interrupted_run_resumes_exactly_where_it_stopped() {
    let _serial = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let dataroot = common::dataset(root.path(), 32, 6, 1);
    let device = pix2pix::device::cpu().unwrap();
    let mut straight = common::tiny_options(root.path(), &dataroot, "straight");
    straight.train.n_epochs = 2;
    straight.train.batch_size = 2;
    let mut resumed = straight.clone();
    resumed.train.name = "resumed".into();

    train(&straight, &device, None, &AtomicBool::new(false)).unwrap();

    // A stop request is honoured after the first step: epoch 1, 2 images in.
    let stopped = train(&resumed, &device, None, &AtomicBool::new(true)).unwrap();
    assert!(stopped.interrupted);
    assert_eq!(
        (
            stopped.state.epoch,
            stopped.state.position,
            stopped.state.total_iters
        ),
        (1, 2, 2)
    );
    let checkpoints = Checkpoints::new(resumed.train.run_dir());
    assert_eq!(
        checkpoints.load_state::<TrainState>(LATEST).unwrap(),
        stopped.state
    );

    let finished = train(&resumed, &device, Some(LATEST), &AtomicBool::new(false)).unwrap();
    assert!(!finished.interrupted);
    assert_eq!((finished.state.epoch, finished.state.total_iters), (3, 12));

    let x = Tensor::<4>::random([1, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let output = |options: &RunOptions| {
        let loaded = load_generator(
            &GeneratorSource::Run {
                dir: options.train.run_dir(),
                epoch: LATEST.into(),
            },
            &ModelOverrides::default(),
            true,
            &device,
        )
        .unwrap();
        eval_output(&loaded, &x)
    };
    // Same data order, crops, flips and optimiser moments: the same weights, bit for bit.
    assert_eq!(
        output(&straight),
        output(&resumed),
        "the resumed run differs from the straight one"
    );
}
