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
use pix2pix::weights::{WeightFormat, encode};
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
    let file = root.join(path);
    let file = if file.is_dir() {
        file.join("index.html")
    } else {
        file
    };
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

/// The translation the page shows next (of a `side`-pixel canvas), in eval mode (the exported
/// page's default), then again in the paper's test mode, each compared with `pix2pix
/// translate`'s of `generator`; the page is left in test mode and its last translation returned.
async fn in_both_modes(
    client: &Client,
    generator: &[&str],
    side: u32,
    dir: &Path,
    what: &str,
) -> Value {
    let shown = translation(client, "").await;
    assert_eq!(
        (&shown["width"], &shown["height"]),
        (&json!(side), &json!(side))
    );
    assert_close(
        against_native(&shown, generator, true, dir),
        &format!("{what}, eval mode"),
    );
    click(client, "#eval").await;
    click(client, "#translate").await;
    let previous = shown["src"].as_str().unwrap().to_string();
    let shown = translation(client, &previous).await;
    assert_close(
        against_native(&shown, generator, false, dir),
        &format!("{what}, test mode"),
    );
    shown
}

fn assert_close((max, mean): (u8, f64), what: &str) {
    eprintln!("{what}: largest difference {max}, mean {mean:.4} levels");
    assert!(
        max <= F16_MAX && mean <= F16_MEAN,
        "{what}: largest {max}, mean {mean}"
    );
}

/// The status line's text once it shows an error.
const ERROR: &str = "const s = document.getElementById('status'); \
    return s.classList.contains('error') ? s.textContent : null;";

/// What the page measured: the model's load (decode and build, download excluded) and each
/// translation, in milliseconds.
const TIMINGS: &str = "return window.pix2pixTimings || null;";

/// Copies the folder `from` to `to` (one level of subfolders, as an export has).
fn copy_site(from: &Path, to: &Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
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

/// A folder with the tiny run `tiny` (common::server::trained) exported to `site`.
fn exported_tiny_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path(), "tiny", &[]);
    ok(pix2pix(
        &["export", "--name", "tiny", "--format", "web", "-o", "site"],
        dir.path(),
    ));
    dir
}

#[test]
fn an_exported_run_translates_its_example_a_drawing_and_an_upload_as_natively() {
    if browser().is_none() {
        return;
    }
    let dir = exported_tiny_run();
    let root = dir.path();
    let photo = root.join("photo.png");
    std::fs::write(&photo, png(80, 50)).unwrap();
    let url = serve_static(root.join("site"));
    let run = ["--name", "tiny"];
    with_browser(async |client| {
        client.goto(&url).await.unwrap();
        // The example of the run's data, translated as soon as the model is loaded (eval
        // mode, the exported page's default), then in the paper's test mode.
        let shown = in_both_modes(&client, &run, 32, root, "example").await;

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
            against_native(&drawn, &run, false, root),
            "drawing, test mode",
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
            against_native(&uploaded, &run, false, root),
            "upload, test mode",
        );
        screenshot(&client, "web_export.png").await;
    });
}

#[test]
fn broken_folders_and_bad_uploads_show_what_is_wrong() {
    if browser().is_none() {
        return;
    }
    let dir = exported_tiny_run();
    let root = dir.path();
    let site = root.join("site");
    // Weights cut short in transfer or on disk.
    copy_site(&site, &root.join("cut"));
    let weights = std::fs::read(site.join("weights.bin")).unwrap();
    std::fs::write(root.join("cut/weights.bin"), &weights[..weights.len() / 2]).unwrap();
    // A description whose network does not fit in a page's memory.
    copy_site(&site, &root.join("huge"));
    let mut description: Value =
        serde_json::from_slice(&std::fs::read(site.join("model.json")).unwrap()).unwrap();
    description["options"]["ngf"] = json!(4096);
    std::fs::write(root.join("huge/model.json"), description.to_string()).unwrap();
    let broken = root.join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n but no image").unwrap();
    let notes = root.join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let url = serve_static(root.to_path_buf());
    with_browser(async |client| {
        client.goto(&format!("{url}cut/")).await.unwrap();
        let error = until(&client, ERROR, 60).await;
        assert!(error.as_str().unwrap().contains("cut short"), "{error}");

        client.goto(&format!("{url}huge/")).await.unwrap();
        let error = until(&client, ERROR, 60).await;
        let error = error.as_str().unwrap();
        assert!(
            error.contains("more than") && error.contains("WebAssembly"),
            "{error}"
        );

        client.goto(&format!("{url}site/")).await.unwrap();
        translation(&client, "").await;
        let upload = client.find(Locator::Css("input#upload")).await.unwrap();
        upload.send_keys(broken.to_str().unwrap()).await.unwrap();
        let error = until(&client, ERROR, 30).await;
        assert!(
            error
                .as_str()
                .unwrap()
                .starts_with("cannot read broken.png"),
            "{error}"
        );
        upload.send_keys(notes.to_str().unwrap()).await.unwrap();
        let error = until(&client, "const s = document.getElementById('status').textContent; return s === 'not an image file' || null;", 30).await;
        assert_eq!(error, json!(true));
    });
}

