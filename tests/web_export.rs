//! `pix2pix export --format web` in a real browser: the exported folder, served by a plain static
//! file server, loads its model in headless Chromium, translates the example, a drawing and an
//! upload in the WebAssembly module, and each output equals what `pix2pix translate` makes of the
//! same canvas within the weight format's tolerance; broken folders show what is wrong. Needs
//! chromium and chromedriver (common/browser.rs).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::*;
use common::server::{png, trained};
use common::{ok, pix2pix};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// The largest difference, in 0-255 levels, between the page's output and `pix2pix translate`'s
/// with f16 weights, and the largest mean difference (BENCHMARKS.md, "Web export", measures them
/// per format).
const F16_MAX: u8 = 3;
const F16_MEAN: f64 = 0.5;

/// A static file server on a free loopback port (as `python3 -m http.server` serves a folder),
/// on a thread: GET only, the MIME types a page needs.
fn serve_static(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || answer(stream, &root));
        }
    });
    format!("http://{address}/")
}

fn answer(mut stream: TcpStream, root: &Path) {
    let mut request = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap()
        .trim_start_matches('/');
    let file = root.join(if path.is_empty() { "index.html" } else { path });
    let response = match std::fs::read(&file) {
        Ok(body) if !path.contains("..") => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("json") => "application/json",
                Some("wasm") => "application/wasm",
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            [head.into_bytes(), body].concat()
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
}

/// The canvas's and the output's RGBA pixels, once the status says a translation is shown that
/// is not `previous`'s.
const PIXELS: &str = "const status = document.getElementById('status').textContent; \
    const img = document.getElementById('output'); \
    if (!status.startsWith('translated with') || !img.src || img.src === arguments[0] || !img.complete || img.naturalWidth === 0) return null; \
    const read = (source, w, h) => { const c = document.createElement('canvas'); c.width = w; c.height = h; \
      const x = c.getContext('2d'); x.drawImage(source, 0, 0); return Array.from(x.getImageData(0, 0, w, h).data); }; \
    const canvas = document.getElementById('input'); \
    return { width: canvas.width, height: canvas.height, input: read(canvas, canvas.width, canvas.height), \
      output: read(img, img.naturalWidth, img.naturalHeight), src: img.src, status };";

async fn translation(client: &Client, previous: &str) -> Value {
    let script = PIXELS.replace("arguments[0]", &format!("'{previous}'"));
    until(client, &script, 240).await
}

/// The largest and the mean difference between the page's output and `pix2pix translate`'s of
/// the page's own canvas, with `generator` (its arguments) in eval mode or not.
fn against_native(shown: &Value, generator: &[&str], eval: bool, dir: &Path) -> (u8, f64) {
    let (width, height) = (
        shown["width"].as_u64().unwrap() as u32,
        shown["height"].as_u64().unwrap() as u32,
    );
    let bytes = |key: &str| -> Vec<u8> {
        shown[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect()
    };
    let input = image::RgbaImage::from_raw(width, height, bytes("input")).unwrap();
    let canvas = dir.join("canvas.png");
    image::DynamicImage::ImageRgba8(input)
        .to_rgb8()
        .save(&canvas)
        .unwrap();
    let out = dir.join("native");
    let mut args = vec!["translate", "--force", "-o", out.to_str().unwrap()];
    args.extend_from_slice(generator);
    if eval {
        args.push("--eval");
    }
    args.push(canvas.to_str().unwrap());
    ok(pix2pix(&args, dir));
    let native = image::open(out.join("canvas.png")).unwrap().to_rgb8();
    let page = bytes("output");
    assert_eq!(page.len() as u32, width * height * 4);
    let diffs: Vec<u8> = native
        .pixels()
        .zip(page.chunks(4))
        .flat_map(|(n, p)| (0..3).map(move |c| n.0[c].abs_diff(p[c])))
        .collect();
    let max = diffs.iter().copied().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    (max, mean)
}

fn assert_close((max, mean): (u8, f64), what: &str) {
    eprintln!("{what}: largest difference {max}, mean {mean:.4} levels");
    assert!(
        max <= F16_MAX && mean <= F16_MEAN,
        "{what}: largest {max}, mean {mean}"
    );
}

/// Runs `test` with a Chromium session, or skips where the browser is missing.
fn with_browser(test: impl AsyncFnOnce(Client)) {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = session(&chromium, &driver, profile.path()).await;
        test(client.clone()).await;
        client.close().await.unwrap();
    });
}

#[test]
fn an_exported_run_translates_its_example_a_drawing_and_an_upload_as_natively() {
    if browser().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    ok(pix2pix(
        &["export", "--name", "tiny", "--format", "web", "-o", "site"],
        root,
    ));
    let photo = root.join("photo.png");
    std::fs::write(&photo, png(80, 50)).unwrap();
    let url = serve_static(root.join("site"));
    let run = ["--name", "tiny"];
    with_browser(async |client| {
        client.goto(&url).await.unwrap();
        // The example of the run's data, translated as soon as the model is loaded, in the
        // paper's test mode (batch statistics).
        let shown = translation(&client, "").await;
        assert_eq!(
            (&shown["width"], &shown["height"]),
            (&json!(32), &json!(32))
        );
        assert_close(
            against_native(&shown, &run, false, root),
            "example, test mode",
        );

        // Eval mode (running statistics), as `translate --eval`.
        click(&client, "#eval").await;
        click(&client, "#translate").await;
        let previous = shown["src"].as_str().unwrap().to_string();
        let shown = translation(&client, &previous).await;
        assert_close(
            against_native(&shown, &run, true, root),
            "example, eval mode",
        );

        // A stroke on the canvas.
        let canvas = client.find(Locator::Css("canvas#input")).await.unwrap();
        let stroke = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: None,
                x: -60.0,
                y: -60.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: Some(Duration::from_millis(150)),
                x: 60.0,
                y: 40.0,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        client.perform_actions(stroke).await.unwrap();
        click(&client, "#translate").await;
        let previous = shown["src"].as_str().unwrap().to_string();
        let drawn = translation(&client, &previous).await;
        assert_ne!(
            drawn["input"], shown["input"],
            "the stroke changed the canvas"
        );
        assert_close(
            against_native(&drawn, &run, true, root),
            "drawing, eval mode",
        );

        // An uploaded photo, placed and snapped to the run's labels.
        let upload = client.find(Locator::Css("input#upload")).await.unwrap();
        upload.send_keys(photo.to_str().unwrap()).await.unwrap();
        until(&client, "return document.getElementById('status').textContent.startsWith('placed photo.png') || null", 30).await;
        click(&client, "#translate").await;
        let previous = drawn["src"].as_str().unwrap().to_string();
        let uploaded = translation(&client, &previous).await;
        assert_ne!(
            uploaded["input"], drawn["input"],
            "the upload replaced the canvas"
        );
        assert_close(
            against_native(&uploaded, &run, true, root),
            "upload, eval mode",
        );
        screenshot(&client, "web_export.png").await;
    });
}
