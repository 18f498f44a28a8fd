//! `pix2pix export`: a run's checkpoint or a generator file as official state_dicts (.pth or
//! .safetensors), as an ONNX model, or as a static web page that runs it in the browser.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use pix2pix::infer::ModelOverrides;
use pix2pix::infer::export::{
    ExportFormat, ExportOptions, check_outputs, export_generator, export_run,
};
use pix2pix::infer::trained_direction;
use pix2pix::interop::onnx::{DEFAULT_OPSET, OnnxIo, OnnxOptions};
use pix2pix::serve::web::{WebExport, check_output, export_web};
use pix2pix::weights::WeightFormat;

use super::args::GeneratorSourceArgs;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    generator: GeneratorSourceArgs,
    /// pth (torch.save), safetensors, onnx, or web (a folder with a page that runs G in the
    /// browser) [default: from the output's extension, else pth]
    #[arg(long)]
    format: Option<ExportFormat>,
    /// File for G; from a run, D goes beside it (<epoch>_net_D.pth for <epoch>_net_G.pth); for
    /// --format web, the folder
    #[arg(long, short)]
    output: PathBuf,
    /// Replace existing output files (for --format web, a folder an earlier web export wrote)
    #[arg(long)]
    force: bool,
    /// Web: how the weights are stored: f16 (half the bytes of f32), bf16, int8 (a quarter) or f32 [default: f16]
    #[arg(long)]
    weights: Option<WeightFormat>,
    /// ONNX opset, 13 to 24 [default: 17]
    #[arg(long)]
    opset: Option<i64>,
    /// ONNX input and output: float (N,C,H,W in [-1,1], default) or uint8 (N,H,W,C images, 0-255)
    #[arg(long)]
    io: Option<OnnxIo>,
    /// ONNX: batch norm with each image's statistics (the official test mode) instead of running statistics
    #[arg(long = "batch-stats", visible_alias = "batch_stats")]
    batch_stats: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let format = args
        .format
        .unwrap_or_else(|| ExportFormat::of_output(&args.output));
    if args.weights.is_some() && format != ExportFormat::Web {
        bail!("--weights is for web exports: add --format web");
    }
    if format != ExportFormat::Onnx {
        let onnx_flags = [
            ("--opset", args.opset.is_some()),
            ("--io", args.io.is_some()),
            ("--batch-stats", args.batch_stats),
        ];
        if let Some((flag, _)) = onnx_flags.iter().find(|(_, given)| *given) {
            bail!("{flag} is for ONNX exports: add --format onnx (or name the output .onnx)");
        }
    }
    if format == ExportFormat::Web {
        return web(args);
    }
    let options = ExportOptions {
        format,
        onnx: OnnxOptions {
            opset: args.opset.unwrap_or(DEFAULT_OPSET),
            io: args.io.unwrap_or_default(),
            batch_stats: args.batch_stats,
            direction: None,
        },
        output: args.output.clone(),
        force: args.force,
    };
    let written = if args.generator.checkpoint.is_some() {
        check_outputs(std::slice::from_ref(&options.output), options.force)?;
        let device = pix2pix::device::cpu()?;
        let loaded = args.generator.load(true, &device)?;
        let options = ExportOptions {
            onnx: OnnxOptions {
                direction: trained_direction(&args.generator.source(), &loaded),
                ..options.onnx
            },
            ..options
        };
        export_generator(&loaded, &options)?;
        vec![options.output]
    } else {
        if args.generator.model.overrides() != ModelOverrides::default() {
            bail!(
                "--netG, --ngf, --norm, --input_nc, --output_nc and --no_dropout describe a \
                 --checkpoint file; a run's own options are in its train_opt.json"
            );
        }
        let run = &args.generator.run;
        export_run(&run.run_dir(), &run.epoch(), &options)?
    };
    for file in written {
        println!("wrote {}", file.display());
    }
    Ok(())
}

/// `--format web`: the folder of a static site that translates with G in the browser.
fn web(args: ExportArgs) -> Result<()> {
    let options = WebExport {
        weights: args.weights.unwrap_or_default(),
        output: args.output.clone(),
        force: args.force,
    };
    check_output(&options)?;
    let device = pix2pix::device::cpu()?;
    // Eval or not, G's weights and running statistics are the same; the page offers both modes.
    let loaded = args.generator.load(true, &device)?;
    let dir = export_web(&args.generator.source(), &loaded, &options)?;
    println!(
        "wrote {}: serve it with any static file server, e.g. python3 -m http.server --directory {}",
        dir.display(),
        dir.display()
    );
    Ok(())
}
