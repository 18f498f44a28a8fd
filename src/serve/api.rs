//! The HTTP routes: the page and its assets, the JSON API, and the training dashboard's data.
//! Every error is JSON, `{"error": "..."}`, with the status the README lists.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use image::{ImageFormat, ImageReader};
use tokio::sync::{Semaphore, oneshot};

use super::Limits;
use super::catalog::{Catalog, ServedModel};
use super::pool::{Job, Pool};
use super::runs::{RunPage, Runs};
use crate::error::Error;

/// Everything the handlers share.
pub struct AppState {
    pub catalog: Catalog,
    pub runs: Runs,
    pub pool: Pool,
    pub limits: Limits,
    pub token: Option<String>,
    /// Host names (besides IP literals and localhost) that requests may name.
    pub host_names: Vec<String>,
    pub port: u16,
    /// Uploads held in memory at once: those queued or running, and those being read.
    pub uploads: Arc<Semaphore>,
    /// Translations accepted and not yet answered.
    pub pending: AtomicUsize,
}

/// An error reply: a status and what to tell the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds to wait before trying again (503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy (its queue is full): try again shortly",
            )
        }
    }

    /// The status of a library error: the client's image (400), a size the model or the memory
    /// cannot take (422), or the server's own trouble (500).
    pub fn from_library(error: Error) -> Self {
        let status = match &error {
            Error::BadImage { .. } => StatusCode::BAD_REQUEST,
            Error::UnsuitableImage { .. } | Error::OutOfMemory { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Shared = State<Arc<AppState>>;

/// Reads the catalog off the async threads: a scan may describe a run that appeared.
fn catalog<T>(state: &AppState, read: impl FnOnce(&Catalog) -> T) -> T {
    tokio::task::block_in_place(|| read(&state.catalog))
}

pub async fn healthz(State(state): Shared) -> Response {
    let (models, skipped) = catalog(&state, |c| (c.models().len(), c.skipped()));
    Json(serde_json::json!({
        "status": "ok",
        "models": models,
        "skipped": skipped,
        "pending": state.pending.load(Ordering::SeqCst),
        "batched": state.pool.batched(),
    }))
    .into_response()
}

pub async fn models(State(state): Shared) -> Response {
    let models = catalog(&state, Catalog::models);
    let models: Vec<&ServedModel> = models.iter().map(Arc::as_ref).collect();
    Json(models).into_response()
}

/// An input of a model's own data, at its canvas size, to open the page with.
pub async fn example(State(state): Shared, UrlPath(name): UrlPath<String>) -> Response {
    match catalog(&state, |c| c.get(&name)) {
        Some(model) => match &model.example {
            Some(png) => ([(header::CONTENT_TYPE, "image/png")], png.clone()).into_response(),
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model '{name}' has no example input (no data of its own to take one from)"
                ),
            )
            .into_response(),
        },
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no model '{name}'")).into_response(),
    }
}

/// The query of `POST /api/translate`.
struct TranslateQuery {
    model: String,
    epoch: Option<String>,
    eval: bool,
    seed: u64,
}

impl TranslateQuery {
    fn parse(query: HashMap<String, String>) -> Result<Self, ApiError> {
        let mut parsed = TranslateQuery {
            model: String::new(),
            epoch: None,
            eval: false,
            seed: 0,
        };
        for (key, value) in query {
            match key.as_str() {
                "model" => parsed.model = value,
                "epoch" => parsed.epoch = Some(value),
                "eval" => {
                    parsed.eval = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "eval must be true or false, not '{value}'"
                            )));
                        }
                    }
                }
                "seed" => {
                    parsed.seed = value.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "seed must be a whole number from 0 to {}, not '{value}'",
                            u64::MAX
                        ))
                    })?
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter '{key}': use model, epoch, eval and seed"
                    )));
                }
            }
        }
        if parsed.model.is_empty() {
            return Err(ApiError::bad_request(
                "name the model: /api/translate?model=NAME (GET /api/models lists them)",
            ));
        }
        Ok(parsed)
    }
}

