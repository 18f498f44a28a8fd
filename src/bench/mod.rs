//! `pix2pix bench`: medians of generator inference, a full training step and the data pipeline,
//! on the device at hand, for comparison with the PyTorch reference (scripts/bench/).

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;

use crate::backend::Precision;
use crate::backend::profile::{ConvolutionTime, profile};
use crate::data::{AlignedDataset, BatchLoader, DataOptions, LoaderOptions};
use crate::error::{Error, Result};
use crate::memory;
use crate::model::ModelOptions;
use crate::train::{Pix2Pix, TrainOptions};

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub model: ModelOptions,
    pub crop_size: usize,
    pub batch_size: usize,
    /// The convolutions' arithmetic.
    pub precision: Precision,
    /// Calls left out of the median (kernel selection, allocator warm-up).
    pub warmup: usize,
    /// Timed calls; the report gives their median.
    pub repeats: usize,
    /// A folder of images to time decoding and augmentation on (resize_and_crop, flips).
    pub data: Option<PathBuf>,
    /// Decoding threads for the data timing.
    pub num_threads: usize,
    /// Also time each kind of convolution call, over `repeats` more training steps.
    pub profile: bool,
}

impl Default for BenchOptions {
    /// The official networks at 256 x 256, batch 1, f32; medians of 5 calls after 2.
    fn default() -> Self {
        Self {
            model: ModelOptions::default(),
            crop_size: 256,
            batch_size: 1,
            precision: Precision::default(),
            warmup: 2,
            repeats: 5,
            data: None,
            num_threads: 4,
            profile: false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub backend: String,
    pub device: String,
    pub precision: String,
    /// The instructions of bf16's products on Flex's kernels (`f32`, `dot-products`, `tiles`);
    /// absent for other precisions and backends.
    pub bf16_products: Option<String>,
    pub net_g: String,
    pub net_d: String,
    pub crop_size: usize,
    pub batch_size: usize,
    pub repeats: usize,
    /// Median time of one generator forward (eval mode, no autodiff) on a batch.
    pub inference_ms: f64,
    pub inference_ms_per_image: f64,
    /// The first generator forward (includes kernel compilation on GPU backends).
    pub first_inference_ms: f64,
    /// Median time of one training step (G forward, D update, G update) on a batch.
    pub train_step_ms: f64,
    /// The first training step (includes lazy weight initialisation and kernel compilation).
    pub first_train_step_ms: f64,
    pub train_images_per_s: f64,
    /// Decoded and augmented images per second, when a data folder was given.
    pub data_images_per_s: Option<f64>,
    /// The threads that decoded them.
    pub data_threads: usize,
    /// With `profile`: the convolutions of `profiled_steps` training steps after the timed ones,
    /// longest first (summed over those steps; empty where the backend records none).
    pub convolutions: Option<Vec<ConvolutionTime>>,
    pub profiled_steps: usize,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Milliseconds per call.
struct Timing {
    /// The very first call: lazy initialisation, kernel compilation and autotuning on GPUs.
    first_ms: f64,
    median_ms: f64,
}

/// Times `warmup + repeats` calls of `run`: the first, and the median of the last `repeats`.
fn time_calls(warmup: usize, repeats: usize, device: &Device, mut run: impl FnMut()) -> Timing {
    let mut samples: Vec<f64> = (0..warmup + repeats)
        .map(|_| {
            let start = Instant::now();
            run();
            device.sync().expect("the device finishes its work");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let first_ms = samples[0];
    Timing {
        first_ms,
        median_ms: median(samples.split_off(warmup)),
    }
}

/// The most timed calls: a median of more says nothing new, and their count must fit memory.
const MAX_REPEATS: usize = 100_000;

impl BenchOptions {
    /// Refuses options the timings cannot run with: bad networks, an empty batch, a size G or
    /// D cannot take, a step that will not fit in memory.
    pub fn validate(&self, device: &Device) -> Result<()> {
        let model = &self.model;
        model.validate()?;
        self.precision.check(device)?;
        for (option, value) in [("batch_size", self.batch_size), ("repeats", self.repeats)] {
            if value == 0 {
                return Err(Error::InvalidOption {
                    option,
                    reason: "must be at least 1".into(),
                });
            }
        }
        for (option, value) in [("warmup", self.warmup), ("repeats", self.repeats)] {
            if value > MAX_REPEATS {
                return Err(Error::InvalidOption {
                    option,
                    reason: format!("{value} is more than {MAX_REPEATS}"),
                });
            }
        }
        let (n, size) = (self.batch_size, self.crop_size);
        if let Some(reason) = (model.net_g.unsuitable_side(size))
            .or_else(|| model.unsuitable_discriminator_side(size))
        {
            return Err(Error::InvalidOption {
                option: "crop_size",
                reason,
            });
        }
        let what = || {
            format!(
                "a training step of netG {} (ngf {}) and netD {} (ndf {}) on {n} images of \
                 {size}x{size}",
                model.net_g, model.ngf, model.net_d, model.ndf
            )
        };
        memory::ensure_fits(memory::training_bytes(model, n, size, size), what, device)
    }
}

/// Times per `options` on `device`, after [`BenchOptions::validate`].
pub fn bench(options: &BenchOptions, device: &Device) -> Result<BenchReport> {
    options.validate(device)?;
    let (n, size) = (options.batch_size, options.crop_size);
    let input = |channels| {
        Tensor::<4>::random(
            [n, channels, size, size],
            Distribution::Uniform(-1.0, 1.0),
            device,
        )
    };

    let generator = options
        .model
        .generator(device)
        .with_precision(options.precision)
        .valid();
    let real_a = input(options.model.input_nc);
    let inference = time_calls(options.warmup, options.repeats, device, || {
        let _ = generator.forward(real_a.clone());
    });

    let train_device = device.clone().autodiff();
    let train = TrainOptions {
        precision: options.precision,
        ..TrainOptions::default()
    };
    let mut model = Pix2Pix::new(&options.model, &train, &train_device);
    let (a, b) = (
        input(options.model.input_nc).autodiff(),
        input(options.model.output_nc).autodiff(),
    );
    let train_step = time_calls(options.warmup, options.repeats, device, || {
        let _ = model.step(a.clone(), b.clone(), 2e-4);
    });
    let convolutions = options.profile.then(|| {
        profile(|| {
            for _ in 0..options.repeats {
                let _ = model.step(a.clone(), b.clone(), 2e-4);
            }
            device.sync().expect("the device finishes its work");
        })
        .1
    });

    let data_images_per_s = options
        .data
        .as_ref()
        .map(|folder| data_throughput(folder, options))
        .transpose()?;

    Ok(BenchReport {
        backend: {
            let name = crate::device::Backend::of(device).name();
            if crate::backend::generic_route() {
                format!("{name} (Burn's operations only)")
            } else {
                name.to_string()
            }
        },
        device: format!("{device:?}"),
        precision: options.precision.to_string(),
        bf16_products: (options.precision == Precision::Bf16
            && crate::device::Backend::of(device) == crate::device::Backend::Flex
            && !crate::backend::generic_route())
        .then(|| crate::backend::bf16_products().to_string()),
        net_g: options.model.net_g.to_string(),
        net_d: options.model.net_d.to_string(),
        crop_size: size,
        batch_size: n,
        repeats: options.repeats,
        inference_ms: inference.median_ms,
        inference_ms_per_image: inference.median_ms / n as f64,
        first_inference_ms: inference.first_ms,
        train_step_ms: train_step.median_ms,
        train_images_per_s: n as f64 * 1e3 / train_step.median_ms,
        first_train_step_ms: train_step.first_ms,
        data_images_per_s,
        data_threads: options.num_threads,
        convolutions,
        profiled_steps: if options.profile { options.repeats } else { 0 },
    })
}

/// One pass of the loader over `folder` (its images taken as A|B pairs, as training would).
fn data_throughput(folder: &std::path::Path, options: &BenchOptions) -> Result<f64> {
    let data = DataOptions {
        dataroot: folder.parent().map(PathBuf::from).unwrap_or_default(),
        phase: folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        load_size: options.crop_size * 286 / 256,
        crop_size: options.crop_size,
        num_threads: options.num_threads,
        ..DataOptions::default()
    };
    let (input_nc, output_nc) = (options.model.input_nc, options.model.output_nc);
    let dataset = AlignedDataset::open(&data, input_nc, output_nc)?;
    let loader = BatchLoader::new(
        dataset,
        LoaderOptions {
            batch_size: options.batch_size,
            shuffle: true,
            seed: 0,
            threads: options.num_threads,
            skip_bad: false,
        },
    );
    let start = Instant::now();
    let mut images = 0;
    for batch in loader.epoch(1, 0) {
        images += batch?.len();
    }
    Ok(images as f64 / start.elapsed().as_secs_f64())
}

impl BenchReport {
    /// The convolutions' table of `--profile`, per step.
    fn write_profile(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        convolutions: &[ConvolutionTime],
    ) -> std::fmt::Result {
        let steps = self.profiled_steps.max(1) as f64;
        if convolutions.is_empty() {
            return write!(
                f,
                "\n  no convolutions timed: only the CPU's own kernels (Flex, not Burn's route) \
                 time theirs"
            );
        }
        let total: f64 = convolutions.iter().map(|c| c.millis).sum::<f64>() / steps;
        write!(
            f,
            "\n  convolutions, per step of {} more: {total:.1} ms of the step's {:.1} ms",
            self.profiled_steps, self.train_step_ms
        )?;
        write!(
            f,
            "\n  {:>9}  {:>5}  {:<16} {:<50} method",
            "ms/step", "calls", "call", "layer"
        )?;
        for c in convolutions {
            write!(
                f,
                "\n  {:>9.2}  {:>5}  {:<16} {:<50} {}",
                c.millis / steps,
                c.calls as f64 / steps,
                c.call,
                c.layer,
                c.method
            )?;
        }
        Ok(())
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} + {} D, {}x{}, batch {}, {}{} on {} (medians of {} calls)",
            self.net_g,
            self.net_d,
            self.crop_size,
            self.crop_size,
            self.batch_size,
            self.precision,
            match &self.bf16_products {
                Some(products) => format!(" (products on {products})"),
                None => String::new(),
            },
            self.backend,
            self.repeats
        )?;
        writeln!(
            f,
            "  generator inference  {:>9.1} ms/call  {:>8.1} ms/image  (first call {:.1} ms)",
            self.inference_ms, self.inference_ms_per_image, self.first_inference_ms
        )?;
        write!(
            f,
            "  training step        {:>9.1} ms/step  {:>8.2} images/s  (first step {:.1} ms)",
            self.train_step_ms, self.train_images_per_s, self.first_train_step_ms
        )?;
        if let Some(rate) = self.data_images_per_s {
            write!(
                f,
                "\n  data pipeline        {rate:>9.1} images/s ({} threads)",
                self.data_threads
            )?;
        }
        if let Some(convolutions) = &self.convolutions {
            self.write_profile(f, convolutions)?;
        }
        Ok(())
    }
}
