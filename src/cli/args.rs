//! Flag groups shared by the subcommands. Long names are kebab-case; each official flag also
//! answers to its official spelling (`--netG`, `--lambda_L1`, ...). Options are `Option`s so that
//! a run's saved options fill in what the command line leaves out.

use std::path::PathBuf;

use clap::Args;
use pix2pix::data::{DataOptions, Direction, Preprocess};
use pix2pix::infer::ModelOverrides;
use pix2pix::loss::GanMode;
use pix2pix::model::{
    DiscriminatorArch, GeneratorArch, InitType, ModelOptions, NormKind, Precision,
};
use pix2pix::options::TrainOptions;
use pix2pix::train::LrPolicy;

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
        m.net_d = self.net_d.unwrap_or(m.net_d);
        m.n_layers_d = self.n_layers_d.unwrap_or(m.n_layers_d);
        m.ndf = self.ndf.unwrap_or(m.ndf);
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
    pub fn resolve(&self, base: &DataOptions) -> DataOptions {
        let mut d = base.clone();
        if let Some(v) = &self.dataroot {
            d.dataroot = v.clone();
        }
        if let Some(v) = &self.phase {
            d.phase = v.clone();
        }
        d.direction = self.direction.unwrap_or(d.direction);
        d.preprocess = self.preprocess.unwrap_or(d.preprocess);
        d.load_size = self.load_size.unwrap_or(d.load_size);
        d.crop_size = self.crop_size.unwrap_or(d.crop_size);
        if self.no_flip {
            d.flip = false;
        }
        d.max_dataset_size = self.max_dataset_size.or(d.max_dataset_size);
        d.num_threads = self.num_threads.unwrap_or(d.num_threads);
        d.skip_bad |= self.skip_bad;
        d
    }
}

/// Which run and checkpoint.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Name of the experiment: checkpoints go to <checkpoints_dir>/<name>
    #[arg(long, default_value = "experiment_name")]
    pub name: String,
    /// Where runs keep their checkpoints
    #[arg(
        long = "checkpoints-dir",
        visible_alias = "checkpoints_dir",
        default_value = "checkpoints"
    )]
    pub checkpoints_dir: PathBuf,
    /// Which checkpoint to load: latest or an epoch number
    #[arg(long, default_value = "latest")]
    pub epoch: String,
}

/// Which generator to run and how (test and translate).
#[derive(Args, Debug, Clone)]
pub struct GeneratorArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A generator file instead of --name/--epoch: ours (*_net_G.bpk) or official (*.pth)
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Running statistics and no dropout, instead of the paper's train-mode G
    #[arg(long)]
    pub eval: bool,
    /// Seed of test-time dropout
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The schedule and objective of training.
#[derive(Args, Debug, Clone)]
pub struct ScheduleArgs {
    /// Epochs at the initial learning rate
    #[arg(long = "n-epochs", visible_alias = "n_epochs", default_value_t = 100)]
    pub n_epochs: usize,
    /// Epochs of linear decay to zero
    #[arg(
        long = "n-epochs-decay",
        visible_alias = "n_epochs_decay",
        default_value_t = 100
    )]
    pub n_epochs_decay: usize,
    /// Number of the first epoch (when starting from a copied checkpoint)
    #[arg(
        long = "epoch-count",
        visible_alias = "epoch_count",
        default_value_t = 1
    )]
    pub epoch_count: usize,
    /// Initial learning rate of Adam
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Adam's beta1
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f64,
    /// linear, step, plateau or cosine
    #[arg(
        long = "lr-policy",
        visible_alias = "lr_policy",
        default_value = "linear"
    )]
    pub lr_policy: LrPolicy,
    /// Epochs between x0.1 decays with --lr_policy step
    #[arg(
        long = "lr-decay-iters",
        visible_alias = "lr_decay_iters",
        default_value_t = 50
    )]
    pub lr_decay_iters: usize,
    /// vanilla (BCE, default), lsgan, wgangp
    #[arg(
        long = "gan-mode",
        visible_alias = "gan_mode",
        default_value = "vanilla"
    )]
    pub gan_mode: GanMode,
    /// Weight of the L1 term (0: the paper's "cGAN only")
    #[arg(
        long = "lambda-l1",
        visible_alias = "lambda_L1",
        default_value_t = 100.0
    )]
    pub lambda_l1: f64,
    /// Train G with L1 alone, no discriminator (the paper's "L1 only")
    #[arg(long = "no-gan", visible_alias = "no_gan")]
    pub no_gan: bool,
    /// Images per step
    #[arg(long = "batch-size", visible_alias = "batch_size", default_value_t = 1)]
    pub batch_size: usize,
    /// Seed of initialisation, shuffling, augmentation and dropout
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a numbered checkpoint every this many epochs
    #[arg(
        long = "save-epoch-freq",
        visible_alias = "save_epoch_freq",
        default_value_t = 5
    )]
    pub save_epoch_freq: usize,
    /// Also save latest every this many images (0: only at epoch ends)
    #[arg(
        long = "save-latest-freq",
        visible_alias = "save_latest_freq",
        default_value_t = 5000
    )]
    pub save_latest_freq: usize,
    /// Refresh the training page (web/index.html) every this many images
    #[arg(
        long = "display-freq",
        visible_alias = "display_freq",
        default_value_t = 400
    )]
    pub display_freq: usize,
    /// Log losses to loss_log.jsonl every this many images
    #[arg(
        long = "print-freq",
        visible_alias = "print_freq",
        default_value_t = 100
    )]
    pub print_freq: usize,
    /// Resume from the checkpoint chosen by --epoch (default latest)
    #[arg(long = "continue-train", visible_alias = "continue_train")]
    pub continue_train: bool,
    /// Convolutions in f32 (default), bf16 or f16; weights, norms and losses stay f32
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

impl ScheduleArgs {
    pub fn options(&self, run: &RunArgs) -> TrainOptions {
        TrainOptions {
            name: run.name.clone(),
            checkpoints_dir: run.checkpoints_dir.clone(),
            n_epochs: self.n_epochs,
            n_epochs_decay: self.n_epochs_decay,
            epoch_count: self.epoch_count,
            lr: self.lr,
            beta1: self.beta1,
            lr_policy: self.lr_policy,
            lr_decay_iters: self.lr_decay_iters,
            gan_mode: self.gan_mode,
            lambda_l1: self.lambda_l1,
            use_gan: !self.no_gan,
            batch_size: self.batch_size,
            seed: self.seed,
            save_epoch_freq: self.save_epoch_freq,
            save_latest_freq: self.save_latest_freq,
            display_freq: self.display_freq,
            print_freq: self.print_freq,
            precision: self.precision,
        }
    }
}