pub async fn translate(
    State(state): Shared,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query = TranslateQuery::parse(query)?;
    let model = catalog(&state, |c| c.get(&query.model)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no model '{}': GET /api/models lists the {} served",
                query.model,
                catalog(&state, |c| c.models().len())
            ),
        )
    })?;
    let (epoch, source) = model.source(query.epoch.as_deref()).ok_or_else(|| {
        let has = if model.epochs.is_empty() {
            "a generator file has no epochs".to_string()
        } else {
            format!("it has {}", model.epochs.join(", "))
        };
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "model '{}' has no epoch '{}': {has}",
                model.name,
                query.epoch.as_deref().unwrap_or_default()
            ),
        )
    })?;
    let limit = state.limits.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let oversize = declared.is_some_and(|length| length > limit as u64);
    // A client that waits for "100 Continue" has sent nothing yet: it gets its 413 at once, and
    // so does one that announces more than is worth draining.
    let waits = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if oversize && waits || declared.is_some_and(|length| length > (DRAINED_UPLOADS * limit) as u64)
    {
        return Err(too_large(limit));
    }
    let Ok(permit) = state.uploads.clone().try_acquire_owned() else {
        // Read (and dropped) first, so that a client that is sending sees the 503 rather than
        // a reset connection.
        if !waits {
            let _ = read_body(body, declared, limit, &state.limits, false).await;
        }
        return Err(ApiError::busy());
    };
    let body = read_body(body, declared, limit, &state.limits, true).await?;
    check_header(&body, state.limits.max_pixels)?;
    let (reply, answer) = oneshot::channel();
    let job = Job {
        model: model.clone(),
        epoch,
        source,
        eval: query.eval,
        seed: query.seed,
        body,
        reply,
    };
    if !state.pool.submit(job) {
        return Err(ApiError::busy());
    }
    let pending = Pending::count(&state.pending);
    let answer = answer.await;
    drop((pending, permit));
    let png = answer
        .map_err(|_| ApiError::internal("the server stopped before the image was translated"))??;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// One translation counted in [`AppState::pending`] until it is answered or its client goes
/// away (the handler's future is dropped).
struct Pending<'a>(&'a AtomicUsize);

impl<'a> Pending<'a> {
    fn count(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Pending(counter)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is over the server's limit of {} MB (--max-upload-mb)",
            limit >> 20
        ),
    )
}

/// Past the upload limit, a body is still read (and dropped) up to this many times the limit,
/// so that the client, still sending, gets its 413 rather than a reset connection.
const DRAINED_UPLOADS: usize = 4;

/// The request body, at most `limit` bytes, within the body timeout; with `keep` false, read
/// and dropped. A body declared over the limit is a 413 even when it stops coming.
async fn read_body(
    mut body: Body,
    declared: Option<u64>,
    limit: usize,
    limits: &Limits,
    keep: bool,
) -> Result<Bytes, ApiError> {
    let oversize = declared.is_some_and(|length| length > limit as u64);
    let read = async {
        let capacity = if keep && !oversize {
            declared.unwrap_or(0).min(limit as u64) as usize
        } else {
            0
        };
        let mut kept = Vec::with_capacity(capacity);
        let mut received = 0;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::bad_request(format!("cannot read the upload: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            received += data.len();
            if received > DRAINED_UPLOADS * limit {
                break;
            }
            if keep && !oversize && received <= limit {
                kept.extend_from_slice(&data);
            }
        }
        if received > limit || oversize {
            Err(too_large(limit))
        } else {
            Ok(Bytes::from(kept))
        }
    };
    tokio::time::timeout(limits.body_timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(if oversize {
                too_large(limit)
            } else {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the upload took longer than {} s",
                        limits.body_timeout.as_secs()
                    ),
                )
            })
        })
}

/// Refuses, from its header alone, a file that is not a PNG, JPEG or WebP image or that has
/// more than `max_pixels` pixels (a decompression bomb is refused before it is decoded, even
/// where the decoder would refuse its header as malformed or too large for itself).
fn check_header(body: &[u8], max_pixels: u64) -> Result<(), ApiError> {
    let reader = ImageReader::new(Cursor::new(body))
        .with_guessed_format()
        .map_err(|e| ApiError::bad_request(format!("not an image: {e}")))?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)
    ) {
        return Err(ApiError::bad_request(
            "not a PNG, JPEG or WebP image: send the file's bytes as the body",
        ));
    }
    let too_many = |width: u64, height: u64| {
        let pixels = width.saturating_mul(height);
        (pixels > max_pixels).then(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the image is {width}x{height} ({pixels} pixels), over the server's limit of \
                     {max_pixels} (--max-pixels)"
                ),
            )
        })
    };
    if let Ok(size) = imagesize::blob_size(body)
        && let Some(error) = too_many(size.width as u64, size.height as u64)
    {
        return Err(error);
    }
    let (width, height) = reader.into_dimensions().map_err(|e| match e {
        // The decoder's own memory limit, reached by the header's size alone.
        image::ImageError::Limits(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the image is too large to decode: {e} (--max-pixels)"),
        ),
        e => ApiError::bad_request(format!("not a readable image: {e}")),
    })?;
    if let Some(error) = too_many(width.into(), height.into()) {
        return Err(error);
    }
    if width == 0 || height == 0 {
        return Err(ApiError::bad_request("the image has no pixels"));
    }
    Ok(())
}

