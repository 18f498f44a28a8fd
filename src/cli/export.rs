//! `pix2pix export`: a run's checkpoint as official state_dicts (.pth or .safetensors).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pix2pix::interop::export::{ExportFormat, export_run};

use super::args::RunArgs;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    run: RunArgs,
    /// pth (torch.save format, default) or safetensors
    #[arg(long)]
    format: Option<ExportFormat>,
    /// File for G; D goes beside it (<epoch>_net_D.pth for <epoch>_net_G.pth)
    #[arg(long, short)]
    output: PathBuf,
    /// Replace existing output files
    #[arg(long)]
    force: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let format = args.format.unwrap_or_default();
    for file in export_run(
        &args.run.run_dir(),
        &args.run.epoch(),
        format,
        &args.output,
        args.force,
    )? {
        println!("wrote {}", file.display());
    }
    Ok(())
}
