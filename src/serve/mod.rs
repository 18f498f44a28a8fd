//! `pix2pix serve`: a web page to draw or upload an image and translate it, an HTTP API for other
//! programs, and a live dashboard of training runs, over the runs of a checkpoints folder.
//!
//! - [`catalog`]: which models are served, looked up by name;
//! - [`pool`]: inference on worker threads behind a bounded queue, generators cached;
//! - [`api`]: the routes, their errors, the Host and token checks;
//! - [`runs`]: the dashboard's loss charts and samples; [`palette`]: the canvas's colours;
//! - [`web`]: the page as a static site that runs the model in the browser (`export --format web`);
//! - `assets/`: the page's HTML, CSS and JavaScript, embedded in the binary.
//!
//! The server binds to loopback unless told otherwise, checks every request's Host header
//! against the address it serves (no DNS rebinding), sends no CORS headers, and bounds what a
//! client can make it hold: uploads, pixels, queued requests, open connections, and the time a
//! client may take to send its request.

pub mod api;
pub mod catalog;
pub mod palette;
pub mod pool;
pub mod runs;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use burn::prelude::*;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::{Error, Result};
use api::AppState;
pub use catalog::{Catalog, ServedModel, Skipped};
use pool::{Pool, PoolOptions};
use runs::Runs;

/// What a server lets clients make it do; every default is in the README.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest upload, in bytes (413 over it).
    pub max_upload_bytes: usize,
    /// The most pixels an image may have, read from its header before decoding (422 over it).
    pub max_pixels: u64,
    /// Requests waiting for a worker (503 with Retry-After when full).
    pub queue: usize,
    /// Inference threads.
    pub workers: usize,
    /// Generator weights kept loaded, in bytes.
    pub cache_bytes: u64,
    /// The most requests for one model and size run as one batch (where it cannot change a
    /// result).
    pub max_batch: usize,
    /// Open connections; more are closed at once.
    pub max_connections: usize,
    /// Time for a client to send its request line and headers.
    pub header_timeout: Duration,
    /// Time for a client to send its upload.
    pub body_timeout: Duration,
    /// Time for a whole request, translation included (408 past it).
    pub request_timeout: Duration,
    /// Time for running requests to finish after Ctrl-C or SIGTERM.
    pub shutdown_grace: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_upload_bytes: 20 << 20,
        max_pixels: 4096 * 4096,
        queue: 16,
        workers: 1,
        cache_bytes: 1 << 30,
        max_batch: 8,
        max_connections: 128,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(300),
        shutdown_grace: Duration::from_secs(60),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A server's models and settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub checkpoints_dir: PathBuf,
    /// Only these runs (all of them when empty and no `checkpoints` are given).
    pub names: Vec<String>,
    /// Generator files, each served under its file's stem.
    pub checkpoints: Vec<PathBuf>,
    pub host: String,
    /// More names clients may reach the server by (the Host header): besides IP addresses,
    /// `localhost` and `host`, all others are refused.
    pub allowed_hosts: Vec<String>,
    /// 0 picks a free port.
    pub port: u16,
    /// When set, API requests need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub limits: Limits,
}

/// The page and its assets, compiled into the binary.
const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_HTML: &str = include_str!("assets/dashboard.html");
const APP_JS: &str = include_str!("assets/app.js");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const COMMON_JS: &str = include_str!("assets/common.js");
const BACKEND_JS: &str = include_str!("assets/backend.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// Runs a server over `catalog` until `shutdown` completes (the CLI passes Ctrl-C and SIGTERM):
/// then it stops accepting, lets running requests finish (within the grace time) and returns.
/// `ready` is told the bound address first.
pub fn serve(
    options: &ServeOptions,
    catalog: Catalog,
    device: &Device,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Some(token) = &options.token
        && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(Error::InvalidOption {
            option: "token",
            reason: "must be one or more visible ASCII characters (no spaces), or nothing could \
                     send it in an Authorization header"
                .into(),
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Serve {
            reason: format!("cannot start the async runtime: {e}"),
        })?;
    runtime.block_on(async {
        let address = format!("{}:{}", options.host, options.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| Error::Serve {
                reason: format!("cannot listen on {address}: {e}"),
            })?;
        let bound = listener.local_addr().map_err(|e| Error::Serve {
            reason: format!("cannot read the bound address: {e}"),
        })?;
        let limits = options.limits;
        let state = Arc::new(AppState {
            catalog,
            runs: Runs::new(&options.checkpoints_dir, &options.names),
            pool: Pool::start(
                PoolOptions {
                    workers: limits.workers,
                    queue: limits.queue,
                    cache_bytes: limits.cache_bytes,
                    max_batch: limits.max_batch,
                },
                device,
            ),
            limits,
            token: options.token.clone(),
            host_names: std::iter::once(&options.host)
                .chain(&options.allowed_hosts)
                .cloned()
                .collect(),
            port: bound.port(),
            uploads: Arc::new(Semaphore::new(limits.queue + limits.workers)),
            pending: Default::default(),
        });
        ready(bound);
        accept(listener, router(state.clone()), limits, shutdown).await;
        // Every connection has ended: the pool is the state's last user.
        if let Ok(state) = Arc::try_unwrap(state) {
            tokio::task::spawn_blocking(move || state.pool.shut_down())
                .await
                .ok();
        }
        Ok(())
    })
}

fn router(state: Arc<AppState>) -> Router {
    let asset = |body: &'static str, kind: &'static str| {
        move || async move {
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
                body,
            )
                .into_response()
        }
    };
    Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route("/runs/{name}", get(|| async { Html(DASHBOARD_HTML) }))
        .route("/assets/app.js", get(asset(APP_JS, "text/javascript")))
        .route(
            "/assets/dashboard.js",
            get(asset(DASHBOARD_JS, "text/javascript")),
        )
        .route(
            "/assets/common.js",
            get(asset(COMMON_JS, "text/javascript")),
        )
        .route(
            "/assets/backend.js",
            get(asset(BACKEND_JS, "text/javascript")),
        )
        .route("/assets/style.css", get(asset(STYLE_CSS, "text/css")))
        .route("/favicon.svg", get(asset(FAVICON_SVG, "image/svg+xml")))
        .route("/favicon.ico", get(asset(FAVICON_SVG, "image/svg+xml")))
        .route("/healthz", get(api::healthz))
        .route("/api/models", get(api::models))
        .route("/api/models/{name}/example", get(api::example))
        .route("/api/translate", post(api::translate))
        .route("/api/runs", get(api::run_list))
        .route("/api/runs/{name}", get(api::run_data))
        .route("/api/runs/{name}/images/{file}", get(api::run_image))
        .fallback(|| async { not_found() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::guard,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ))
        .layer(CompressionLayer::new())
        .with_state(state)
}

fn not_found() -> Response {
    api::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no such page or API route",
    )
    .into_response()
}

/// Accepts connections until `shutdown`, each served over HTTP/1.1 with the header timeout;
/// then waits for the open ones to finish, at most the grace time.
async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
}
