//! `pix2pix serve` through a real HTTP client: outputs equal to `translate`'s, every error
//! status of the API, the limits (uploads, pixels, queue, slow clients, memory), batching,
//! the dashboard's data, and a graceful stop.

mod common;
#[path = "serve/runs.rs"]
mod runs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{Server, agent, png, trained};
use common::{ok, pix2pix};

/// (status, body) of a POST of `body` to `path`.
fn post(server: &Server, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut response = agent().post(server.url(path)).send(body).unwrap();
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (status, bytes)
}

fn get(server: &Server, path: &str) -> (u16, String) {
    let mut response = agent().get(server.url(path)).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// (status, bytes) of a GET of `path`.
fn get_bytes(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let mut response = agent().get(server.url(path)).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

/// The names of `GET /api/models`' answer.
fn names(models: &serde_json::Value) -> Vec<&str> {
    let models = models.as_array().unwrap();
    models.iter().map(|m| m["name"].as_str().unwrap()).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A one-colour PNG: many pixels in few bytes.
fn flat_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::new(width, height)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// What `translate` writes for `input` with `flags`.
fn translated(dir: &Path, input: &Path, flags: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("out-{}", flags.join("-").replace('/', "_")));
    let mut args = vec![
        "translate",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--force",
    ];
    args.extend_from_slice(flags);
    ok(pix2pix(&args, dir));
    let stem = input.file_stem().unwrap().to_str().unwrap();
    std::fs::read(out.join(format!("{stem}.png"))).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn translations_equal_the_cli_and_errors_have_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained(root, "tiny", &[]);
    let server = Server::start(
        root,
        &[
            "--max-upload-mb",
            "1",
            "--max-pixels",
            "1000000",
            "--body-timeout",
            "2",
        ],
    );

    let (status, body) = get(&server, "/healthz");
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
    let (_, models) = get(&server, "/api/models");
    let models = json(&models);
    let tiny = &models[0];
    assert_eq!(tiny["name"], "tiny");
    assert_eq!(tiny["netG"], "unet_32");
    assert_eq!(
        (tiny["input_nc"].as_u64(), tiny["output_nc"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (tiny["size_multiple"].as_u64(), tiny["size"].as_u64()),
        (Some(32), Some(32))
    );

    // Any size (padded and cropped back), both modes, a seed, PNG and JPEG.
    let input = write(root, "sketch.png", &png(45, 38));
    let bytes = std::fs::read(&input).unwrap();
    for (query, flags) in [
        ("model=tiny", &["--name", "tiny"][..]),
        ("model=tiny&seed=7", &["--name", "tiny", "--seed", "7"]),
        ("model=tiny&eval=true", &["--name", "tiny", "--eval"]),
        (
            "model=tiny&epoch=latest&eval=1",
            &["--name", "tiny", "--eval"],
        ),
    ] {
        let (status, output) = post(&server, &format!("/api/translate?{query}"), &bytes);
        assert_eq!(status, 200, "{query}: {}", String::from_utf8_lossy(&output));
        assert_eq!(output, translated(root, &input, flags), "{query}");
    }
    let mut jpeg = Vec::new();
    image::load_from_memory(&bytes)
        .unwrap()
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let jpeg_file = write(root, "photo.jpg", &jpeg);
    let (status, output) = post(&server, "/api/translate?model=tiny&eval=true", &jpeg);
    assert_eq!(status, 200);
    assert_eq!(
        output,
        translated(root, &jpeg_file, &["--name", "tiny", "--eval"])
    );
    let decoded = image::load_from_memory(&output).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (45, 38));

    // Each error status, as JSON naming the problem.
    let mut bomb = png(1, 1);
    claim_size(&mut bomb, 40_000, 40_000);
    let cases: Vec<(String, Vec<u8>, u16, &str)> = vec![
        ("model=nope".into(), bytes.clone(), 404, "no model 'nope'"),
        (
            "model=tiny&epoch=7".into(),
            bytes.clone(),
            404,
            "no epoch '7'",
        ),
        (
            "model=tiny&epoch=..%2F..%2Fx".into(),
            bytes.clone(),
            404,
            "no epoch",
        ),
        ("".into(), bytes.clone(), 400, "name the model"),
        ("model=tiny&eval=maybe".into(), bytes.clone(), 400, "eval"),
        ("model=tiny&seed=-3".into(), bytes.clone(), 400, "seed"),
        (
            "model=tiny&size=9".into(),
            bytes.clone(),
            400,
            "unknown parameter 'size'",
        ),
        (
            "model=tiny".into(),
            b"not an image".to_vec(),
            400,
            "not a PNG",
        ),
        ("model=tiny".into(), Vec::new(), 400, "not a PNG"),
        (
            "model=tiny".into(),
            bytes[..bytes.len() / 2].to_vec(),
            400,
            "cannot read image",
        ),
        (
            "model=tiny".into(),
            vec![7; 1_100_000],
            413,
            "--max-upload-mb",
        ),
        ("model=tiny".into(), bomb, 422, "--max-pixels"),
        // Headers that the decoders refuse for themselves (no tables, a canvas over WebP's own
        // limit): still a bomb by their size.
        ("model=tiny".into(), jpeg_bomb(), 422, "65535x65535"),
        (
            "model=tiny".into(),
            webp_bomb(16_777_216),
            422,
            "16777216x16777216",
        ),
        (
            "model=tiny".into(),
            flat_png(1100, 1000),
            422,
            "--max-pixels",
        ),
    ];
    for (query, body, expected, needle) in cases {
        let (status, reply) = post(&server, &format!("/api/translate?{query}"), &body);
        let reply = String::from_utf8_lossy(&reply).into_owned();
        assert_eq!(status, expected, "{query}: {reply}");
        let message = json(&reply)["error"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (status, reply) = get(&server, "/no/such/page");
    assert_eq!((status, json(&reply)["error"].is_string()), (404, true));

    // Another Host (DNS rebinding) is refused; no CORS header is ever sent.
    let response = agent()
        .get(server.url("/api/models"))
        .header("Host", "attacker.example")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 421);
    let response = agent()
        .get(server.url("/api/models"))
        .header("Origin", "http://attacker.example")
        .call()
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // An upload without a length, over the limit, is cut off at the limit.
    let reply = raw(
        &server,
        b"POST /api/translate?model=tiny HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        &chunked(&vec![1; 1_200_000]),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // Declared over the limit: a client waiting for "100 Continue" gets its 413 instead, and
    // one that stops sending still gets a 413, not a 408.
    let oversize = b"POST /api/translate?model=tiny HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Length: 1100000\r\nConnection: close\r\n";
    let reply = raw(
        &server,
        &[&oversize[..], b"Expect: 100-continue\r\n\r\n"].concat(),
        b"",
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let reply = raw(&server, &[&oversize[..], b"\r\n"].concat(), &[1; 1000]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");

    // After all that, the server still answers.
    let (status, _) = post(&server, "/api/translate?model=tiny", &bytes);
    assert_eq!(status, 200);
}

/// Rewrites a PNG's IHDR to claim another size (its CRC fixed): a decompression bomb's header.
fn claim_size(png: &mut [u8], width: u32, height: u32) {
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&png[12..29]);
    png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
}

/// A JPEG that declares 65535x65535 pixels and holds nothing else.
fn jpeg_bomb() -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xdb, 0, 67, 0];
    jpeg.extend([1; 64]);
    jpeg.extend([0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0]);
    jpeg.extend([0xff, 0xd9]);
    jpeg
}

/// An extended WebP (VP8X) whose canvas is `side` x `side`, and nothing else.
fn webp_bomb(side: u32) -> Vec<u8> {
    let mut chunk = b"VP8X".to_vec();
    chunk.extend(10u32.to_le_bytes());
    chunk.extend([0; 4]);
    for _ in 0..2 {
        chunk.extend(&(side - 1).to_le_bytes()[..3]);
    }
    let mut webp = b"RIFF".to_vec();
    webp.extend((4 + chunk.len() as u32).to_le_bytes());
    webp.extend(b"WEBP");
    webp.extend(chunk);
    webp
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(64 << 10) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends `head` and `body` over a plain socket and returns what comes back (a write the server
/// refuses after answering is not an error).
fn raw(server: &Server, head: &[u8], body: &[u8]) -> String {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head).unwrap();
    let _ = stream.write_all(body);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// The server's peak resident memory (VmHWM), in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[test]
fn load_slow_clients_batching_and_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Instance norm without dropout: a batch cannot change a result, so requests batch.
    trained(root, "inst", &["--norm", "instance", "--no_dropout"]);
    let server = Server::start(
        root,
        &[
            "--queue",
            "4",
            "--max-batch",
            "8",
            "--header-timeout",
            "1",
            "--body-timeout",
            "2",
        ],
    );
    let small = png(64, 64);
    let input = write(root, "small.png", &small);
    let alone = translated(root, &input, &["--name", "inst"]);

    // Tens of clients at once: each gets its image or a 503 with Retry-After, never anything
    // else, and the server's memory stays bounded.
    let results: Vec<(u16, Vec<u8>, bool)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..32)
            .map(|_| {
                scope.spawn(|| {
                    let mut response = agent()
                        .post(server.url("/api/translate?model=inst"))
                        .send(&small[..])
                        .unwrap();
                    let retry = response.headers().contains_key("retry-after");
                    let status = response.status().as_u16();
                    (status, response.body_mut().read_to_vec().unwrap(), retry)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let served = results
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .count();
    assert!(served >= 5, "only {served} of 32 served");
    for (status, body, retry) in &results {
        match status {
            200 => assert_eq!(
                body, &alone,
                "a batched result differs from the image alone"
            ),
            503 => assert!(retry, "503 without Retry-After"),
            other => panic!("status {other}: {}", String::from_utf8_lossy(body)),
        }
    }
    let (_, health) = get(&server, "/healthz");
    assert!(
        json(&health)["batched"].as_u64().unwrap() >= 2,
        "no request ran in a batch: {health}"
    );
    assert!(
        peak_mib(server.pid()) < 600,
        "peak {} MiB",
        peak_mib(server.pid())
    );

    // A client that stalls in its headers is cut off; one that stalls in its upload gets 408.
    let started = Instant::now();
    let reply = raw(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"",
    );
    assert!(!reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let reply = raw(
        &server,
        b"POST /api/translate?model=inst HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n",
        &small[..100],
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");

    // SIGTERM while a translation runs: it finishes and is answered, then the process exits 0.
    let large = png(1024, 1024);
    let mut server = server;
    let address = server.address.clone();
    let graceful = std::thread::scope(|scope| {
        let request = scope.spawn(|| {
            let response = agent()
                .post(format!("http://{address}/api/translate?model=inst"))
                .send(&large[..])
                .unwrap();
            response.status().as_u16()
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut health = agent()
                .get(format!("http://{address}/healthz"))
                .call()
                .unwrap();
            let body = health.body_mut().read_to_string().unwrap();
            if json(&body)["pending"].as_u64() == Some(1) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ok(Command::new("kill")
            .args(["-TERM", &server.pid().to_string()])
            .output()
            .unwrap());
        request.join().unwrap()
    });
    assert_eq!(graceful, 200);
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}
