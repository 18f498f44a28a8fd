//! The `pix2pix` command line: one file per command, each turning its flags into the library's
//! options, calling the library, and printing the result; errors are worded as flags here
//! (errors.rs), progress drawn as bars (progress.rs).

mod args;
mod bench;
mod data;
mod demo;
mod errors;
mod export;
mod info;
mod pretrained;
mod progress;
mod serve;
mod test;
mod train;
mod translate;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "pix2pix",
    version,
    about = "pix2pix image-to-image translation (Isola et al., CVPR 2017): train, test, translate"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train G and D on <dataroot>/<phase> (A|B side-by-side images)
    #[command(args_override_self = true)]
    Train(train::TrainArgs),
    /// Translate <dataroot>/<phase> with a trained G: results page, images and metrics
    #[command(args_override_self = true)]
    Test(test::TestArgs),
    /// Translate single images or folders of images (no B side), any size
    #[command(args_override_self = true)]
    Translate(translate::TranslateArgs),
    /// Dataset tools: combine, edges, colorization, split, check, download
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// The official pretrained generators: list them, download one by name
    Pretrained {
        #[command(subcommand)]
        command: pretrained::PretrainedCommand,
    },
    /// Write a generator as ONNX, or a checkpoint as official PyTorch state_dicts (.pth, .safetensors)
    #[command(args_override_self = true)]
    Export(export::ExportArgs),
    /// Time generator inference, a training step and the data pipeline (medians)
    #[command(args_override_self = true)]
    Bench(bench::BenchArgs),
    /// Print the networks' layers and parameter counts for the given options
    #[command(args_override_self = true)]
    Info(info::InfoArgs),
    /// Make a procedural dataset, train a small U-Net on it, test it, print the results page
    #[command(args_override_self = true)]
    Demo(demo::DemoArgs),
    /// Serve a web page to draw and translate, an HTTP API, and the training dashboards
    #[command(args_override_self = true)]
    Serve(serve::ServeArgs),
}

impl Command {
    /// The command's name as typed, for the hints of its errors.
    fn name(&self) -> &'static str {
        match self {
            Command::Train(_) => "train",
            Command::Test(_) => "test",
            Command::Translate(_) => "translate",
            Command::Data { command } => command.name(),
            Command::Pretrained { command } => command.name(),
            Command::Export(_) => "export",
            Command::Bench(_) => "bench",
            Command::Info(_) => "info",
            Command::Demo(_) => "demo",
            Command::Serve(_) => "serve",
        }
    }
}

/// Runs the command; an error comes back as the one-line message to print.
pub fn run(cli: Cli) -> std::result::Result<(), String> {
    let name = cli.command.name();
    dispatch(cli).map_err(|error| errors::message(&error, name))
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Test(args) => test::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Data { command } => data::run(command),
        Command::Pretrained { command } => pretrained::run(command),
        Command::Export(args) => export::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Info(args) => info::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
