//! `pix2pix test`: runs G over `<dataroot>/<phase>` and writes the official results page
//! (`<results_dir>/<name>/<phase>_<epoch>/index.html`, `images/<stem>_{real_A,fake_B,real_B}.png`)
//! plus `metrics.json` (L1, PSNR, SSIM of fake_B against real_B, per image and mean).

use std::path::PathBuf;

use burn::prelude::*;
use serde::Serialize;

use super::{LoadedGenerator, ensure_translatable};
use crate::data::image::{first_image, save_png};
use crate::data::{AlignedDataset, BatchLoader, DataOptions, LoaderOptions};
use crate::error::Result;
use crate::fsutil::{Maker, Staging, create_dir, write_atomic};
use crate::metrics::ImageMetrics;
use crate::report::{Page, Section, write_page};
use crate::seed::Stream;

/// A results folder, as `test` writes it and as it was before folders carried a mark (the
/// official code's results folders hold the same names): replaced by each `test`.
const RESULTS: Maker = Maker {
    command: "test",
    unmarked: &["index.html", "metrics.json", "images"],
};

#[derive(Clone, Debug)]
pub struct TestOptions {
    pub name: String,
    /// The checkpoint label, for the folder name and the page title.
    pub epoch: String,
    pub results_dir: PathBuf,
    /// Dataset options; preprocessing is forced to the official test settings (load_size =
    /// crop_size, no flip).
    pub data: DataOptions,
    /// At most this many images; 0 = all.
    pub num_test: usize,
    pub eval: bool,
    /// Seeds test-time dropout.
    pub seed: u64,
}

impl Default for TestOptions {
    /// The official test settings: 50 images of the `test` phase into `results/`.
    fn default() -> Self {
        Self {
            name: "experiment_name".into(),
            epoch: crate::checkpoint::LATEST.into(),
            results_dir: PathBuf::from("results"),
            data: DataOptions {
                phase: "test".into(),
                ..DataOptions::default()
            },
            num_test: 50,
            eval: false,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    pub name: String,
    #[serde(flatten)]
    pub metrics: ImageMetrics,
}

#[derive(Clone, Debug, Serialize)]
pub struct TestSummary {
    pub page: PathBuf,
    pub count: usize,
    pub mean: ImageMetrics,
    pub images: Vec<ImageResult>,
    pub eval: bool,
    pub epoch: String,
}

pub fn test(
    options: &TestOptions,
    loaded: &LoadedGenerator,
    device: &Device,
) -> Result<TestSummary> {
    let mut data = options.data.clone();
    data.load_size = data.crop_size;
    data.flip = false;
    if options.num_test > 0 {
        data.max_dataset_size = Some(
            data.max_dataset_size
                .map_or(options.num_test, |m| m.min(options.num_test)),
        );
    }
    let model = &loaded.model;
    let dataset = AlignedDataset::open(&data, model.input_nc, model.output_nc)?;
    let loader = BatchLoader::new(
        dataset,
        LoaderOptions {
            batch_size: 1,
            shuffle: false,
            seed: options.seed,
            threads: data.num_threads,
            skip_bad: data.skip_bad,
        },
    );
    let out_dir = options
        .results_dir
        .join(&options.name)
        .join(format!("{}_{}", data.phase, options.epoch));
    // The results folder is replaced as a unit, as the official code overwrites its results.
    let staging = Staging::new(&out_dir, &[], true, RESULTS)?;
    let images_dir = staging.path("images");
    create_dir(&images_dir)?;

    let mut sections = Vec::new();
    let mut results = Vec::new();
    let mut checked = None;
    for (index, batch) in loader.epoch(0, 0).enumerate() {
        let batch = batch?;
        let size = (batch.width, batch.height);
        if checked != Some(size) {
            ensure_translatable(loaded, 1, size, &batch.paths[0], device)?;
            checked = Some(size);
        }
        let (real_a, _) = batch.tensors(device);
        device.seed(Stream::Test.seed(options.seed, &[index as u64]));
        let fake_b = first_image(loaded.generator.forward(real_a));
        let (real_a, real_b) = (batch.input_image(0), batch.target_image(0));
        let stem = batch.paths[0]
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image")
            .to_string();
        let metrics = ImageMetrics::compare(&fake_b, &real_b);
        let mut images = Vec::new();
        for (image, label) in [
            (&real_a, "real_A"),
            (&fake_b, "fake_B"),
            (&real_b, "real_B"),
        ] {
            let file = format!("{stem}_{label}.png");
            save_png(image, &images_dir.join(&file))?;
            images.push((format!("images/{file}"), label.to_string()));
        }
        sections.push(Section {
            heading: stem.clone(),
            images,
            note: Some(format!(
                "L1 {:.4}  PSNR {:.2} dB  SSIM {:.4}",
                metrics.l1, metrics.psnr, metrics.ssim
            )),
        });
        results.push(ImageResult {
            name: stem,
            metrics,
        });
    }
    let all: Vec<ImageMetrics> = results.iter().map(|r| r.metrics).collect();
    let mean = ImageMetrics::mean(&all);
    let page = staging.path("index.html");
    let title = format!(
        "Experiment = {}, Phase = {}, Epoch = {} (mean L1 {:.4}, PSNR {:.2} dB, SSIM {:.4})",
        options.name, data.phase, options.epoch, mean.l1, mean.psnr, mean.ssim
    );
    let contents = Page {
        title,
        sections: &sections,
        image_width: 256,
        refresh: None,
        chart: None,
    };
    write_page(&page, &contents)?;
    let summary = TestSummary {
        page: out_dir.join("index.html"),
        count: results.len(),
        mean,
        images: results,
        eval: options.eval,
        epoch: options.epoch.clone(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("metrics serialise to JSON");
    write_atomic(&staging.path("metrics.json"), &json)?;
    staging.finish()?;
    Ok(summary)
}

impl std::fmt::Display for TestSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "tested {} images: mean L1 {:.4}, PSNR {:.2} dB, SSIM {:.4}",
            self.count, self.mean.l1, self.mean.psnr, self.mean.ssim
        )?;
        write!(f, "results page: {}", self.page.display())
    }
}
