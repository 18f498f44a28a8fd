//! `pix2pix export`: a run's checkpoint or a generator file as official state_dicts (.pth or
//! .safetensors) or as an ONNX model.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use pix2pix::infer::ModelOverrides;
use pix2pix::infer::export::{
    ExportFormat, ExportOptions, check_outputs, export_generator, export_run,
};
use pix2pix::infer::trained_direction;
use pix2pix::interop::onnx::{DEFAULT_OPSET, OnnxIo, OnnxOptions};

use super::args::GeneratorSourceArgs;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    generator: GeneratorSourceArgs,
    /// pth (torch.save), safetensors or onnx [default: from the output's extension, else pth]
    #[arg(long)]
    format: Option<ExportFormat>,
    /// File for G; from a run, D goes beside it (<epoch>_net_D.pth for <epoch>_net_G.pth)
    #[arg(long, short)]
    output: PathBuf,
    /// Replace existing output files
    #[arg(long)]
    force: bool,
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
