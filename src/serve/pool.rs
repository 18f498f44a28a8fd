//! Inference off the async runtime: a bounded queue feeding a few worker threads, which load
//! generators into a cache bounded in bytes and run requests one at a time, or as one batch
//! where G treats the images of a batch apart ([`batch_independent`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use axum::body::Bytes;
use burn::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use image::{DynamicImage, GenericImageView, RgbImage};
use tokio::sync::oneshot;

use super::api::ApiError;
use super::catalog::ServedModel;
use crate::data::image::{decode_image, encode_png};
use crate::infer::ModelOverrides;
use crate::infer::{
    GeneratorSource, LoadedGenerator, batch_independent, load_generator, translate_batch,
    weights_file,
};
use crate::memory;

/// What a request gets back: the PNG's bytes.
pub type Reply = std::result::Result<Vec<u8>, ApiError>;

/// One translation asked for.
pub struct Job {
    pub model: Arc<ServedModel>,
    /// The checkpoint label and its weights.
    pub epoch: String,
    pub source: GeneratorSource,
    pub eval: bool,
    pub seed: u64,
    /// The uploaded file, decoded on the worker.
    pub body: Bytes,
    pub reply: oneshot::Sender<Reply>,
}

impl Job {
    fn key(&self) -> (String, String, bool) {
        (self.model.name.clone(), self.epoch.clone(), self.eval)
    }
}

/// How the pool is sized.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    pub workers: usize,
    /// Requests waiting beyond those running.
    pub queue: usize,
    /// Bytes of generator weights kept loaded.
    pub cache_bytes: u64,
    /// The most requests run as one batch.
    pub max_batch: usize,
}

pub struct Pool {
    sender: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
    /// Requests that ran in a batch of more than one.
    batched: Arc<AtomicUsize>,
}

impl Pool {
    pub fn start(options: PoolOptions, device: &Device) -> Pool {
        let (sender, receiver) = crossbeam_channel::bounded(options.queue);
        let cache = Arc::new(Mutex::new(Cache::new(options.cache_bytes)));
        let batched = Arc::new(AtomicUsize::new(0));
        let workers = (0..options.workers.max(1))
            .map(|_| {
                let worker = Worker {
                    receiver: receiver.clone(),
                    cache: cache.clone(),
                    device: device.clone(),
                    max_batch: options.max_batch.max(1),
                    batched: batched.clone(),
                };
                std::thread::spawn(move || worker.work())
            })
            .collect();
        Pool {
            sender,
            workers,
            batched,
        }
    }

    /// How many requests ran in a batch of more than one so far.
    pub fn batched(&self) -> usize {
        self.batched.load(Ordering::SeqCst)
    }

    /// Queues `job`; false when the queue is full.
    pub fn submit(&self, job: Job) -> bool {
        self.sender.try_send(job).is_ok()
    }

