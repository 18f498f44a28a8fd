//! The networks of pix2pix: generators (U-Net, ResNet), PatchGAN discriminators, and the options
//! that pick and size them (the official `--netG`, `--netD`, `--ngf`, `--norm`, ...).

pub mod init;
pub mod norm;
pub mod patchgan;
pub mod plan;
pub mod resnet;
pub mod state;
pub mod unet;

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::backend::Precision;
pub use init::{InitOptions, InitType};
pub use norm::NormKind;
pub use patchgan::{NLayerDiscriminatorConfig, PatchDiscriminator, PixelDiscriminatorConfig};
pub use plan::Plan;
pub use resnet::{Resnet, ResnetConfig};
pub use unet::{Unet, UnetConfig};

/// `--netG`: `unet_<N>` (N a power of two >= 32, log2(N) downsamplings) or `resnet_<n>blocks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum GeneratorArch {
    Unet { num_downs: usize },
    Resnet { n_blocks: usize },
}

impl Default for GeneratorArch {
    fn default() -> Self {
        GeneratorArch::Unet { num_downs: 8 }
    }
}

impl fmt::Display for GeneratorArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneratorArch::Unet { num_downs } => write!(f, "unet_{}", 1usize << num_downs),
            GeneratorArch::Resnet { n_blocks } => write!(f, "resnet_{n_blocks}blocks"),
        }
    }
}

impl FromStr for GeneratorArch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "unknown generator '{s}': use unet_<N> with N a power of two from 32 to {} \
                 (unet_256, unet_128, unet_64, unet_32) or resnet_<N>blocks with N from 1 to {} \
                 (resnet_9blocks, resnet_6blocks)",
                1usize << Self::MAX_UNET_DOWNS,
                Self::MAX_RESNET_BLOCKS
            )
        };
        if let Some(size) = s.strip_prefix("unet_") {
            let size: usize = size.parse().map_err(|_| invalid())?;
            let sizes = (1 << UnetConfig::MIN_DOWNS)..=(1 << Self::MAX_UNET_DOWNS);
            if !size.is_power_of_two() || !sizes.contains(&size) {
                return Err(invalid());
            }
            return Ok(GeneratorArch::Unet {
                num_downs: size.trailing_zeros() as usize,
            });
        }
        if let Some(blocks) = s
            .strip_prefix("resnet_")
            .and_then(|rest| rest.strip_suffix("blocks"))
        {
            let n_blocks = blocks.parse().map_err(|_| invalid())?;
            if !(1..=Self::MAX_RESNET_BLOCKS).contains(&n_blocks) {
                return Err(invalid());
            }
            return Ok(GeneratorArch::Resnet { n_blocks });
        }
        Err(invalid())
    }
}

impl TryFrom<String> for GeneratorArch {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<GeneratorArch> for String {
    fn from(arch: GeneratorArch) -> String {
        arch.to_string()
    }
}

impl GeneratorArch {
    /// The deepest U-Net, unet_16384: its inputs are padded to multiples of 16384 pixels.
    pub const MAX_UNET_DOWNS: usize = 14;
    /// The most residual blocks (resnet_100blocks has about 120 M parameters).
    pub const MAX_RESNET_BLOCKS: usize = 100;

    /// Image sides must be multiples of this.
    pub fn size_multiple(self) -> usize {
        match self {
            GeneratorArch::Unet { num_downs } => 1 << num_downs,
            GeneratorArch::Resnet { .. } => 1 << resnet::DOWNSAMPLINGS,
        }
    }

    /// Why crops of `side` pixels do not suit this generator, if they do not.
    pub fn unsuitable_side(self, side: usize) -> Option<String> {
        if side == 0 {
            return Some("must be at least 1".into());
        }
        if let GeneratorArch::Resnet { .. } = self {
            // Reflection padding needs more than one pixel after the downsamplings.
            let least = 2 << resnet::DOWNSAMPLINGS;
            if side < least {
                return Some(format!(
                    "{side} pixels are too small for netG {self}: crops must be at least {least}"
                ));
            }
        }
        let multiple = self.size_multiple();
        (!side.is_multiple_of(multiple)).then(|| {
            format!(
                "{side} is not divisible by {multiple}, which netG {self} needs: use a multiple \
                 of {multiple} (or a smaller unet_<N>)"
            )
        })
    }
}

/// `--netD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DiscriminatorArch {
    /// The 70x70 PatchGAN (n_layers 3).
    #[default]
    Basic,
    /// A PatchGAN with `--n_layers_D` layers.
    NLayers,
    /// The 1x1 PixelGAN.
    Pixel,
}