/// The official generator's size (unet_256, ngf 64, random weights) as a file: exported, it
/// loads 54 M parameters in the page and translates 256x256, in both modes, as natively.
#[test]
fn a_unet_256_file_translates_in_the_browser_as_natively() {
    if browser().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let file = root.join("big_net_G.bpk");
    let device = pix2pix::device::cpu().unwrap();
    let model = pix2pix::model::ModelOptions::default();
    pix2pix::checkpoint::save_module(&file, &model.generator(&device)).unwrap();
    let generator = ["--checkpoint", file.to_str().unwrap(), "--netG", "unet_256"];
    let mut export = vec!["export", "--format", "web", "-o", "site"];
    export.extend_from_slice(&generator);
    ok(pix2pix(&export, root));
    let url = serve_static(root.join("site"));
    with_browser(async |client| {
        client.goto(&url).await.unwrap();
        // A generator file has no example: the canvas is white until drawn on.
        until(&client, "return document.getElementById('status').textContent.includes('runs in this browser') || null", 240).await;
        click(&client, "#translate").await;
        in_both_modes(&client, &generator, 256, root, "unet_256").await;
        let timings = client.execute(TIMINGS, vec![]).await.unwrap();
        eprintln!("unet_256 in headless Chromium: {timings}");
    });
}

/// Each weight format's difference to our native f32 output ([`pix2pix_web::Translator`] run
/// natively, eval mode) over the images of `inputs`: (format, bytes, largest difference, mean
/// absolute difference, PSNR in dB on the 0-255 scale).
fn format_differences(
    source: &pix2pix::infer::GeneratorSource,
    overrides: &pix2pix::infer::ModelOverrides,
    inputs: &[PathBuf],
) -> Vec<(WeightFormat, usize, u8, f64, f64)> {
    let device = pix2pix::device::cpu().unwrap();
    let loaded = pix2pix::infer::load_generator(source, overrides, true, &device).unwrap();
    let options = serde_json::to_string(&loaded.model).unwrap();
    let dict = loaded.model.generator_state_dict(&loaded.generator);
    let images: Vec<image::RgbaImage> = inputs
        .iter()
        .map(|p| image::open(p).unwrap().to_rgba8())
        .collect();
    let native: Vec<image::RgbImage> = images
        .iter()
        .map(|image| {
            let rgb = image::DynamicImage::ImageRgba8(image.clone());
            pix2pix::infer::translate_image(&loaded, &rgb, &device).unwrap()
        })
        .collect();
    [
        WeightFormat::F32,
        WeightFormat::F16,
        WeightFormat::Bf16,
        WeightFormat::Int8,
    ]
    .into_iter()
    .map(|format| {
        let file = encode(&dict, format);
        let translator = pix2pix_web::Translator::new(&options, &file).unwrap();
        let (mut largest, mut sum, mut squares, mut count) = (0u8, 0f64, 0f64, 0usize);
        for (image, native) in images.iter().zip(&native) {
            let ours = translator
                .translate(image.as_raw(), image.width(), image.height(), true, 0)
                .unwrap();
            for (n, o) in native.pixels().zip(ours.chunks(4)) {
                for (a, b) in n.0.iter().zip(o) {
                    let d = a.abs_diff(*b);
                    largest = largest.max(d);
                    sum += d as f64;
                    squares += (d as f64).powi(2);
                    count += 1;
                }
            }
        }
        let mse = squares / count as f64;
        let psnr = if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0f64.powi(2) / mse).log10()
        };
        (format, file.len(), largest, sum / count as f64, psnr)
    })
    .collect()
}

fn print_differences(what: &str, rows: &[(WeightFormat, usize, u8, f64, f64)]) {
    eprintln!("{what}: format | bytes | largest | mean | PSNR dB");
    for (format, bytes, largest, mean, psnr) in rows {
        eprintln!("| {format} | {bytes} | {largest} | {mean:.4} | {psnr:.1} |");
    }
}

