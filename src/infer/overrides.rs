//! Architecture options given for a run or checkpoint that already has its own (test, translate,
//! resume): `None` means "as the checkpoint says".

use crate::error::OptionChange;
use crate::model::{GeneratorArch, ModelOptions, NormKind};

/// The generator options a caller gives on top of a checkpoint's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelOverrides {
    pub net_g: Option<GeneratorArch>,
    pub ngf: Option<usize>,
    pub input_nc: Option<usize>,
    pub output_nc: Option<usize>,
    pub norm: Option<NormKind>,
    pub dropout: Option<bool>,
}

impl ModelOverrides {
    /// `base` with every given option applied.
    pub fn apply(&self, base: &ModelOptions) -> ModelOptions {
        let mut model = base.clone();
        model.net_g = self.net_g.unwrap_or(model.net_g);
        model.ngf = self.ngf.unwrap_or(model.ngf);
        model.input_nc = self.input_nc.unwrap_or(model.input_nc);
        model.output_nc = self.output_nc.unwrap_or(model.output_nc);
        model.norm = self.norm.unwrap_or(model.norm);
        model.dropout = self.dropout.unwrap_or(model.dropout);
        model
    }

    /// The given options that contradict `saved`, named as the official options.
    pub fn conflicts(&self, saved: &ModelOptions) -> Vec<OptionChange> {
        fn check<T: ToString>(
            option: &'static str,
            saved: T,
            given: Option<T>,
        ) -> Option<OptionChange> {
            let (saved, given) = (saved.to_string(), given?.to_string());
            (saved != given).then_some(OptionChange {
                option,
                saved,
                given,
            })
        }
        [
            check("netG", saved.net_g, self.net_g),
            check("ngf", saved.ngf, self.ngf),
            check("input_nc", saved.input_nc, self.input_nc),
            check("output_nc", saved.output_nc, self.output_nc),
            check("norm", saved.norm, self.norm),
            check("no_dropout", !saved.dropout, self.dropout.map(|d| !d)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
