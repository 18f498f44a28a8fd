//! `pix2pix data`: combine, edges, colorization, split, check and download, through the binary,
//! on real photographs (tests/fixtures/photos, public domain and CC0) and generated images.

mod common;

use common::{fails_with, ok, pix2pix, stdout};

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

/// The photographs: six JPEG files (and their README).
fn photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos")
}

const PHOTO_COUNT: usize = 6;

/// The names in `dir`, sorted, without the mark that says which command made it.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|e| {
            e.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name != ".pix2pix-output")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn solid(dir: &Path, name: &str, w: u32, h: u32, colour: [u8; 3]) {
    std::fs::create_dir_all(dir).unwrap();
    RgbImage::from_pixel(w, h, Rgb(colour))
        .save(dir.join(name))
        .unwrap();
}

#[test]
fn edges_of_real_photos_train_and_test() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let photos = photos();
    ok(pix2pix(
        &[
            "data",
            "edges",
            "--photos",
            photos.to_str().unwrap(),
            "--out",
            "edges",
            "--size",
            "64",
        ],
        dir,
    ));
    let pairs = files(&dir.join("edges"));
    assert_eq!(pairs.len(), PHOTO_COUNT);
    let pair = image::open(dir.join("edges").join(&pairs[0]))
        .unwrap()
        .to_rgb8();
    assert_eq!(pair.dimensions(), (128, 64));
    // Black edges on white: mostly white on the left, with some black.
    let left: Vec<u8> = (0..64)
        .flat_map(|y| (0..64).map(move |x| (x, y)))
        .map(|(x, y)| pair.get_pixel(x, y)[0])
        .collect();
    let black = left.iter().filter(|v| **v == 0).count();
    assert!(black > 20 && black < 64 * 64 / 3, "{black} edge pixels");

    ok(pix2pix(
        &[
            "data", "split", "--in", "edges", "--out", "ds", "--val", "0", "--test", "0.25",
            "--seed", "3",
        ],
        dir,
    ));
    ok(pix2pix(
        &[
            "data",
            "check",
            "ds",
            "--netG",
            "unet_64",
            "--load_size",
            "64",
            "--crop_size",
            "64",
        ],
        dir,
    ));
    ok(pix2pix(
        &[
            "train",
            "--dataroot",
            "ds",
            "--name",
            "edges",
            "--netG",
            "unet_64",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--load_size",
            "72",
            "--crop_size",
            "64",
            "--n_epochs",
            "1",
            "--n_epochs_decay",
            "0",
            "--direction",
            "AtoB",
        ],
        dir,
    ));
    let out = stdout(&ok(pix2pix(
        &["test", "--dataroot", "ds", "--name", "edges"],
        dir,
    )));
    assert!(out.contains("tested 2 images"), "{out}");
}

#[test]
fn colorization_pairs_are_gray_then_colour() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    ok(pix2pix(
        &[
            "data",
            "colorization",
            "--photos",
            photos().to_str().unwrap(),
            "--out",
            "color",
            "--size",
            "32",
        ],
        dir,
    ));
    let pair = image::open(dir.join("color").join(&files(&dir.join("color"))[0]))
        .unwrap()
        .to_rgb8();
    assert_eq!(pair.dimensions(), (64, 32));
    assert!(
        pair.enumerate_pixels()
            .filter(|(x, ..)| *x < 32)
            .all(|(.., p)| p[0] == p[1] && p[1] == p[2])
    );
    assert!(
        pair.enumerate_pixels()
            .filter(|(x, ..)| *x >= 32)
            .any(|(.., p)| p[0] != p[1] || p[1] != p[2])
    );
}