/// The compact formats cost little accuracy on a trained run: f32 is the native network to a
/// level, f16 and bf16 within a few levels, 8 bits within the bounds its README row states.
#[test]
fn weight_formats_stay_close_to_the_native_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    let source = pix2pix::infer::GeneratorSource::Run {
        dir: root.join("checkpoints/tiny"),
        epoch: "latest".into(),
    };
    let inputs = walk(&root.join("shapes/test"));
    let rows = format_differences(&source, &Default::default(), &inputs);
    print_differences("tiny run", &rows);
    let bound = |format| rows.iter().find(|r| r.0 == format).unwrap();
    assert!(bound(WeightFormat::F32).2 <= 1);
    assert!(bound(WeightFormat::F16).4 >= 40.0);
    assert!(bound(WeightFormat::Bf16).4 >= 30.0);
    assert!(bound(WeightFormat::Int8).4 >= 25.0);
}

/// BENCHMARKS.md's "Web export" figures, by hand (`cargo test --release --test web_export --
/// --ignored --nocapture`): the weight formats on the demo's trained unet_64 over its test
/// images, and in headless Chromium the time to load (download excluded) and to translate the
/// demo's unet_64 and the official-size unet_256, against native inference on this machine.
#[test]
#[ignore]
fn measure_the_formats_and_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(pix2pix(&["demo", "--dir", "demo"], root));
    let run = root.join("demo/checkpoints/shapes_demo");
    let source = pix2pix::infer::GeneratorSource::Run {
        dir: run.clone(),
        epoch: "latest".into(),
    };
    let inputs: Vec<PathBuf> = walk(&root.join("demo/datasets/shapes/test"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    // The test pairs are A|B: their A halves are the inputs.
    let halves: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let pair = image::open(p).unwrap().to_rgb8();
            let (a, _) = pix2pix::data::image::split_pair(&pair);
            let path = root.join(format!("a{i}.png"));
            a.save(&path).unwrap();
            path
        })
        .collect();
    print_differences(
        "demo unet_64",
        &format_differences(&source, &Default::default(), &halves),
    );

    let big = root.join("big_net_G.bpk");
    let device = pix2pix::device::cpu().unwrap();
    pix2pix::checkpoint::save_module(
        &big,
        &pix2pix::model::ModelOptions::default().generator(&device),
    )
    .unwrap();
    for (name, args, side) in [
        (
            "demo unet_64",
            vec![
                "--name",
                "shapes_demo",
                "--checkpoints_dir",
                "demo/checkpoints",
            ],
            64u32,
        ),
        (
            "unet_256",
            vec!["--checkpoint", big.to_str().unwrap(), "--netG", "unet_256"],
            256,
        ),
    ] {
        let site = format!("site_{side}");
        let mut export = vec!["export", "--format", "web", "-o", site.as_str()];
        export.extend_from_slice(&args);
        ok(pix2pix(&export, root));
        let native = native_milliseconds(root, &args, side);
        let url = serve_static(root.join(&site));
        with_browser(async |client| {
            client.goto(&url).await.unwrap();
            until(
                &client,
                "return window.pix2pixTimings && window.pix2pixTimings.loadMs !== null || null",
                600,
            )
            .await;
            for _ in 0..6 {
                click(&client, "#translate").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                until(&client, "return document.getElementById('status').textContent.startsWith('translated with') || null", 600).await;
            }
            let timings = client.execute(TIMINGS, vec![]).await.unwrap();
            eprintln!(
                "{name} {side}x{side}: in headless Chromium {timings}; native (2 threads) median {native:.0} ms"
            );
            // README's picture (docs/web-export.png) is the demo's.
            screenshot(&client, &format!("web-export-{side}.png")).await;
        });
    }
}

/// The median of 5 native eval-mode translations of a `side` x `side` image, in milliseconds.
fn native_milliseconds(root: &Path, generator: &[&str], side: u32) -> f64 {
    let device = pix2pix::device::cpu().unwrap();
    let source = match generator {
        ["--checkpoint", file, ..] => pix2pix::infer::GeneratorSource::File(PathBuf::from(file)),
        _ => pix2pix::infer::GeneratorSource::Run {
            dir: root.join("demo/checkpoints/shapes_demo"),
            epoch: "latest".into(),
        },
    };
    let overrides = pix2pix::infer::ModelOverrides {
        net_g: (side == 256).then(|| "unet_256".parse().unwrap()),
        ..Default::default()
    };
    let loaded = pix2pix::infer::load_generator(&source, &overrides, true, &device).unwrap();
    let image = image::DynamicImage::new_rgb8(side, side);
    let mut times: Vec<f64> = (0..6)
        .map(|_| {
            let started = std::time::Instant::now();
            pix2pix::infer::translate_image(&loaded, &image, &device).unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
