//! `pix2pix pretrained`: downloads from a loopback HTTP server started here (serving generated
//! official-layout .pth files, zip and legacy formats), resumption, the checks, and the
//! downloaded model used by `translate`, `test`, `serve` and `export` with its known direction.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::server::{Server, agent, png};
use common::{dataset, fails_with, ok, pix2pix, requirement, stdout, train_tiny};
use pix2pix::interop::onnx::proto::ModelProto;
use prost::Message;

/// Each request's path and Range header.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A loopback HTTP server of files by URL path, honouring `Range: bytes=N-`. With `cut`, its
/// first answer announces the whole length but stops after that many bytes.
struct FileServer {
    base: String,
    requests: RequestLog,
}

impl FileServer {
    fn start(files: HashMap<String, Vec<u8>>, cut: Option<usize>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/models", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            let mut cut = cut;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("range:") {
                        range = Some(value.trim().to_string());
                    }
                }
                log.lock().unwrap().push((path.clone(), range.clone()));
                let Some(file) = files.get(&path) else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                };
                let from: usize = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
                    .unwrap_or(0);
                if from >= file.len() && from > 0 {
                    let _ = stream.write_all(
                        b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                let status = if from > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let body = &file[from..];
                let range = if from > 0 {
                    format!(
                        "Content-Range: bytes {from}-{}/{}\r\n",
                        file.len() - 1,
                        file.len()
                    )
                } else {
                    String::new()
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{range}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let sent = cut.take().map_or(body.len(), |n| n.min(body.len()));
                let _ = stream.write_all(&body[..sent]);
            }
        });
        FileServer { base, requests }
    }
}

/// A trained tiny run `src` and its generator and discriminator as official .pth files.
fn exported(root: &Path) -> (Vec<u8>, Vec<u8>) {
    dataset(root, 32, 4, 2);
    ok(train_tiny(root, "src", &[]));
    ok(pix2pix(
        &["export", "--name", "src", "--output", "g.pth"],
        root,
    ));
    (
        std::fs::read(root.join("g.pth")).unwrap(),
        std::fs::read(root.join("g_D.pth")).unwrap(),
    )
}

fn download(root: &Path, base: &str, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["pretrained", "download", name, "--base-url", base];
    args.extend_from_slice(extra);
    pix2pix(&args, root)
}

#[test]
fn a_download_resumes_is_checked_and_serves_test_translate_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (generator, _) = exported(root);
    let files = HashMap::from([(
        "/models/facades_label2photo.pth".to_string(),
        generator.clone(),
    )]);
    let server = FileServer::start(files, Some(generator.len() / 2));
    let run = root.join("checkpoints/facades_label2photo_pretrained");

    // The first transfer stops halfway: an error that says to run again, the part kept.
    fails_with(
        download(root, &server.base, "facades_label2photo", &[]),
        &["run the command again"],
    );
    assert!(!run.join("latest_net_G.pth").exists());
    let part = std::fs::metadata(run.join("latest_net_G.pth.part")).unwrap();
    assert_eq!(part.len() as usize, generator.len() / 2);
    // The second continues where it stopped.
    ok(download(root, &server.base, "facades_label2photo", &[]));
    assert_eq!(
        std::fs::read(run.join("latest_net_G.pth")).unwrap(),
        generator
    );
    assert!(!run.join("latest_net_G.pth.part").exists());
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(
        requests[1].1.as_deref(),
        Some(format!("bytes={}-", generator.len() / 2).as_str())
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("pretrained.json")).unwrap())
            .unwrap();
    assert_eq!(record["name"], "facades_label2photo");
    assert_eq!(record["direction"], "BtoA");
    assert_eq!(
        record["source"],
        format!("{}/facades_label2photo.pth", server.base)
    );
    fails_with(
        download(root, &server.base, "facades_label2photo", &[]),
        &["already exists"],
    );
    ok(download(
        root,
        &server.base,
        "facades_label2photo",
        &["--force"],
    ));

    // translate: the weights of the run they came from.
    std::fs::write(root.join("sketch.png"), png(40, 40)).unwrap();
    for (name, out) in [("facades_label2photo_pretrained", "a"), ("src", "b")] {
        ok(pix2pix(
            &[
                "translate",
                "sketch.png",
                "-o",
                out,
                "--name",
                name,
                "--eval",
            ],
            root,
        ));
    }
    assert_eq!(
        std::fs::read(root.join("a/sketch.png")).unwrap(),
        std::fs::read(root.join("b/sketch.png")).unwrap()
    );

    // test without --direction: the model's own, BtoA, so real_A is the pair's B half.
    ok(pix2pix(
        &[
            "test",
            "--dataroot",
            "shapes",
            "--name",
            "facades_label2photo_pretrained",
            "--load_size",
            "32",
            "--crop_size",
            "32",
        ],
        root,
    ));
    let first = common_first_test_pair(root);
    let stem = first.file_stem().unwrap().to_str().unwrap();
    let real_a = image::open(root.join(format!(
        "results/facades_label2photo_pretrained/test_latest/images/{stem}_real_A.png"
    )))
    .unwrap()
    .to_rgb8();
    let pair = image::open(&first).unwrap().to_rgb8();
    let b_half = image::imageops::crop_imm(&pair, 32, 0, 32, 32).to_image();
    let a_half = image::imageops::crop_imm(&pair, 0, 0, 32, 32).to_image();
    let distance = |x: &image::RgbImage, y: &image::RgbImage| -> u64 {
        x.as_raw()
            .iter()
            .zip(y.as_raw())
            .map(|(a, b)| (*a as i64 - *b as i64).unsigned_abs())
            .sum()
    };
    assert!(
        distance(&real_a, &b_half) * 10 < distance(&real_a, &a_half),
        "test did not take the B half as input"
    );

    // export to ONNX: the direction in the metadata.
    ok(pix2pix(
        &[
            "export",
            "--name",
            "facades_label2photo_pretrained",
            "-o",
            "facades.onnx",
        ],
        root,
    ));
    let bytes = std::fs::read(root.join("facades.onnx")).unwrap();
    let model = ModelProto::decode(bytes.as_slice()).unwrap();
    let direction = model.metadata_props.iter().find(|p| p.key == "direction");
    assert_eq!(direction.map(|p| p.value.as_str()), Some("BtoA"));

    // serve: listed with its direction.
    let served = Server::start(root, &["--name", "facades_label2photo_pretrained"]);
    let mut response = agent().get(served.url("/api/models")).call().unwrap();
    let models: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(models[0]["direction"], "BtoA");
}