    /// Lets the workers finish what is queued, then waits for them.
    pub fn shut_down(self) {
        let Pool {
            sender, workers, ..
        } = self;
        drop(sender);
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Dropout draws come from the device's random stream: a request in the official test mode
/// seeds it and runs with it held, so that no other request draws in between.
static RANDOM_STREAM: Mutex<()> = Mutex::new(());

/// One inference thread.
struct Worker {
    receiver: Receiver<Job>,
    cache: Arc<Mutex<Cache>>,
    device: Device,
    max_batch: usize,
    batched: Arc<AtomicUsize>,
}

impl Worker {
    /// Takes what waits in the queue (up to the batch bound), and runs it: jobs for one model
    /// and checkpoint together where G treats batch images apart, each alone otherwise.
    fn work(&self) {
        while let Ok(first) = self.receiver.recv() {
            let mut waiting = vec![first];
            while waiting.len() < self.max_batch {
                match self.receiver.try_recv() {
                    Ok(job) => waiting.push(job),
                    Err(_) => break,
                }
            }
            while !waiting.is_empty() {
                let head = waiting.remove(0);
                let loaded = match Cache::get(&self.cache, &head, &self.device) {
                    Ok(loaded) => loaded,
                    Err(error) => {
                        let _ = head.reply.send(Err(error));
                        continue;
                    }
                };
                let mut group = vec![head];
                if batch_independent(&loaded) {
                    let key = group[0].key();
                    let (same, others) = waiting.into_iter().partition(|job| job.key() == key);
                    group.extend::<Vec<Job>>(same);
                    waiting = others;
                }
                self.run(&loaded, group);
            }
        }
    }

    /// Decodes and translates `jobs` (one model and checkpoint), batching those of one size
    /// when there is memory for it.
    fn run(&self, loaded: &LoadedGenerator, jobs: Vec<Job>) {
        let device = &self.device;
        let mut by_size: HashMap<(u32, u32), Vec<(Job, DynamicImage)>> = HashMap::new();
        // A client that went away (timed out, disconnected) is not translated for.
        for job in jobs.into_iter().filter(|job| !job.reply.is_closed()) {
            match decode_image(&job.body, Path::new("upload")) {
                Ok(image) => by_size
                    .entry(image.dimensions())
                    .or_default()
                    .push((job, image)),
                Err(error) => {
                    let _ = job.reply.send(Err(ApiError::from_library(error)));
                }
            }
        }
        for ((width, height), group) in by_size {
            let fits = || {
                let bytes = memory::inference_bytes(
                    &loaded.model,
                    group.len(),
                    height as usize,
                    width as usize,
                );
                memory::ensure_fits(bytes, String::new, device).is_ok()
            };
            if group.len() > 1 && fits() {
                let (jobs, images): (Vec<Job>, Vec<DynamicImage>) = group.into_iter().unzip();
                self.batched.fetch_add(jobs.len(), Ordering::SeqCst);
                match guarded(|| translate_batch(loaded, &images, device)) {
                    Ok(results) => {
                        for (job, result) in jobs.into_iter().zip(results) {
                            let _ = job.reply.send(Ok(encode_png(&result)));
                        }
                    }
                    Err(error) => {
                        for job in jobs {
                            let _ = job.reply.send(Err(error.clone()));
                        }
                    }
                }
                continue;
            }
            for (job, image) in group {
                let result = guarded(|| {
                    let _stream = RANDOM_STREAM.lock().unwrap_or_else(PoisonError::into_inner);
                    device.seed(job.seed);
                    translate_batch(loaded, std::slice::from_ref(&image), device)
                });
                let _ = job
                    .reply
                    .send(result.map(|mut images| encode_png(&images.remove(0))));
            }
        }
    }
}

/// Runs a translation, turning its errors and a panic (a bug) into the reply's error, so that
/// a worker outlives any request.
fn guarded(
    translate: impl FnOnce() -> crate::Result<Vec<RgbImage>>,
) -> std::result::Result<Vec<RgbImage>, ApiError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(translate)) {
        Ok(result) => result.map_err(ApiError::from_library),
        Err(_) => Err(ApiError::internal(
            "the translation failed (a bug, reported on stderr)",
        )),
    }
}

/// Loaded generators, the least recently used dropped first when their weights pass the bound.
struct Cache {
    bound: u64,
    clock: u64,
    entries: Vec<Entry>,
}

struct Entry {
    key: (String, String, bool),
    loaded: Arc<LoadedGenerator>,
    /// When the weights file was written: a run that is still training saves new weights
    /// under the same name, and they replace the cached ones.
    written: Option<SystemTime>,
    bytes: u64,
    used: u64,
}

impl Cache {
    fn new(bound: u64) -> Self {
        Self {
            bound,
            clock: 0,
            entries: Vec::new(),
        }
    }

    /// The generator of `job`, loaded on first use or when its file was written again since
    /// (without holding the lock while it loads).
    fn get(
        cache: &Mutex<Cache>,
        job: &Job,
        device: &Device,
    ) -> std::result::Result<Arc<LoadedGenerator>, ApiError> {
        let key = job.key();
        let written = weights_file(&job.source)
            .ok()
            .and_then(|file| file.metadata().ok()?.modified().ok());
        {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.clock += 1;
            let clock = cache.clock;
            let current = |e: &&mut Entry| e.key == key && e.written == written;
            if let Some(entry) = cache.entries.iter_mut().find(current) {
                entry.used = clock;
                return Ok(entry.loaded.clone());
            }
        }
        let loaded = load_generator(&job.source, &ModelOverrides::default(), job.eval, device)
            .map_err(ApiError::from_library)?;
        let loaded = Arc::new(loaded);
        let bytes = memory::weights_bytes(&loaded.model) as u64;
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.entries.retain(|e| e.key != key);
        while !cache.entries.is_empty()
            && cache.entries.iter().map(|e| e.bytes).sum::<u64>() + bytes > cache.bound
        {
            let oldest = (0..cache.entries.len())
                .min_by_key(|&i| cache.entries[i].used)
                .unwrap_or(0);
            cache.entries.remove(oldest);
        }
        let used = cache.clock;
        cache.entries.push(Entry {
            key,
            loaded: loaded.clone(),
            written,
            bytes,
            used,
        });
        Ok(loaded)
    }
}