/// The dashboard's data for a run: its loss chart and sample images.
pub async fn run_data(State(state): Shared, UrlPath(name): UrlPath<String>) -> Response {
    match state.runs.page(&name) {
        Some(page) => Json::<RunPage>(page).into_response(),
        None => unknown_run(&name).into_response(),
    }
}

/// One of a run's sample images (web/images), by its listed file name.
pub async fn run_image(
    State(state): Shared,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Response {
    match state.runs.sample(&name, &file) {
        Some(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("run '{name}' has no sample image '{file}'"),
        )
        .into_response(),
    }
}

pub async fn run_list(State(state): Shared) -> Response {
    Json(state.runs.names()).into_response()
}

fn unknown_run(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no run '{name}' under the checkpoints folder"),
    )
}

/// Refuses a request whose Host header names another host (DNS rebinding), and, with a token
/// set, an API request without it.
pub async fn guard(State(state): Shared, request: Request, next: Next) -> Response {
    if let Err(error) = check_host(&request, &state) {
        return error.into_response();
    }
    if let Some(token) = &state.token
        && request.uri().path().starts_with("/api/")
    {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this server needs its token: send Authorization: Bearer <token>",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The request names this server: one Host header (required from HTTP/1.1 on) and, for a
/// request target in absolute form, its authority, each allowed by [`host_allowed`].
fn check_host(request: &Request, state: &AppState) -> Result<(), ApiError> {
    let hosts: Vec<&HeaderValue> = request.headers().get_all(header::HOST).iter().collect();
    let named = match hosts[..] {
        [] if request.version() >= axum::http::Version::HTTP_11 => {
            return Err(ApiError::bad_request(
                "an HTTP/1.1 request needs a Host header",
            ));
        }
        [] => None,
        [host] => Some(host.clone()),
        _ => return Err(ApiError::bad_request("a request may have one Host header")),
    };
    let target = request
        .uri()
        .authority()
        .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok());
    let misdirected = [named, target]
        .into_iter()
        .flatten()
        .any(|host| !host_allowed(&host, &state.host_names, state.port));
    if misdirected {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "the Host header or the request's target names another host than this server",
        ));
    }
    Ok(())
}

/// An IP literal, localhost or one of `names`, at the server's port (or without one).
fn host_allowed(host: &HeaderValue, names: &[String], port: u16) -> bool {
    let Ok(host) = host.to_str() else {
        return false;
    };
    let (name, given_port) = match host.rsplit_once(':') {
        Some((name, p))
            if !name.ends_with(':') && (name.starts_with('[') || !name.contains(':')) =>
        {
            (name, Some(p))
        }
        _ => (host, None),
    };
    if given_port.is_some_and(|p| p.parse() != Ok(port)) {
        return false;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || bare.eq_ignore_ascii_case("localhost")
        || names.iter().any(|n| n.eq_ignore_ascii_case(bare))
}

/// Compares secrets in a time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let ok = |h: &str| host_allowed(&HeaderValue::from_str(h).unwrap(), &["box".into()], 8000);
        for good in [
            "127.0.0.1:8000",
            "localhost:8000",
            "[::1]:8000",
            "box:8000",
            "10.0.0.2",
            "::1",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "evil.example:8000",
            "127.0.0.1:8001",
            "localhost:x",
            "box.evil:8000",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn query() {
        let parse = |pairs: &[(&str, &str)]| {
            TranslateQuery::parse(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let q = parse(&[("model", "m"), ("eval", "true"), ("seed", "7")]).unwrap();
        assert!(q.eval && q.seed == 7 && q.model == "m");
        for bad in [
            &[("eval", "true")][..],
            &[("model", "m"), ("eval", "yes")],
            &[("model", "m"), ("seed", "-1")],
            &[("model", "m"), ("size", "3")],
        ] {
            assert_eq!(parse(bad).err().unwrap().status, StatusCode::BAD_REQUEST);
        }
    }
}