/// The first test pair of the tiny dataset, in name order.
fn common_first_test_pair(root: &Path) -> std::path::PathBuf {
    let mut pairs: Vec<_> = std::fs::read_dir(root.join("shapes/test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pairs.sort();
    pairs.remove(0)
}

#[test]
fn unknown_names_offline_servers_and_other_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let list = stdout(&ok(pix2pix(&["pretrained", "list"], root)));
    for line in [
        "edges2shoes",
        "sat2map",
        "map2sat",
        "facades_label2photo",
        "day2night",
    ] {
        assert!(list.contains(line), "{list}");
    }
    assert!(list.contains("BtoA on facades"), "{list}");

    fails_with(
        pix2pix(&["pretrained", "download", "cats"], root),
        &["unknown pretrained model 'cats'", "edges2shoes"],
    );
    // A port nothing listens on: the machine is offline for this URL.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/models", closed.local_addr().unwrap());
    drop(closed);
    let message = fails_with(download(root, &url, "sat2map", &[]), &["cannot download"]);
    assert_eq!(message.trim().lines().count(), 1, "{message}");

    // A discriminator, and a file that is no .pth at all, under a generator's name.
    let (_, discriminator) = exported(root);
    let files = HashMap::from([
        ("/models/edges2shoes.pth".to_string(), discriminator),
        (
            "/models/sat2map.pth".to_string(),
            b"<html>moved</html>".to_vec(),
        ),
    ]);
    let server = FileServer::start(files, None);
    fails_with(
        download(root, &server.base, "edges2shoes", &[]),
        &["a discriminator", "edges2shoes.pth"],
    );
    fails_with(
        download(root, &server.base, "sat2map", &[]),
        &["not a readable PyTorch file"],
    );
    fails_with(download(root, &server.base, "map2sat", &[]), &["404"]);
    for name in ["edges2shoes", "sat2map", "map2sat"] {
        let run = root.join(format!("checkpoints/{name}_pretrained"));
        assert!(!run.exists(), "{name}: a folder was left behind");
    }
}

#[test]
fn the_legacy_format_of_old_pytorch_versions_downloads_and_loads() {
    let Some(python) = requirement(
        "PIX2PIX_PYTHON",
        "a Python with torch (scripts/reference/requirements.txt)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    exported(root);
    // The official files were written by PyTorch before 1.6: the legacy (non-zip) format.
    let script = "import sys, torch; torch.save(torch.load(sys.argv[1]), sys.argv[2], \
                  _use_new_zipfile_serialization=False)";
    let converted = std::process::Command::new(python)
        .args(["-c", script, "g.pth", "legacy.pth"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(converted.status.success(), "{converted:?}");
    let legacy = std::fs::read(root.join("legacy.pth")).unwrap();
    assert_ne!(&legacy[..2], b"PK", "torch wrote a zip file");
    let server = FileServer::start(
        HashMap::from([("/models/day2night.pth".to_string(), legacy)]),
        None,
    );
    ok(download(root, &server.base, "day2night", &[]));
    std::fs::write(root.join("photo.png"), png(32, 32)).unwrap();
    ok(pix2pix(
        &[
            "translate",
            "photo.png",
            "-o",
            "out",
            "--name",
            "day2night_pretrained",
        ],
        root,
    ));
    assert!(root.join("out/photo.png").is_file());
}

/// A loopback server that reads each request's head and answers it with `reply` (given the
/// stream and the head, lower-cased), each connection on its own thread.
fn misbehaving(reply: fn(&mut std::net::TcpStream, &str)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/models", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                reply(&mut stream, &head);
            });
        }
    });
    base
}