crate::names::named_values!(DiscriminatorArch, "discriminator", {
    Basic => "basic",
    NLayers => "n_layers",
    Pixel => "pixel",
});

/// Everything that decides the shapes and initial values of G and D.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    pub input_nc: usize,
    pub output_nc: usize,
    pub ngf: usize,
    pub ndf: usize,
    pub net_g: GeneratorArch,
    pub net_d: DiscriminatorArch,
    pub n_layers_d: usize,
    pub norm: NormKind,
    pub dropout: bool,
    pub init: InitOptions,
    /// D sees concat(A, B) (pix2pix's conditional GAN); false: only B (the paper's ablation).
    pub conditional_d: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            input_nc: 3,
            output_nc: 3,
            ngf: 64,
            ndf: 64,
            net_g: GeneratorArch::default(),
            net_d: DiscriminatorArch::default(),
            n_layers_d: 3,
            norm: NormKind::Batch,
            dropout: true,
            init: InitOptions::default(),
            conditional_d: true,
        }
    }
}

impl ModelOptions {
    /// Channels the discriminator sees.
    pub fn discriminator_input_nc(&self) -> usize {
        if self.conditional_d {
            self.input_nc + self.output_nc
        } else {
            self.output_nc
        }
    }

    fn unet(&self, num_downs: usize) -> UnetConfig {
        UnetConfig::new(self.input_nc, self.output_nc, num_downs)
            .with_ngf(self.ngf)
            .with_norm(self.norm)
            .with_use_dropout(self.dropout)
    }

    fn resnet(&self, n_blocks: usize) -> ResnetConfig {
        ResnetConfig::new(self.input_nc, self.output_nc, n_blocks)
            .with_ngf(self.ngf)
            .with_norm(self.norm)
            .with_use_dropout(self.dropout)
    }

    /// G's plan: its layers as the official code nests them.
    pub fn generator_plan(&self) -> Plan {
        match self.net_g {
            GeneratorArch::Unet { num_downs } => self.unet(num_downs).plan(),
            GeneratorArch::Resnet { n_blocks } => self.resnet(n_blocks).plan(),
        }
    }

    /// D's plan.
    pub fn discriminator_plan(&self) -> Plan {
        let input_nc = self.discriminator_input_nc();
        match self.patchgan_layers() {
            Some(n_layers) => NLayerDiscriminatorConfig::new(input_nc)
                .with_ndf(self.ndf)
                .with_n_layers(n_layers)
                .with_norm(self.norm)
                .plan(),
            None => PixelDiscriminatorConfig::new(input_nc)
                .with_ndf(self.ndf)
                .with_norm(self.norm)
                .plan(),
        }
    }

    pub fn generator(&self, device: &Device) -> Generator {
        match self.net_g {
            GeneratorArch::Unet { num_downs } => {
                Generator::Unet(self.unet(num_downs).init(&self.init, device))
            }
            GeneratorArch::Resnet { n_blocks } => {
                Generator::Resnet(self.resnet(n_blocks).init(&self.init, device))
            }
        }
    }

