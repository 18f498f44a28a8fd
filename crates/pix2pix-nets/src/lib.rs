//! The networks of pix2pix (Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with
//! Conditional Adversarial Networks", CVPR 2017) on Burn, and the kernels that run them fast on
//! the CPU: the U-Net and ResNet generators and the PatchGAN discriminators of the official
//! PyTorch code, with its layers, initialisation and normalisation semantics.
//!
//! - [`model`]: the networks, each described once by its plan ([`model::plan`]), and the
//!   options that pick and size them ([`model::ModelOptions`]);
//! - [`backend`]: where their operations run (our Flex kernels, or Burn's on every other
//!   backend) and mixed precision ([`Precision`]);
//! - [`footprint`]: what a network holds for an image size, counted from its plan (the
//!   `pix2pix` crate's memory check weighs it);
//! - [`pixels`]: images in and out of the networks, as the official code converts them;
//! - [`seed`]: the random streams of initialisation and dropout;
//! - [`weights`]: compact weight files (f16, bf16, 8 bits) for the browser.
//!
//! This crate depends on Burn and little else and builds for `wasm32-unknown-unknown`; the
//! `pix2pix` crate adds training, data, checkpoints, interoperability with the official code and
//! the command line. Build a U-Net and translate a random image:
//!
//! ```
//! use burn::prelude::*;
//! use pix2pix_nets::model::{GeneratorArch, ModelOptions};
//!
//! let device = Device::flex();
//! let options = ModelOptions {
//!     net_g: GeneratorArch::Unet { num_downs: 5 },
//!     ngf: 8,
//!     ..ModelOptions::default()
//! };
//! options.validate().unwrap();
//! let generator = options.generator(&device);
//! let image = Tensor::<4>::zeros([1, 3, 32, 32], &device);
//! assert_eq!(generator.forward(image).dims(), [1, 3, 32, 32]);
//! ```

pub mod backend;
pub mod error;
pub mod footprint;
pub mod model;
#[doc(hidden)]
pub mod names;
pub mod pixels;
pub mod seed;
pub mod weights;

pub use backend::Precision;
pub use error::{Error, Result};
