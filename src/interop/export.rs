//! `pix2pix export`: our checkpoints as official state_dicts (`.pth` or `.safetensors`), which
//! PyTorch loads with `load_state_dict(strict=True)` into the official networks.

use std::path::{Path, PathBuf};

use super::{discriminator_state_dict, generator_state_dict, write_pth, write_safetensors};
use crate::checkpoint::{Checkpoints, SavedRun, is_run_file};
use crate::error::{Error, Result};

/// The export's file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// PyTorch's `torch.save` format.
    #[default]
    Pth,
    Safetensors,
}

crate::names::named_values!(ExportFormat, "format", {
    Pth => "pth",
    Safetensors => "safetensors",
});

/// Where D goes when G goes to `output`: `..._net_G.ext` becomes `..._net_D.ext`, any other
/// name gets `_D` before its extension.
pub fn discriminator_output(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    let ext = output.extension().and_then(|s| s.to_str()).unwrap_or("pth");
    let d_stem = match stem.strip_suffix("_net_G") {
        Some(base) => format!("{base}_net_D"),
        None => format!("{stem}_D"),
    };
    output.with_file_name(format!("{d_stem}.{ext}"))
}

/// Exports G (and D, when the run has one) of checkpoint `epoch` in `run_dir`; returns the
/// files written. An existing output is replaced only with `force`, and never when it is one of a
/// run's own files.
pub fn export_run(
    run_dir: &Path,
    epoch: &str,
    format: ExportFormat,
    output: &Path,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let checkpoints = Checkpoints::new(run_dir);
    let has_discriminator = checkpoints.network_file(epoch, "D").is_file();
    let mut outputs = vec![output.to_path_buf()];
    if has_discriminator {
        outputs.push(discriminator_output(output));
    }
    for path in &outputs {
        if is_run_file(path) {
            return Err(Error::RunFile { path: path.clone() });
        }
        if path.exists() && !force {
            return Err(Error::OutputExists { path: path.clone() });
        }
    }
    let run: SavedRun = checkpoints.load_options()?;
    let device = crate::device::cpu()?;
    let write = |path: &Path, dict| match format {
        ExportFormat::Pth => write_pth(path, &dict),
        ExportFormat::Safetensors => write_safetensors(path, &dict),
    };
    let generator = checkpoints.load_network(epoch, "G", run.model.generator(&device))?;
    write(output, generator_state_dict(&generator, &run.model))?;
    let mut written = vec![output.to_path_buf()];
    if has_discriminator {
        let d = checkpoints.load_network(epoch, "D", run.model.discriminator(&device))?;
        let d_output = discriminator_output(output);
        if d_output == output {
            return Err(Error::InvalidOption {
                option: "output",
                reason: "cannot derive a separate file name for D".into(),
            });
        }
        write(&d_output, discriminator_state_dict(&d, &run.model))?;
        written.push(d_output);
    }
    Ok(written)
}