#[test]
fn downloads_that_stall_overflow_or_lie_end_in_errors_and_write_through_no_link() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = root.join("checkpoints/sat2map_pretrained");
    let part = run.join("latest_net_G.pth.part");
    let nothing_left = |case: &str| {
        assert!(
            !run.exists(),
            "{case}: {:?}",
            std::fs::read_dir(&run).ok().map(|d| d.count())
        );
    };
    let timeout = ["--timeout", "1"];

    // Accepts and never answers: the timeout ends it, naming the URL.
    let silent = misbehaving(|_, _| std::thread::sleep(std::time::Duration::from_secs(30)));
    let started = std::time::Instant::now();
    fails_with(
        download(root, &silent, "sat2map", &timeout),
        &["sat2map.pth", "no answer for 1 s"],
    );
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    nothing_left("silent");

    // Stops sending halfway through the body: the part is kept for the next try.
    let stalls = misbehaving(|stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    fails_with(
        download(root, &stalls, "sat2map", &timeout),
        &["stopped after 10 of 1000 bytes", "run the command again"],
    );
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 10);
    std::fs::remove_dir_all(&run).unwrap();

    // An endless body without a length: stopped at --max-size, the part removed.
    let endless = misbehaving(|stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![7u8; 1 << 16];
        while stream.write_all(&chunk).is_ok() {}
    });
    fails_with(
        download(root, &endless, "sat2map", &["--max-size", "1MB"]),
        &["sat2map.pth", "over the limit of 1000000"],
    );
    nothing_left("endless");

    // Declares more than the limit, or than any disk holds: refused before a byte is written.
    let huge = misbehaving(|stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 900000000000000000\r\n\r\n");
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    fails_with(
        download(root, &huge, "sat2map", &[]),
        &["900000000000000000 bytes", "over the limit of 2000000000"],
    );
    fails_with(
        download(root, &huge, "sat2map", &["--max-size", "1000PB"]),
        &["bytes free", "900000000000000000 are needed"],
    );
    nothing_left("huge");

    // Resumed with a range other than the one asked for: not appended.
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(&part, b"0123").unwrap();
    let shifted = misbehaving(|stream, _| {
        let _ = stream.write_all(
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\n0123456789",
        );
    });
    fails_with(
        download(root, &shifted, "sat2map", &[]),
        &["not the bytes asked for"],
    );
    assert_eq!(std::fs::read(&part).unwrap(), b"0123");
    std::fs::remove_dir_all(&run).unwrap();

    // A redirect to a file on this machine is not followed, and says so.
    let to_file = misbehaving(|stream, _| {
        let _ = stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n",
        );
    });
    fails_with(
        download(root, &to_file, "sat2map", &[]),
        &[
            "sat2map.pth",
            "redirects to \"file:///etc/passwd\", which is not an http(s) address",
        ],
    );
    nothing_left("file redirect");

    // Links where the part or the generator go are not written through, nor replaced.
    std::fs::create_dir_all(&run).unwrap();
    let victim = root.join("victim");
    std::fs::write(&victim, b"mine").unwrap();
    let (generator, _) = exported(root);
    let files = HashMap::from([("/models/sat2map.pth".to_string(), generator)]);
    let server = FileServer::start(files, None);
    for link in [&part, &run.join("latest_net_G.pth")] {
        std::os::unix::fs::symlink(&victim, link).unwrap();
        fails_with(
            download(root, &server.base, "sat2map", &["--force"]),
            &["is a symbolic link", "nothing is written over it"],
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"mine");
        assert!(!run.join("pretrained.json").exists());
        std::fs::remove_file(link).unwrap();
    }
    ok(download(root, &server.base, "sat2map", &[]));
    assert!(run.join("pretrained.json").exists());

    for bad in [
        &["--timeout", "0"][..],
        &["--max-size", "0"],
        &["--max-size", "lots"],
    ] {
        let output = download(root, &server.base, "map2sat", bad);
        assert!(!output.status.success(), "{bad:?}");
        assert!(
            !root.join("checkpoints/map2sat_pretrained").exists(),
            "{bad:?}"
        );
    }
}