#[test]
fn combine_pairs_by_name_per_phase_and_reports_the_rest() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    solid(&dir.join("A/train"), "1.png", 16, 16, [255, 0, 0]);
    solid(&dir.join("B/train"), "1.jpg", 16, 16, [0, 0, 255]);
    solid(&dir.join("A/train"), "2.png", 16, 16, [255, 0, 0]);
    solid(&dir.join("B/train"), "2.png", 20, 16, [0, 0, 255]);
    solid(&dir.join("A/train"), "only_a.png", 16, 16, [0; 3]);
    solid(&dir.join("A/test"), "3.png", 16, 16, [255, 0, 0]);
    solid(&dir.join("B/test"), "3.png", 16, 16, [0, 0, 255]);
    let out = pix2pix(
        &["data", "combine", "--a", "A", "--b", "B", "--out", "AB"],
        dir,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let written = stdout(&ok(out));
    assert!(written.contains("wrote 2 pairs"), "{written}");
    assert!(
        stderr.contains("train/only_a (only in A)") && stderr.contains("--resize"),
        "{stderr}"
    );
    assert_eq!(files(&dir.join("AB/train")), ["1.png"]);
    assert_eq!(files(&dir.join("AB/test")), ["3.png"]);
    let pair = image::open(dir.join("AB/train/1.png")).unwrap().to_rgb8();
    assert_eq!(
        (pair.dimensions(), pair.get_pixel(0, 0).0),
        ((32, 16), [255, 0, 0])
    );
    let b = pair.get_pixel(31, 0).0; // from a JPEG: nearly pure blue
    assert!(b[0] < 8 && b[1] < 8 && b[2] > 247, "{b:?}");

    // An existing output is kept without --force; with --resize every pair is written.
    fails_with(
        pix2pix(
            &["data", "combine", "--a", "A", "--b", "B", "--out", "AB"],
            dir,
        ),
        &["AB already exists", "--force"],
    );
    ok(pix2pix(
        &[
            "data", "combine", "--a", "A", "--b", "B", "--out", "AB", "--resize", "8", "--force",
        ],
        dir,
    ));
    assert_eq!(files(&dir.join("AB/train")), ["1.png", "2.png"]);
    // An output inside an input is refused, and nothing is left behind.
    fails_with(
        pix2pix(
            &["data", "combine", "--a", "A", "--b", "B", "--out", "A/AB"],
            dir,
        ),
        &["overlap"],
    );
    assert!(!dir.join("A/AB").exists());
}

#[test]
fn split_is_reproducible_and_check_finds_what_would_fail() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    for i in 0..20 {
        solid(
            &dir.join("all"),
            &format!("{i:02}.png"),
            64,
            32,
            [i as u8 * 10, 0, 0],
        );
    }
    ok(pix2pix(
        &[
            "data", "split", "--in", "all", "--out", "s1", "--val", "0.2", "--test", "0.1",
            "--seed", "5",
        ],
        dir,
    ));
    ok(pix2pix(
        &[
            "data", "split", "--in", "all", "--out", "s2", "--val", "0.2", "--test", "0.1",
            "--seed", "5",
        ],
        dir,
    ));
    for phase in ["train", "val", "test"] {
        assert_eq!(
            files(&dir.join("s1").join(phase)),
            files(&dir.join("s2").join(phase))
        );
    }
    assert_eq!(
        (
            files(&dir.join("s1/train")).len(),
            files(&dir.join("s1/val")).len(),
            files(&dir.join("s1/test")).len()
        ),
        (14, 4, 2)
    );
    assert_eq!(
        files(&dir.join("all")).len(),
        20,
        "the input is left as it was"
    );

    // 32x32 halves: fine for unet_32 crops of 32, not for the default 256 crops.
    let tiny = |folder: &str| {
        pix2pix(
            &[
                "data",
                "check",
                folder,
                "--netG",
                "unet_32",
                "--load_size",
                "32",
                "--crop_size",
                "32",
            ],
            dir,
        )
    };
    let checked = stdout(&ok(tiny("s1")));
    assert!(checked.ends_with("ok: ready for training\n"), "{checked}");
    // Single label images, not A|B pairs: training would cut them into unrelated halves.
    for i in 0..3 {
        solid(
            &dir.join("single/train"),
            &format!("{i}.png"),
            64,
            64,
            [0, 0, 170],
        );
    }
    let single = stdout(&ok(tiny("single")));
    for needle in [
        "train: 3 of 3 files are not twice as wide as high",
        "data combine",
        "ok, with 1 warning",
    ] {
        assert!(single.contains(needle), "{needle} in {single}");
    }
    fails_with(
        pix2pix(&["data", "check", "s1", "--preprocess", "crop"], dir),
        &["smaller than crop_size 256"],
    );
    fails_with(
        pix2pix(&["data", "check", "all"], dir),
        &["no train/ folder", "data split"],
    );
    std::fs::write(
        dir.join("s1/train/broken.png"),
        b"\x89PNG\r\n\x1a\ntruncated",
    )
    .unwrap();
    solid(&dir.join("s1/train"), "odd.png", 33, 32, [0; 3]);
    let report = fails_with(tiny("s1"), &["unreadable", "broken.png", "odd width"]);
    assert!(report.contains("train: 16 images"), "{report}");
}

/// A one-shot HTTP server on loopback serving `body` (honouring Range), or cutting it short.
fn serve(
    body: Vec<u8>,
    requests: usize,
    truncate: bool,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut ranges = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut start = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    start = range.trim().trim_end_matches('-').parse().unwrap();
                    ranges.push(line.trim().to_string());
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let rest = &body[start..];
            let sent = if truncate {
                &rest[..rest.len() / 2]
            } else {
                rest
            };
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let range = if start > 0 {
                let last = start + sent.len() - 1;
                format!("Content-Range: bytes {start}-{last}/{}\r\n", body.len())
            } else {
                String::new()
            };
            let header = format!(
                "HTTP/1.1 {status}\r\n{range}Content-Length: {}\r\nConnection: close\r\n\r\n",
                sent.len()
            );
            stream.write_all(header.as_bytes()).unwrap();
            stream.write_all(sent).unwrap();
        }
        ranges
    });
    (url, handle)
}

