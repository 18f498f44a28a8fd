//! Flag groups shared by the commands. Long names are kebab-case; each official flag also answers
//! to its official spelling (`--netG`, `--lambda_L1`, ...). Values are `Option`s applied over a
//! base (the library's defaults, or a run's saved options), so that a flag the user typed can
//! always be told from a default; the defaults shown in the help are the library's.

use std::path::PathBuf;

use clap::Args;
use pix2pix::checkpoint::LATEST;
use pix2pix::data::tools::download::FetchLimits;
use pix2pix::data::{DataOptions, Direction, Preprocess};
use pix2pix::device::DeviceChoice;
use pix2pix::infer::ModelOverrides;
use pix2pix::model::{DiscriminatorArch, GeneratorArch, InitType, ModelOptions, NormKind};
use pix2pix::train::TrainOptions;

/// Sets each named field of `$options` that `$args` holds as `Some`.
macro_rules! override_fields {
    ($options:expr, $args:expr, $($field:ident),+ $(,)?) => {
        $(
            if let Some(value) = &$args.$field {
                $options.$field = value.clone();
            }
        )+
    };
}
pub(crate) use override_fields;

/// Network architecture and initialisation.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Generator: unet_256 (default), unet_128, unet_<N> (N a power of two >= 32), resnet_9blocks, resnet_6blocks
    #[arg(long = "net-g", visible_alias = "netG", value_name = "ARCH")]
    pub net_g: Option<GeneratorArch>,
    /// Discriminator: basic (70x70 PatchGAN, default), n_layers, pixel
    #[arg(long = "net-d", visible_alias = "netD", value_name = "ARCH")]
    pub net_d: Option<DiscriminatorArch>,
    /// Layers of the n_layers discriminator [default: 3]
    #[arg(long = "n-layers-d", visible_alias = "n_layers_D")]
    pub n_layers_d: Option<usize>,
    /// Generator filters in the first conv layer [default: 64]
    #[arg(long)]
    pub ngf: Option<usize>,
    /// Discriminator filters in the first conv layer [default: 64]
    #[arg(long)]
    pub ndf: Option<usize>,
    /// Input image channels: 3 (RGB) or 1 (grayscale) [default: 3]
    #[arg(long = "input-nc", visible_alias = "input_nc")]
    pub input_nc: Option<usize>,
    /// Output image channels: 3 or 1 [default: 3]
    #[arg(long = "output-nc", visible_alias = "output_nc")]
    pub output_nc: Option<usize>,
    /// Normalisation: batch (default), instance, none
    #[arg(long)]
    pub norm: Option<NormKind>,
    /// No dropout in the generator
    #[arg(long = "no-dropout", visible_alias = "no_dropout")]
    pub no_dropout: bool,
    /// Weight init: normal (default), xavier, kaiming, orthogonal
    #[arg(long = "init-type", visible_alias = "init_type")]
    pub init_type: Option<InitType>,
    /// Scale of normal, xavier and orthogonal init [default: 0.02]
    #[arg(long = "init-gain", visible_alias = "init_gain")]
    pub init_gain: Option<f64>,
    /// Unconditional discriminator: D sees only B (the paper's ablation)
    #[arg(long)]
    pub unconditional: bool,
}

impl ModelArgs {
    /// `base` with every given flag applied.
    pub fn resolve(&self, base: &ModelOptions) -> ModelOptions {
        let mut m = self.overrides().apply(base);
        override_fields!(m, self, net_d, n_layers_d, ndf);
        m.init.init_type = self.init_type.unwrap_or(m.init.init_type);
        m.init.gain = self.init_gain.unwrap_or(m.init.gain);
        if self.unconditional {
            m.conditional_d = false;
        }
        m
    }

    /// The generator flags given, to check against a checkpoint.
    pub fn overrides(&self) -> ModelOverrides {
        ModelOverrides {
            net_g: self.net_g,
            ngf: self.ngf,
            input_nc: self.input_nc,
            output_nc: self.output_nc,
            norm: self.norm,
            dropout: self.no_dropout.then_some(false),
        }
    }
}