    /// Checks values that cannot build the networks, naming the option.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |option, reason: String| Err(crate::Error::InvalidOption { option, reason });
        for (option, value) in [("input_nc", self.input_nc), ("output_nc", self.output_nc)] {
            if value != 1 && value != 3 {
                return invalid(option, format!("{value} channels: images have 1 or 3"));
            }
        }
        for (option, value) in [
            ("ngf", self.ngf),
            ("ndf", self.ndf),
            ("n_layers_D", self.n_layers_d),
        ] {
            if value == 0 {
                return invalid(option, "must be at least 1".into());
            }
        }
        if !self.init.gain.is_finite() {
            return invalid("init_gain", "must be a number".into());
        }
        // A library user can build any GeneratorArch; the parser only makes these.
        let (kind, value, range) = match self.net_g {
            GeneratorArch::Unet { num_downs } => (
                "downsamplings",
                num_downs,
                UnetConfig::MIN_DOWNS..=GeneratorArch::MAX_UNET_DOWNS,
            ),
            GeneratorArch::Resnet { n_blocks } => {
                ("blocks", n_blocks, 1..=GeneratorArch::MAX_RESNET_BLOCKS)
            }
        };
        if !range.contains(&value) {
            return invalid(
                "netG",
                format!("{value} {kind}: use {} to {}", range.start(), range.end()),
            );
        }
        Ok(())
    }

    /// The strided layers of the PatchGAN; None for the PixelGAN.
    fn patchgan_layers(&self) -> Option<usize> {
        match self.net_d {
            DiscriminatorArch::Basic => Some(3),
            DiscriminatorArch::NLayers => Some(self.n_layers_d),
            DiscriminatorArch::Pixel => None,
        }
    }

    /// Why D cannot see crops of `side` pixels, if it cannot: each strided layer halves them,
    /// and the PatchGAN needs a patch left after its last layer.
    pub fn unsuitable_discriminator_side(&self, side: usize) -> Option<String> {
        let n_layers = self.patchgan_layers()?;
        let plan = self.discriminator_plan();
        if plan.output_side(side).is_some() {
            return None;
        }
        let least = (1..=1 << 20).find(|&s| plan.output_side(s).is_some());
        Some(match least {
            Some(least) => format!(
                "{side} pixels leave no patch for netD {} with {n_layers} layers: crops must be \
                 at least {least} (or use fewer n_layers_D, or netD pixel)",
                self.net_d
            ),
            None => format!(
                "netD {} with {n_layers} layers is deeper than any crop",
                self.net_d
            ),
        })
    }

    /// Why `width` x `height` images (after preprocessing) do not suit G, or D too when
    /// `with_discriminator`, if they do not.
    pub fn unsuitable_image(
        &self,
        width: usize,
        height: usize,
        with_discriminator: bool,
    ) -> Option<String> {
        [width, height]
            .into_iter()
            .find_map(|side| self.net_g.unsuitable_side(side))
            .or_else(|| {
                with_discriminator
                    .then(|| self.unsuitable_discriminator_side(width.min(height)))
                    .flatten()
            })
    }

    pub fn discriminator(&self, device: &Device) -> PatchDiscriminator {
        PatchDiscriminator::from_plan(&self.discriminator_plan(), &self.init, device)
    }
}

/// A generator of either family.
#[allow(clippy::large_enum_variant)] // one per run, never in collections
#[derive(Module, Debug)]
pub enum Generator {
    Unet(Unet),
    Resnet(Resnet),
}

impl Generator {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Generator::Unet(g) => g.forward(x),
            Generator::Resnet(g) => g.forward(x),
        }
    }

    pub fn with_precision(self, precision: Precision) -> Self {
        match self {
            Generator::Unet(g) => Generator::Unet(Unet { precision, ..g }),
            Generator::Resnet(g) => Generator::Resnet(Resnet { precision, ..g }),
        }
    }
}

/// Learnable parameters, as PyTorch counts them (batch-norm running statistics excluded).
pub fn parameter_count<M: Module>(module: &M) -> usize {
    scan(module, false).count
}

/// The dotted names of the tensors (parameters and running statistics) holding NaN or
/// infinite values: weights that load but can only produce NaN images.
pub fn non_finite_tensors<M: Module>(module: &M) -> Vec<String> {
    scan(module, true).non_finite
}

/// A walk over a module's float tensors, by path.
#[derive(Default)]
struct Scan {
    path: Vec<String>,
    count: usize,
    check_values: bool,
    non_finite: Vec<String>,
}

impl ModuleVisitor for Scan {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let buffer = self.path.last().is_some_and(|n| n.starts_with("running_"));
        if !buffer {
            self.count += param.lazy_shape().num_elements();
        }
        if self.check_values {
            let value = param.val();
            let bad =
                value.clone().is_nan().any().into_scalar() || value.is_inf().any().into_scalar();
            if bad.to_bool() {
                self.non_finite.push(self.path.join("."));
            }
        }
    }
}

fn scan<M: Module>(module: &M, check_values: bool) -> Scan {
    let mut scan = Scan {
        check_values,
        ..Scan::default()
    };
    module.visit(&mut scan);
    scan
}
