//! pix2pix (Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial
//! Networks", CVPR 2017) in Rust on Burn: the official networks, objective, training schedule,
//! data layout and results pages, running on the CPU out of the box.
//!
//! The modules, from the networks up:
//! - [`model`]: U-Net and ResNet generators, PatchGAN discriminators, norms and initialisation,
//!   each network described once by its plan ([`model::plan`]);
//! - [`backend`]: where their operations run (our CPU kernels, or Burn's) and mixed precision;
//! - [`loss`]: the GAN losses, L1 and the WGAN-GP penalty;
//! - [`data`]: the aligned A|B dataset, preprocessing, the prefetching loader, and
//!   [`data::tools`], which make datasets from users' images;
//! - [`checkpoint`]: a run folder's files (weights, optimiser states, options);
//! - [`train`]: the optimisation step, schedules and the training loop;
//! - [`infer`]: loading a generator (ours or official), `test` and `translate`;
//! - [`interop`]: the official state_dict layout, `.pth` and safetensors files, export (also to
//!   ONNX), the official pretrained generators;
//! - [`metrics`]: the image metrics of `test` (its HTML pages are internal: `report`);
//! - [`bench`](mod@bench) and [`demo`]: timings, and the whole workflow on a procedural dataset;
//! - `serve` (with the `serve` feature, which `cli` brings): the web page, HTTP API and training
//!   dashboard of `pix2pix serve`;
//! - [`device`]: the compiled backends and device names; [`progress`]: how long jobs report;
//!   [`seed`]: the random streams; `fsutil` (internal): crash-safe writes; [`memory`]: the
//!   memory check before networks are built, from [`footprint`]'s counts; [`error`]: the errors.
//!
//! Train a small U-Net on a procedural dataset, reporting each epoch:
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//!
//! use pix2pix::train::{RunOptions, TrainEvent, train};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let root = dir.path();
//! pix2pix::data::synthetic::write_split(&root.join("shapes/train"), 4, 32, 0)?;
//! let mut options = RunOptions::default();
//! options.model.net_g = "unet_32".parse()?;
//! (options.model.ngf, options.model.ndf) = (8, 8);
//! options.data.dataroot = root.join("shapes");
//! (options.data.load_size, options.data.crop_size) = (32, 32);
//! options.train.checkpoints_dir = root.join("checkpoints");
//! options.train.name = "shapes".into();
//! (options.train.n_epochs, options.train.n_epochs_decay) = (1, 0);
//!
//! let device = pix2pix::device::cpu()?;
//! let mut observer = |event: &TrainEvent| {
//!     if let TrainEvent::EpochFinished { epoch, means: Some(losses), .. } = event {
//!         println!("epoch {epoch}: {losses}");
//!     }
//! };
//! let summary = train(&options, &device, None, &AtomicBool::new(false), &mut observer)?;
//! assert!(summary.run_dir.join("latest_net_G.bpk").is_file());
//! # Ok(())
//! # }
//! ```
//!
//! [`infer`] shows loading a generator file and translating an image.

pub use pix2pix_nets::{backend, footprint, model, pixels, seed, weights};

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod demo;
pub mod device;
pub mod error;
pub(crate) mod fsutil;
pub mod infer;
pub mod interop;
pub mod loss;
pub mod memory;
pub mod metrics;
/// Option values spelled as on the official command line, for the enums of this crate too.
mod names {
    pub(crate) use pix2pix_nets::names::named_values;
}
pub mod progress;
pub(crate) mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod train;

pub use backend::Precision;
pub use error::{Error, Result};
