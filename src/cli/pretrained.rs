//! `pix2pix pretrained`: the official pretrained generators by name.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use pix2pix::interop::pretrained::{
    OFFICIAL_MODELS_URL, PRETRAINED, PRETRAINED_MAX_BYTES, PretrainedDownload, download_pretrained,
};
use pix2pix::train::TrainOptions;

use super::args::FetchArgs;

use super::progress::Bars;

#[derive(Subcommand, Debug)]
pub enum PretrainedCommand {
    /// The official pretrained generators: name, direction, and what each takes and makes
    List,
    /// Fetch one into <checkpoints_dir>/<name>_pretrained/latest_net_G.pth
    Download(DownloadArgs),
}

impl PretrainedCommand {
    pub fn name(&self) -> &'static str {
        match self {
            PretrainedCommand::List => "pretrained list",
            PretrainedCommand::Download(_) => "pretrained download",
        }
    }
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// edges2shoes, sat2map, map2sat, facades_label2photo or day2night
    name: String,
    /// Where runs are kept [default: checkpoints]
    #[arg(long = "checkpoints-dir", visible_alias = "checkpoints_dir")]
    checkpoints_dir: Option<PathBuf>,
    /// Server folder holding <name>.pth [default: the official one]
    #[arg(long = "base-url")]
    base_url: Option<String>,
    /// Replace a generator already downloaded
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    fetch: FetchArgs,
}

pub fn run(command: PretrainedCommand) -> Result<()> {
    match command {
        PretrainedCommand::List => {
            for model in &PRETRAINED {
                println!(
                    "{:<20} {} on {}: {} -> {}",
                    model.name, model.direction, model.dataset, model.input, model.output
                );
            }
            Ok(())
        }
        PretrainedCommand::Download(args) => {
            let options = PretrainedDownload {
                name: args.name,
                checkpoints_dir: args
                    .checkpoints_dir
                    .unwrap_or_else(|| TrainOptions::default().checkpoints_dir),
                base_url: args.base_url.unwrap_or_else(|| OFFICIAL_MODELS_URL.into()),
                force: args.force,
                limits: args.fetch.limits(PRETRAINED_MAX_BYTES),
            };
            let dir = download_pretrained(&options, &Bars::default())?;
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            println!(
                "downloaded {} into {}: use it with --name {name} (test, translate, serve)",
                options.name,
                dir.display()
            );
            Ok(())
        }
    }
}