/// The dataset and its preprocessing.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Dataset folder: <dataroot>/<phase>/ holds A|B side-by-side images
    #[arg(long)]
    pub dataroot: Option<PathBuf>,
    /// Subfolder of the dataroot: train, val, test, ...
    #[arg(long)]
    pub phase: Option<String>,
    /// AtoB (default) or BtoA: which half is the input
    #[arg(long)]
    pub direction: Option<Direction>,
    /// resize_and_crop (default), crop, scale_width, scale_width_and_crop, none
    #[arg(long)]
    pub preprocess: Option<Preprocess>,
    /// Resize images to this size [default: 286]
    #[arg(long = "load-size", visible_alias = "load_size")]
    pub load_size: Option<usize>,
    /// Then crop to this size [default: 256]
    #[arg(long = "crop-size", visible_alias = "crop_size")]
    pub crop_size: Option<usize>,
    /// No random horizontal flips
    #[arg(long = "no-flip", visible_alias = "no_flip")]
    pub no_flip: bool,
    /// Use at most this many images
    #[arg(long = "max-dataset-size", visible_alias = "max_dataset_size")]
    pub max_dataset_size: Option<usize>,
    /// Threads decoding and augmenting images [default: 4]
    #[arg(long = "num-threads", visible_alias = "num_threads")]
    pub num_threads: Option<usize>,
    /// Skip unreadable images with a warning instead of stopping
    #[arg(long = "skip-bad", visible_alias = "skip_bad")]
    pub skip_bad: bool,
}

impl DataArgs {
    /// `base` with every given flag applied.
    pub fn resolve(&self, base: &DataOptions) -> DataOptions {
        let mut d = base.clone();
        override_fields!(
            d,
            self,
            dataroot,
            phase,
            direction,
            preprocess,
            load_size,
            crop_size,
            num_threads
        );
        if self.no_flip {
            d.flip = false;
        }
        d.max_dataset_size = self.max_dataset_size.or(d.max_dataset_size);
        d.skip_bad |= self.skip_bad;
        d
    }
}

/// Which run and checkpoint.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Name of the experiment: checkpoints go to <checkpoints_dir>/<name> [default: experiment_name]
    #[arg(long)]
    pub name: Option<String>,
    /// Where runs keep their checkpoints [default: checkpoints]
    #[arg(long = "checkpoints-dir", visible_alias = "checkpoints_dir")]
    pub checkpoints_dir: Option<PathBuf>,
    /// Which checkpoint to load: latest (default) or an epoch number
    #[arg(long)]
    pub epoch: Option<String>,
}

impl RunArgs {
    /// The run's name and its checkpoints folder, given or the library's defaults.
    pub fn locate(&self) -> (String, PathBuf) {
        let base = TrainOptions::default();
        let name = self.name.clone().unwrap_or(base.name);
        let dir = self.checkpoints_dir.clone().unwrap_or(base.checkpoints_dir);
        (name, dir)
    }

    /// `<checkpoints_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        let (name, dir) = self.locate();
        dir.join(name)
    }

    /// The checkpoint label.
    pub fn epoch(&self) -> String {
        self.epoch.clone().unwrap_or_else(|| LATEST.into())
    }
}

/// Which generator (test, translate and export).
#[derive(Args, Debug, Clone)]
pub struct GeneratorSourceArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A generator file instead of --name/--epoch: official (.pth), ours (.bpk) or an export (.safetensors)
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

impl GeneratorSourceArgs {
    /// The file given, or the run's checkpoint.
    pub fn source(&self) -> pix2pix::infer::GeneratorSource {
        use pix2pix::infer::GeneratorSource;
        match &self.checkpoint {
            Some(path) => GeneratorSource::File(path.clone()),
            None => GeneratorSource::Run {
                dir: self.run.run_dir(),
                epoch: self.run.epoch(),
            },
        }
    }

