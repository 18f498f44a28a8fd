//! The `pix2pix` command line: a thin layer that turns flags into library options.

mod args;
mod data;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::{Parser, Subcommand};
use pix2pix::bench::{BenchOptions, bench};
use pix2pix::data::DataOptions;
use pix2pix::demo::{DemoOptions, run as run_demo};
use pix2pix::device::DeviceChoice;
use pix2pix::infer::{
    GeneratorSource, LoadedGenerator, TestOptions, load_generator, test, translate_files,
};
use pix2pix::interop::export::{ExportFormat, export_run};
use pix2pix::model::{ModelOptions, Precision, parameter_count};
use pix2pix::options::RunOptions;
use pix2pix::train::{LATEST, train};

use args::{DataArgs, GeneratorArgs, ModelArgs, RunArgs, ScheduleArgs};

#[derive(Parser, Debug)]
#[command(
    name = "pix2pix",
    version,
    about = "pix2pix image-to-image translation (Isola et al., CVPR 2017): train, test, translate"
)]
pub struct Cli {
    /// Where the networks run: cpu (default), tch, tch:cuda:N, cuda:N or wgpu; each backend
    /// but cpu needs its cargo feature (tch, cuda, wgpu)
    #[arg(long, global = true, value_name = "DEVICE")]
    device: Option<DeviceChoice>,
    /// The official spelling of the device: -1 for the CPU, N for CUDA GPU N
    #[arg(
        long = "gpu-ids",
        visible_alias = "gpu_ids",
        global = true,
        value_name = "IDS",
        allow_hyphen_values = true,
        conflicts_with = "device"
    )]
    gpu_ids: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train G and D on <dataroot>/<phase> (A|B side-by-side images)
    #[command(args_override_self = true)]
    Train {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        schedule: ScheduleArgs,
    },
    /// Translate <dataroot>/<phase> with a trained G: results page, images and metrics
    #[command(args_override_self = true)]
    Test {
        #[command(flatten)]
        generator: GeneratorArgs,
        #[command(flatten)]
        data: DataArgs,
        /// Where results pages go
        #[arg(
            long = "results-dir",
            visible_alias = "results_dir",
            default_value = "results"
        )]
        results_dir: PathBuf,
        /// How many test images to run (0: all)
        #[arg(long = "num-test", visible_alias = "num_test", default_value_t = 50)]
        num_test: usize,
    },
    /// Translate single images or folders of images (no B side), any size
    #[command(args_override_self = true)]
    Translate {
        /// Image files or folders of images
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Folder for the translated images (<stem>.png)
        #[arg(long, short)]
        output: PathBuf,
        #[command(flatten)]
        generator: GeneratorArgs,
    },
    /// Dataset tools: combine, edges, colorization, split, check, download
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Write a checkpoint as an official PyTorch state_dict (.pth) or safetensors file
    #[command(args_override_self = true)]
    Export {
        #[command(flatten)]
        run: RunArgs,
        /// pth (torch.save format) or safetensors
        #[arg(long, default_value = "pth")]
        format: ExportFormat,
        /// File for G; D goes beside it (<epoch>_net_D.pth for <epoch>_net_G.pth)
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Time generator inference, a training step and the data pipeline (medians)
    #[command(args_override_self = true)]
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Image side
        #[arg(long = "crop-size", visible_alias = "crop_size", default_value_t = 256)]
        crop_size: usize,
        /// Images per call
        #[arg(long = "batch-size", visible_alias = "batch_size", default_value_t = 1)]
        batch_size: usize,
        /// Convolutions in f32 (default), bf16 or f16
        #[arg(long, default_value = "f32")]
        precision: Precision,
        /// Calls left out of the median (the first call is reported on its own)
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Timed calls (the median is reported)
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// A folder of images (e.g. JPEG photos) to time decoding and augmentation on
        #[arg(long)]
        data: Option<PathBuf>,
        /// Threads for the data timing
        #[arg(
            long = "num-threads",
            visible_alias = "num_threads",
            default_value_t = 4
        )]
        num_threads: usize,
        /// Print one JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print the networks' layers and parameter counts for the given options
    #[command(args_override_self = true)]
    Info {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Make a procedural dataset, train a small U-Net on it, test it, print the results page
    #[command(args_override_self = true)]
    Demo {
        /// Folder for the demo's dataset, checkpoints and results
        #[arg(long, default_value = "pix2pix-demo")]
        dir: PathBuf,
        /// Epochs at the initial learning rate (the same number decay afterwards)
        #[arg(long, default_value_t = 8)]
        epochs: usize,
        /// Side of the images (a power of two >= 32)
        #[arg(long, default_value_t = 64)]
        size: u32,
        /// Training pairs to generate
        #[arg(long = "train-images", default_value_t = 200)]
        train_images: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// The device of --device or --gpu_ids; the default CPU backend without either.
fn resolve_device(device: Option<DeviceChoice>, gpu_ids: Option<&str>) -> Result<Device> {
    let choice = match (device, gpu_ids) {
        (Some(choice), _) => choice,
        (None, Some(ids)) => DeviceChoice::from_gpu_ids(ids)?,
        (None, None) => DeviceChoice::default(),
    };
    Ok(choice.device()?)
}

/// A flag set by Ctrl-C, polled by the training loop after each step.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler = stop.clone();
    ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: finishing the current step and saving a resumable checkpoint...");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

pub fn run(cli: Cli) -> Result<()> {
    let Cli {
        device,
        gpu_ids,
        command,
    } = cli;
    let device = || resolve_device(device, gpu_ids.as_deref());
    match command {
        Command::Train {
            run,
            model,
            data,
            schedule,
        } => run_train(run, model, data, schedule, &device()?),
        Command::Test {
            generator,
            data,
            results_dir,
            num_test,
        } => {
            let device = device()?;
            let loaded = load(&generator, &device)?;
            let base = loaded
                .run
                .as_ref()
                .map(|r| r.data.clone())
                .unwrap_or_default();
            let mut data = data.resolve(&DataOptions {
                phase: "test".into(),
                ..base
            });
            if data.dataroot.as_os_str().is_empty() {
                bail!("--dataroot is required: the folder holding <phase>/ with A|B images");
            }
            data.num_threads = data.num_threads.max(1);
            let summary = test(
                &TestOptions {
                    name: generator.run.name.clone(),
                    epoch: generator.run.epoch.clone(),
                    results_dir,
                    data,
                    num_test,
                    eval: generator.eval,
                    seed: generator.seed,
                },
                &loaded,
                &device,
            )?;
            println!(
                "tested {} images: mean L1 {:.4}, PSNR {:.2} dB, SSIM {:.4}",
                summary.count, summary.mean.l1, summary.mean.psnr, summary.mean.ssim
            );
            println!("results page: {}", summary.page.display());
            Ok(())
        }
        Command::Translate {
            inputs,
            output,
            generator,
        } => {
            let device = device()?;
            let loaded = load(&generator, &device)?;
            device.seed(generator.seed);
            let bar = indicatif::ProgressBar::new(0);
            let written = translate_files(&loaded, &inputs, &output, &device, |_| bar.inc(1))?;
            bar.finish_and_clear();
            println!(
                "translated {} images into {}",
                written.len(),
                output.display()
            );
            Ok(())
        }
        Command::Data { command } => data::run(command),
        Command::Export {
            run,
            format,
            output,
        } => {
            let written = export_run(
                &run.checkpoints_dir.join(&run.name),
                &run.epoch,
                format,
                &output,
            )?;
            for file in written {
                println!("wrote {}", file.display());
            }
            Ok(())
        }
        Command::Bench {
            model,
            crop_size,
            batch_size,
            precision,
            warmup,
            repeats,
            data,
            num_threads,
            json,
        } => {
            let options = BenchOptions {
                model: model.resolve(&ModelOptions::default()),
                crop_size,
                batch_size,
                precision,
                warmup,
                repeats,
                data,
                num_threads,
            };
            let report = bench(&options, &device()?)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} + {} D, {}x{}, batch {}, {} on {} (medians of {} calls)",
                    report.net_g,
                    report.net_d,
                    crop_size,
                    crop_size,
                    batch_size,
                    report.precision,
                    report.backend,
                    report.repeats
                );
                println!(
                    "  generator inference  {:>9.1} ms/call  {:>8.1} ms/image  (first call {:.1} ms)",
                    report.inference_ms, report.inference_ms_per_image, report.first_inference_ms
                );
                println!(
                    "  training step        {:>9.1} ms/step  {:>8.2} images/s  (first step {:.1} ms)",
                    report.train_step_ms, report.train_images_per_s, report.first_train_step_ms
                );
                if let Some(rate) = report.data_images_per_s {
                    println!("  data pipeline        {rate:>9.1} images/s ({num_threads} threads)");
                }
            }
            Ok(())
        }
        Command::Info { model } => {
            let options = model.resolve(&ModelOptions::default());
            let device = device()?;
            let generator = options.generator(&device);
            let discriminator = options.discriminator(&device);
            println!(
                "Generator {} ({} -> {} channels, ngf {}, norm {}, dropout {}):",
                options.net_g,
                options.input_nc,
                options.output_nc,
                options.ngf,
                options.norm,
                options.dropout
            );
            println!("{generator}");
            println!(
                "Discriminator {} ({} input channels, ndf {}):",
                options.net_d,
                options.discriminator_input_nc(),
                options.ndf
            );
            println!("{discriminator}");
            println!(
                "Generator parameters:     {:>12}",
                thousands(parameter_count(&generator))
            );
            println!(
                "Discriminator parameters: {:>12}",
                thousands(parameter_count(&discriminator))
            );
            println!(
                "Input sides must be multiples of {}",
                options.net_g.size_multiple()
            );
            Ok(())
        }
        Command::Demo {
            dir,
            epochs,
            size,
            train_images,
            seed,
        } => {
            if !size.is_power_of_two() || size < 32 {
                bail!("--size {size}: use a power of two of at least 32 (e.g. 64)");
            }
            let options = DemoOptions {
                dir,
                size,
                train_images,
                n_epochs: epochs,
                n_epochs_decay: epochs,
                seed,
                ..DemoOptions::default()
            };
            let stop = stop_flag()?;
            eprintln!(
                "pix2pix demo: {} procedural label -> rendering pairs of {size}x{size}, \
                 a unet_{size} trained for {} epochs on CPU",
                options.train_images,
                2 * epochs
            );
            let summary = run_demo(&options, &device()?, &stop)?;
            if summary.train.interrupted {
                println!(
                    "stopped; resume with: pix2pix train --continue_train --name {} --checkpoints_dir {} --dataroot {}",
                    pix2pix::demo::DEMO_NAME,
                    options.dir.join("checkpoints").display(),
                    summary.dataroot.display()
                );
                return Ok(());
            }
            if let Some(test) = summary.test {
                println!(
                    "tested {} images: mean L1 {:.4}, PSNR {:.2} dB, SSIM {:.4}",
                    test.count, test.mean.l1, test.mean.psnr, test.mean.ssim
                );
                println!("results page: {}", test.page.display());
            }
            Ok(())
        }
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load(args: &GeneratorArgs, device: &Device) -> Result<LoadedGenerator> {
    let source = match &args.checkpoint {
        Some(path) => GeneratorSource::File(path.clone()),
        None => GeneratorSource::Run {
            dir: args.run.checkpoints_dir.join(&args.run.name),
            epoch: args.run.epoch.clone(),
        },
    };
    Ok(load_generator(
        &source,
        &args.model.overrides(),
        args.eval,
        device,
    )?)
}

fn run_train(
    run: RunArgs,
    model: ModelArgs,
    data: DataArgs,
    schedule: ScheduleArgs,
    device: &Device,
) -> Result<()> {
    let train_options = schedule.options(&run);
    let run_dir = train_options.run_dir();
    let saved = if schedule.continue_train {
        Some(RunOptions::load(&run_dir).with_context(|| {
            format!(
                "--continue_train: no resumable run in {} (check --name and --checkpoints_dir)",
                run_dir.display()
            )
        })?)
    } else {
        None
    };
    let options = match &saved {
        Some(saved) => {
            let conflicts = model.overrides().conflicts(&saved.model);
            if !conflicts.is_empty() {
                bail!(
                    "--continue_train: {} was trained with other options: {}. Drop these flags",
                    run_dir.display(),
                    conflicts.join(", ")
                );
            }
            RunOptions {
                model: model.resolve(&saved.model),
                data: data.resolve(&saved.data),
                train: train_options,
            }
        }
        None => {
            let data = data.resolve(&DataOptions::default());
            if data.dataroot.as_os_str().is_empty() {
                bail!("--dataroot is required: the folder holding <phase>/ with A|B images");
            }
            if run_dir.join(format!("{LATEST}_state.json")).exists() {
                bail!(
                    "{} already holds a training run: pass --continue_train to resume it, or \
                     choose another --name (nothing was overwritten)",
                    run_dir.display()
                );
            }
            RunOptions {
                model: model.resolve(&ModelOptions::default()),
                data,
                train: train_options,
            }
        }
    };
    let stop = stop_flag()?;
    let resume = schedule.continue_train.then_some(run.epoch.as_str());
    let summary = train(&options, device, resume, &stop)?;
    if !summary.skipped.is_empty() {
        eprintln!("skipped {} unreadable images:", summary.skipped.len());
        for (path, reason) in summary.skipped.iter().take(10) {
            eprintln!("  {}: {reason}", path.display());
        }
    }
    if summary.interrupted {
        println!(
            "stopped at epoch {}, image {}; resume with the same command plus --continue_train",
            summary.state.epoch, summary.state.position
        );
    } else {
        println!(
            "trained to epoch {}; checkpoints in {}",
            summary.state.epoch - 1,
            summary.run_dir.display()
        );
    }
    Ok(())
}