fn facades_archive() -> Vec<u8> {
    let root = tempfile::tempdir().unwrap();
    common::dataset(root.path(), 16, 3, 2);
    std::fs::rename(root.path().join("shapes"), root.path().join("facades")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tar.append_dir_all("facades", root.path().join("facades"))
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn download_resumes_verifies_and_extracts_into_the_official_layout() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let archive = facades_archive();
    // A partial download from an earlier attempt: the first half of the archive.
    std::fs::create_dir_all(dir.join("datasets")).unwrap();
    std::fs::write(
        dir.join("datasets/facades.tar.gz.part"),
        &archive[..archive.len() / 2],
    )
    .unwrap();
    let (url, server) = serve(archive.clone(), 1, false);
    ok(pix2pix(
        &["data", "download", "facades", "--base-url", &url],
        dir,
    ));
    let ranges = server.join().unwrap();
    assert_eq!(ranges.len(), 1, "the download resumed with a Range request");
    assert_eq!(files(&dir.join("datasets/facades")), ["test", "train"]);
    assert_eq!(files(&dir.join("datasets/facades/train")).len(), 3);
    assert!(!dir.join("datasets/facades.tar.gz.part").exists());
    // Already there: refused without --force.
    fails_with(
        pix2pix(&["data", "download", "facades", "--base-url", &url], dir),
        &["already exists", "--force"],
    );
}

#[test]
fn download_failures_are_one_line_and_leave_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (url, server) = serve(facades_archive(), 1, true);
    fails_with(
        pix2pix(&["data", "download", "facades", "--base-url", &url], dir),
        &["incomplete or corrupt", "facades.tar.gz"],
    );
    server.join().unwrap();
    assert!(!dir.join("datasets/facades").exists());
    assert!(!dir.join("datasets/facades.tar.gz.part").exists());

    // Nothing listening: the error names the URL, the network and --base-url.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    let message = fails_with(
        pix2pix(&["data", "download", "maps", "--base-url", &url], dir),
        &[
            &format!("{url}/maps.tar.gz"),
            "check the network connection",
            "--base-url",
        ],
    );
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    fails_with(
        pix2pix(&["data", "download", "cityscapes"], dir),
        &["not redistributed", "data combine"],
    );
    fails_with(
        pix2pix(&["data", "download", "imagenet"], dir),
        &["unknown dataset", "facades"],
    );
}

#[test]
fn force_replaces_only_a_folder_the_same_command_made() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    solid(&dir.join("A/train"), "1.png", 16, 16, [255, 0, 0]);
    solid(&dir.join("B/train"), "1.png", 16, 16, [0, 0, 255]);
    let photos = photos();
    let photos = photos.to_str().unwrap();
    let command = |tool: &str, out: &str| -> Vec<String> {
        let mut args: Vec<&str> = match tool {
            "combine" => vec!["data", "combine", "--a", "A", "--b", "B"],
            "edges" => vec!["data", "edges", "--photos", photos, "--size", "32"],
            "colorization" => vec!["data", "colorization", "--photos", photos, "--size", "32"],
            _ => vec!["data", "split", "--in", "A/train"],
        };
        args.extend(["--out", out, "--force"]);
        args.into_iter().map(String::from).collect()
    };
    let run = |args: &[String]| pix2pix(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir);
    // What is not a folder that the command made, each with what must be left of it.
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/thesis.tex"), b"mine").unwrap();
    std::os::unix::fs::symlink(dir.join("mine"), dir.join("link")).unwrap();
    for tool in ["combine", "edges", "colorization", "split"] {
        for (out, needle) in [
            ("notes.txt", "is a regular file, not a folder"),
            ("pipe", "is a FIFO, not a folder"),
            ("link", "is a symbolic link, not a folder"),
            ("mine", "was not made by `pix2pix data"),
        ] {
            fails_with(run(&command(tool, out)), &[needle]);
        }
        // Its own output is replaced.
        ok(run(&command(tool, &format!("{tool}_out"))));
        ok(run(&command(tool, &format!("{tool}_out"))));
    }
    // Another tool's is not.
    for tool in ["combine", "edges", "colorization", "split"] {
        let other = if tool == "split" { "combine" } else { "split" };
        fails_with(
            run(&command(tool, &format!("{other}_out"))),
            &["was not made by", tool],
        );
    }
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read(dir.join("mine/thesis.tex")).unwrap(), b"mine");
    assert!(dir.join("link").is_symlink());
    let kind = std::fs::symlink_metadata(dir.join("pipe"))
        .unwrap()
        .file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A device, where the machine lets an unprivileged test see one.
    fails_with(
        run(&command("split", "/dev/null")),
        &["/dev/null is a device, not a folder"],
    );
}