    /// Loads the generator these flags name, in eval mode or as in training.
    pub fn load(
        &self,
        eval: bool,
        device: &burn::prelude::Device,
    ) -> pix2pix::Result<pix2pix::infer::LoadedGenerator> {
        let overrides = self.model.overrides();
        let loaded = pix2pix::infer::load_generator(&self.source(), &overrides, eval, device)?;
        if let Some(first) = loaded.non_finite.first() {
            eprintln!(
                "warning: the generator's weights hold NaN or infinite values in {} tensors \
                 (first: {first}); its images will be blank or garbage",
                loaded.non_finite.len()
            );
        }
        Ok(loaded)
    }
}

/// Which generator to run and how (test and translate).
#[derive(Args, Debug, Clone)]
pub struct GeneratorArgs {
    #[command(flatten)]
    pub source: GeneratorSourceArgs,
    /// Running statistics and no dropout, instead of the paper's train-mode G
    #[arg(long)]
    pub eval: bool,
    /// Seed of test-time dropout [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
}

impl GeneratorArgs {
    /// Loads the generator these flags name.
    pub fn load(
        &self,
        device: &burn::prelude::Device,
    ) -> pix2pix::Result<pix2pix::infer::LoadedGenerator> {
        self.source.load(self.eval, device)
    }

    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or_default()
    }
}

/// Where the networks run (the commands that run them).
#[derive(Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    /// Where the networks run: cpu (default), tch, tch:cuda:N, cuda:N or wgpu; each backend
    /// but cpu needs its cargo feature (tch, cuda, wgpu)
    #[arg(long, value_name = "DEVICE")]
    device: Option<DeviceChoice>,
    /// The official spelling of the device: -1 for the CPU, N for CUDA GPU N
    #[arg(
        long = "gpu-ids",
        visible_alias = "gpu_ids",
        value_name = "IDS",
        allow_hyphen_values = true,
        conflicts_with = "device"
    )]
    gpu_ids: Option<String>,
}

impl DeviceArgs {
    /// The device of --device or --gpu_ids; the default CPU backend without either.
    pub fn device(&self) -> anyhow::Result<burn::prelude::Device> {
        let choice = match (&self.device, &self.gpu_ids) {
            (Some(choice), _) => *choice,
            (None, Some(ids)) => DeviceChoice::from_gpu_ids(ids)?,
            (None, None) => DeviceChoice::default(),
        };
        let device = choice.device()?;
        if matches!(choice, DeviceChoice::Cuda(_) | DeviceChoice::Wgpu) {
            // Otherwise the first step or image is a silent stall (BENCHMARKS.md: 90 s on a
            // software Vulkan driver).
            eprintln!(
                "{choice}: CubeCL compiles and autotunes its kernels at the first use of each                  layer size: the first steps are slow (seconds on a GPU, minutes on a software                  driver), later ones run at speed"
            );
        }
        Ok(device)
    }
}

/// How long a download may stall and how large it may be.
#[derive(Args, Debug, Clone, Default)]
pub struct FetchArgs {
    /// Seconds without an answer or a byte from the server before the download stops (it
    /// continues where it stopped when run again) [default: 60]
    #[arg(long)]
    timeout: Option<u64>,
    /// The most the file may hold, e.g. 500MB, 2GB or 2GiB; a larger file is refused before it fills
    /// the disk [default: 2GB for a model, 32GB for a dataset]
    #[arg(long = "max-size", visible_alias = "max_size")]
    max_size: Option<bytesize::ByteSize>,
}

impl FetchArgs {
    /// The limits, with `max_bytes` where no --max-size was given.
    pub fn limits(&self, max_bytes: u64) -> FetchLimits {
        let mut limits = FetchLimits::new(max_bytes);
        if let Some(seconds) = self.timeout {
            limits.timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(size) = self.max_size {
            limits.max_bytes = size.as_u64();
        }
        limits
    }
}
