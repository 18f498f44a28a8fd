//! Batches for training and testing, decoded and augmented on worker threads ahead of the step
//! (a bounded prefetch queue), in an order and with random draws that depend only on the seed,
//! the epoch and the position, so a resumed run sees exactly the batches it would have seen.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use crossbeam_channel::{Receiver, bounded};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::aligned::{AlignedDataset, MAX_THREADS, Sample};
use super::image::from_chw;
use crate::error::Result;
use crate::seed::Stream;

/// A batch as host data; [`Batch::tensors`] moves it to a device.
#[derive(Clone, Debug)]
pub struct Batch {
    pub input: Vec<f32>,
    pub target: Vec<f32>,
    pub input_nc: usize,
    pub output_nc: usize,
    pub height: usize,
    pub width: usize,
    pub paths: Vec<PathBuf>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Sample `index` of the input side as an 8-bit image.
    pub fn input_image(&self, index: usize) -> image::RgbImage {
        self.side_image(&self.input, self.input_nc, index)
    }

    /// Sample `index` of the target side as an 8-bit image.
    pub fn target_image(&self, index: usize) -> image::RgbImage {
        self.side_image(&self.target, self.output_nc, index)
    }

    fn side_image(&self, data: &[f32], channels: usize, index: usize) -> image::RgbImage {
        let size = channels * self.height * self.width;
        from_chw(
            &data[index * size..(index + 1) * size],
            channels,
            self.height,
            self.width,
        )
    }

    /// (input, target) as [N, C, H, W] tensors on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<4>, Tensor<4>) {
        let n = self.len();
        let input = TensorData::new(
            self.input.clone(),
            [n, self.input_nc, self.height, self.width],
        );
        let target = TensorData::new(
            self.target.clone(),
            [n, self.output_nc, self.height, self.width],
        );
        (
            Tensor::from_data(input, device),
            Tensor::from_data(target, device),
        )
    }
}

/// How a [`BatchLoader`] goes through its dataset.
#[derive(Clone, Copy, Debug)]
pub struct LoaderOptions {
    /// Samples per batch (at least 1).
    pub batch_size: usize,
    /// A seeded shuffle every epoch (training); file order otherwise.
    pub shuffle: bool,
    /// The run's seed: the order and each sample's crop and flip derive from it.
    pub seed: u64,
    /// Worker threads decoding and augmenting ahead of the consumer (at least 1).
    pub threads: usize,
    /// Skip unreadable images, reported in [`EpochReport`], instead of failing.
    pub skip_bad: bool,
}

/// Produces the batches of one pass over a dataset.
#[derive(Clone, Debug)]
pub struct BatchLoader {
    dataset: Arc<AlignedDataset>,
    options: LoaderOptions,
}

/// What an epoch reported besides its batches.
#[derive(Debug, Default)]
pub struct EpochReport {
    /// Files skipped as unreadable (with skip_bad).
    pub skipped: Vec<(PathBuf, String)>,
}

impl BatchLoader {
    /// A batch or thread count past the dataset's size is cut to it: the prefetch queue and each
    /// batch are sized from them.
    pub fn new(dataset: AlignedDataset, options: LoaderOptions) -> Self {
        let samples = dataset.len().max(1);
        Self {
            dataset: Arc::new(dataset),
            options: LoaderOptions {
                batch_size: options.batch_size.clamp(1, samples),
                threads: options.threads.clamp(1, samples.min(MAX_THREADS)),
                ..options
            },
        }
    }

    pub fn dataset(&self) -> &AlignedDataset {
        &self.dataset
    }

    /// The dataset order of `epoch`: a seeded shuffle, or file order.
    fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.options.shuffle {
            let seed = Stream::Order.seed(self.options.seed, &[epoch as u64]);
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }

    /// The batches of `epoch`, starting at sample position `start` (to resume inside an epoch).
    pub fn epoch(&self, epoch: usize, start: usize) -> EpochBatches {
        let order = Arc::new(self.order(epoch));
        let start = start.min(order.len());
        let next = Arc::new(AtomicUsize::new(start));
        let (sender, receiver) = bounded(2 * self.options.threads + self.options.batch_size);
        for _ in 0..self.options.threads {
            let (dataset, order, next, sender) = (
                self.dataset.clone(),
                order.clone(),
                next.clone(),
                sender.clone(),
            );
            let seed = self.options.seed;
            std::thread::spawn(move || {
                loop {
                    let position = next.fetch_add(1, Ordering::Relaxed);
                    if position >= order.len() {
                        break;
                    }
                    let sample_seed = Stream::Sample.seed(seed, &[epoch as u64, position as u64]);
                    let sample = dataset.get(order[position], sample_seed);
                    if sender.send((position, sample)).is_err() {
                        break;
                    }
                }
            });
        }
        EpochBatches {
            receiver,
            pending: BTreeMap::new(),
            position: start,
            end: order.len(),
            batch_size: self.options.batch_size,
            input_nc: self.dataset.input_nc(),
            output_nc: self.dataset.output_nc(),
            skip_bad: self.options.skip_bad,
            report: EpochReport::default(),
        }
    }
}

/// Iterator over one epoch's batches; dropping it stops the workers.
pub struct EpochBatches {
    receiver: Receiver<(usize, Result<Sample>)>,
    pending: BTreeMap<usize, Result<Sample>>,
    position: usize,
    end: usize,
    batch_size: usize,
    input_nc: usize,
    output_nc: usize,
    skip_bad: bool,
    report: EpochReport,
}

impl EpochBatches {
    /// Samples of the epoch consumed so far (where a resumed run starts).
    pub fn position(&self) -> usize {
        self.position
    }

    pub fn report(&self) -> &EpochReport {
        &self.report
    }

    /// The sample at the current position, in order.
    fn next_sample(&mut self) -> Result<Sample> {
        loop {
            if let Some(sample) = self.pending.remove(&self.position) {
                self.position += 1;
                return sample;
            }
            let (position, sample) = self
                .receiver
                .recv()
                .expect("loader workers stop only after sending every position");
            self.pending.insert(position, sample);
        }
    }
}

impl Iterator for EpochBatches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut samples: Vec<Sample> = Vec::with_capacity(self.batch_size);
        while samples.len() < self.batch_size && self.position < self.end {
            match self.next_sample() {
                Ok(sample) => {
                    if let Some(first) = samples.first()
                        && (first.height, first.width) != (sample.height, sample.width)
                    {
                        // Differently sized images cannot share a batch; keep the batch as is
                        // and start the next one with this sample.
                        self.position -= 1;
                        self.pending.insert(self.position, Ok(sample));
                        break;
                    }
                    samples.push(sample);
                }
                Err(error) if self.skip_bad => {
                    if let crate::error::Error::BadImage { path, reason } = &error {
                        self.report.skipped.push((path.clone(), reason.clone()));
                    } else {
                        return Some(Err(error));
                    }
                }
                Err(error) => return Some(Err(error)),
            }
        }
        if samples.is_empty() {
            return None;
        }
        let (height, width) = (samples[0].height, samples[0].width);
        let mut batch = Batch {
            input: Vec::with_capacity(samples.len() * self.input_nc * height * width),
            target: Vec::with_capacity(samples.len() * self.output_nc * height * width),
            input_nc: self.input_nc,
            output_nc: self.output_nc,
            height,
            width,
            paths: Vec::with_capacity(samples.len()),
        };
        for sample in samples {
            batch.input.extend_from_slice(&sample.input);
            batch.target.extend_from_slice(&sample.target);
            batch.paths.push(sample.path);
        }
        Some(Ok(batch))
    }
}
