//! `pix2pix serve`: the web page, HTTP API and training dashboard over a checkpoints folder.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::args::DeviceArgs;
use pix2pix::serve::{Catalog, Limits, ServeOptions, serve};
use pix2pix::train::TrainOptions;

/// The library's limits, shown as the flags' defaults.
const DEFAULTS: Limits = Limits::DEFAULT;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Where the runs are: every run under it is served unless --name or --checkpoint picks [default: checkpoints]
    #[arg(long = "checkpoints-dir", visible_alias = "checkpoints_dir")]
    checkpoints_dir: Option<PathBuf>,
    /// Serve only this run (repeat for more)
    #[arg(long)]
    name: Vec<String>,
    /// Serve a generator file (.pth, .bpk, .safetensors) under its file's stem (repeat for more)
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    /// Address to listen on; anything but loopback is reachable by others, without authentication unless --token is set
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Another name clients reach the server by, e.g. the machine's host name on a LAN (repeat for more); requests naming other hosts are refused
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Require `Authorization: Bearer <TOKEN>` on the API (open the page as http://HOST:PORT/#token=TOKEN); visible to other users in `ps`: prefer --token-file or PIX2PIX_TOKEN
    #[arg(long)]
    token: Option<String>,
    /// Read the token from this file (its first line)
    #[arg(long = "token-file", value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Largest upload in MB (413 over it)
    #[arg(long = "max-upload-mb", default_value_t = (DEFAULTS.max_upload_bytes >> 20) as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_upload_mb: u32,
    /// Most pixels an image may have, read from its header before decoding (422 over it)
    #[arg(long = "max-pixels", default_value_t = DEFAULTS.max_pixels, value_parser = clap::value_parser!(u64).range(1..))]
    max_pixels: u64,
    /// Requests waiting for a worker; more get 503 with Retry-After
    #[arg(long, default_value_t = DEFAULTS.queue as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    queue: u32,
    /// Inference threads (each uses all cores for its convolutions)
    #[arg(long, default_value_t = DEFAULTS.workers as u32, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// MB of generator weights kept loaded
    #[arg(long = "cache-mb", default_value_t = DEFAULTS.cache_bytes >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    cache_mb: u64,
    /// Most requests for one model and size run as one batch (only where batching cannot change a result)
    #[arg(long = "max-batch", default_value_t = DEFAULTS.max_batch as u32, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_batch: u32,
    /// Seconds a client has to send its request line and headers (then the connection closes)
    #[arg(long = "header-timeout", default_value_t = DEFAULTS.header_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds a client has to send its upload (408 past it)
    #[arg(long = "body-timeout", default_value_t = DEFAULTS.body_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Seconds a whole request may take, translation included (408 past it)
    #[arg(long = "request-timeout", default_value_t = DEFAULTS.request_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86400))]
    request_timeout: u64,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let device = &args.device.device()?;
    let checkpoints_dir = args
        .checkpoints_dir
        .unwrap_or_else(|| TrainOptions::default().checkpoints_dir);
    let options = ServeOptions {
        checkpoints_dir: checkpoints_dir.clone(),
        names: args.name,
        checkpoints: args.checkpoint,
        host: args.host,
        allowed_hosts: args.allow_host,
        port: args.port,
        token: token(args.token, args.token_file.as_deref())?,
        limits: Limits {
            max_upload_bytes: (args.max_upload_mb as usize) << 20,
            max_pixels: args.max_pixels,
            queue: args.queue as usize,
            workers: args.workers as usize,
            cache_bytes: args.cache_mb << 20,
            max_batch: args.max_batch as usize,
            header_timeout: Duration::from_secs(args.header_timeout),
            body_timeout: Duration::from_secs(args.body_timeout),
            request_timeout: Duration::from_secs(args.request_timeout),
            ..DEFAULTS
        },
    };
    let catalog = Catalog::discover(&checkpoints_dir, &options.names, &options.checkpoints)?;
    for skip in catalog.skipped() {
        eprintln!("warning: not serving {}: {}", skip.name, skip.error);
    }
    if catalog.models().is_empty() {
        eprintln!(
            "no run with a generator checkpoint in {} yet: runs are served as they save their \
             first checkpoint (--save_latest_freq, or each epoch's end)",
            checkpoints_dir.display()
        );
    }
    let loopback = options.host == "localhost"
        || options
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback && options.token.is_none() {
        eprintln!(
            "warning: listening on {} without authentication: anyone who can reach it can use \
             the models and read the runs' losses and samples (--token adds a bearer token)",
            options.host
        );
    }
    let count = catalog.models().len();
    survive_closed_connections();
    serve(
        &options,
        catalog,
        device,
        |address| {
            // Not println!: with SIGPIPE ignored, a closed stdout must not end the server.
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "serving {count} models on http://{address}/ (Ctrl-C stops)"
            );
            let _ = out.flush();
        },
        stop_signal(),
    )?;
    eprintln!("stopped");
    Ok(())
}

/// The token of --token, else of --token-file (its first line), else of the environment
/// variable PIX2PIX_TOKEN; none when none is given.
fn token(flag: Option<String>, file: Option<&Path>) -> Result<Option<String>> {
    if let Some(path) = file {
        // The first 4 KiB at most: a device or an endless FIFO must not be read for ever.
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(4096).read_to_string(&mut text))
            .with_context(|| format!("--token-file {}", path.display()))?;
        return Ok(Some(
            text.lines().next().unwrap_or_default().trim().to_string(),
        ));
    }
    Ok(flag.or_else(|| std::env::var("PIX2PIX_TOKEN").ok()))
}

/// A client that goes away while its response is written must not end the server. The binary
/// lets SIGPIPE end it (src/main.rs, so that `pix2pix info | head` exits quietly), and hyper's
/// vectored socket writes, unlike plain ones, do not ask the kernel to spare the process.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn survive_closed_connections() {
    // SAFETY: changes the action of one signal; the server's threads have not started yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn survive_closed_connections() {}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    eprintln!("stopping: no new requests; finishing those running");
}
