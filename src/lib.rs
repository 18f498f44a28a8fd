//! pix2pix (Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial
//! Networks", CVPR 2017) in Rust on Burn: the official networks, objective, training schedule,
//! data layout and results pages, running on CPU out of the box.
//!
//! - [`model`]: U-Net and ResNet generators, PatchGAN discriminators, norms and initialisation;
//! - [`loss`]: the GAN losses, L1 and the WGAN-GP penalty;
//! - [`data`]: the aligned A|B dataset, preprocessing and the prefetching loader;
//! - [`train`]: the optimisation step, schedules, checkpoints and the training loop;
//! - [`infer`]: loading a generator, `test` and `translate`;
//! - [`device`]: the compiled backends and `--device`;
//! - [`report`] and [`metrics`]: the HTML pages and the image metrics of `test`.

pub mod bench;
pub mod data;
pub mod demo;
pub mod device;
pub mod error;
pub mod fsutil;
pub mod infer;
pub mod interop;
pub mod loss;
pub mod metrics;
pub mod model;
mod names;
pub mod options;
pub mod report;
pub mod seed;
pub mod train;

pub use error::{Error, Result};
pub use options::{RunOptions, TrainOptions};
