//! `pix2pix export`: a generator (and a run's discriminator) as official state_dicts (`.pth` or
//! `.safetensors`), which PyTorch loads with `load_state_dict(strict=True)` into the official
//! networks, or a generator as an ONNX model ([`crate::interop::onnx`]).

use std::path::{Path, PathBuf};

use super::ModelOverrides;
use super::{GeneratorSource, LoadedGenerator, load_generator, trained_direction};
use crate::checkpoint::{Checkpoints, SavedRun, is_run_file};
use crate::error::{Error, Result};
use crate::interop::onnx::OnnxOptions;
use crate::interop::{write_pth, write_safetensors};

/// The export's file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// PyTorch's `torch.save` format.
    #[default]
    Pth,
    Safetensors,
    /// The generator as an ONNX graph.
    Onnx,
    /// A folder that runs the generator in the browser: [`crate::serve::web`].
    Web,
}

crate::names::named_values!(ExportFormat, "format", {
    Pth => "pth",
    Safetensors => "safetensors",
    Onnx => "onnx",
    Web => "web",
});

impl ExportFormat {
    /// The format a file name asks for: `.onnx`, `.safetensors`, otherwise `.pth`.
    pub fn of_output(output: &Path) -> Self {
        let extension = output.extension().and_then(|e| e.to_str()).unwrap_or("");
        match extension.to_ascii_lowercase().as_str() {
            "onnx" => ExportFormat::Onnx,
            "safetensors" => ExportFormat::Safetensors,
            _ => ExportFormat::Pth,
        }
    }
}

/// What an export writes, and where.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// How an ONNX export is made (for the other formats, unused).
    pub onnx: OnnxOptions,
    /// The generator's file.
    pub output: PathBuf,
    /// Replace existing output files (never a run's own files).
    pub force: bool,
}

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

/// Refuses to write over a run's own files, and over anything else without `force`: cheap, so
/// callers check before loading a network (the export functions check again).
pub fn check_outputs(outputs: &[PathBuf], force: bool) -> Result<()> {
    for path in outputs {
        if is_run_file(path) {
            return Err(Error::RunFile { path: path.clone() });
        }
        crate::fsutil::refuse_special(path)?;
        if path.exists() && !force {
            return Err(Error::OutputExists { path: path.clone() });
        }
    }
    Ok(())
}

/// Exports checkpoint `epoch` in `run_dir`: as state_dicts, G and D (when the run has one) of our
/// checkpoint, or G of a folder in the official layout; as ONNX, the generator, with the run's
/// direction in its metadata. Returns the files written.
pub fn export_run(run_dir: &Path, epoch: &str, options: &ExportOptions) -> Result<Vec<PathBuf>> {
    if options.format == ExportFormat::Web {
        return Err(web_is_a_folder());
    }
    let output = options.output.as_path();
    let device = crate::device::cpu()?;
    let checkpoints = Checkpoints::new(run_dir);
    // ONNX holds G only; a folder in the official layout (a pretrained model) has no options
    // to rebuild D with, and its G is read like any generator file.
    if options.format == ExportFormat::Onnx || !checkpoints.has_options() {
        check_outputs(&[output.to_path_buf()], options.force)?;
        let source = GeneratorSource::Run {
            dir: run_dir.to_path_buf(),
            epoch: epoch.into(),
        };
        let loaded = load_generator(&source, &ModelOverrides::default(), true, &device)?;
        let mut options = options.clone();
        options.onnx.direction = options
            .onnx
            .direction
            .or(trained_direction(&source, &loaded));
        export_generator(&loaded, &options)?;
        return Ok(vec![output.to_path_buf()]);
    }
    let has_discriminator = checkpoints.network_file(epoch, "D").is_file();
    let mut outputs = vec![output.to_path_buf()];
    if has_discriminator {
        let d_output = discriminator_output(output);
        if d_output == output {
            return Err(Error::InvalidOption {
                option: "output",
                reason: "cannot derive a separate file name for D".into(),
            });
        }
        outputs.push(d_output);
    }
    check_outputs(&outputs, options.force)?;
    let run: SavedRun = checkpoints.load_options()?;
    let write = |path: &Path, dict| match options.format {
        ExportFormat::Safetensors => write_safetensors(path, &dict),
        _ => write_pth(path, &dict),
    };
    let generator = checkpoints.load_network(epoch, "G", run.model.generator(&device))?;
    write(output, run.model.generator_state_dict(&generator))?;
    if has_discriminator {
        let d = checkpoints.load_network(epoch, "D", run.model.discriminator(&device))?;
        write(&outputs[1], run.model.discriminator_state_dict(&d))?;
    }
    Ok(outputs)
}

/// Exports a loaded generator in `options.format` to `options.output`, atomically.
pub fn export_generator(loaded: &LoadedGenerator, options: &ExportOptions) -> Result<()> {
    let output = options.output.as_path();
    check_outputs(&[output.to_path_buf()], options.force)?;
    match options.format {
        ExportFormat::Pth => write_pth(
            output,
            &loaded.model.generator_state_dict(&loaded.generator),
        ),
        ExportFormat::Safetensors => write_safetensors(
            output,
            &loaded.model.generator_state_dict(&loaded.generator),
        ),
        #[cfg(feature = "onnx")]
        ExportFormat::Onnx => {
            let bytes =
                crate::interop::onnx::onnx_bytes(&loaded.generator, &loaded.model, &options.onnx)?;
            crate::fsutil::write_atomic(output, &bytes)
        }
        #[cfg(not(feature = "onnx"))]
        ExportFormat::Onnx => Err(Error::InvalidOption {
            option: "format",
            reason: "onnx: this build has no ONNX export (the library's `onnx` feature)".into(),
        }),
        ExportFormat::Web => Err(web_is_a_folder()),
    }
}

/// A web export is a folder with the page, written by `serve::web::export_web` (the library's
/// `serve` feature), not a file.
fn web_is_a_folder() -> Error {
    Error::InvalidOption {
        option: "format",
        reason: "web: a folder with the page, written by serve::web::export_web".into(),
    }
}
