//! The readers on damaged files: every file a user or a crash can hand us (.pth, .safetensors
//! and .bpk weights, optimizer states, the state and options JSON, PNG and JPEG images),
//! truncated, bit-flipped or declaring huge sizes, read by the real binary. Each read must end
//! in success or a clean error (exit status 0 or 1), never a panic, an abort or a signal.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TINY, ok, pix2pix, stderr, stdout, train_tiny};

/// A seeded xorshift: the same mutations on every run.
struct Positions(u64);

impl Positions {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// Truncations, bit flips (in the header and anywhere) and huge values written over the first
/// length or size fields, each with a label for the report.
fn mutations(bytes: &[u8], seed: u64) -> Vec<(String, Vec<u8>)> {
    let len = bytes.len();
    let mut out = Vec::new();
    for keep in [0, 1, 8, 64, len / 4, len / 2, len - 1] {
        out.push((
            format!("cut to {keep} bytes"),
            bytes[..keep.min(len)].to_vec(),
        ));
    }
    let mut positions = Positions(seed);
    for i in 0..16 {
        // Half of the flips land in the first 256 bytes, where headers and sizes are.
        let at = if i % 2 == 0 {
            positions.next(len.min(256))
        } else {
            positions.next(len)
        };
        let bit = positions.next(8);
        let mut flipped = bytes.to_vec();
        flipped[at] ^= 1 << bit;
        out.push((format!("bit {bit} of byte {at} flipped"), flipped));
    }
    for at in [0, 4, 8, 16] {
        let mut huge = bytes.to_vec();
        let end = (at + 8).min(len);
        huge[at.min(len)..end].fill(0xFF);
        out.push((format!("bytes {at}..{end} set to 0xFF"), huge));
    }
    out
}

/// A .pth (a zip archive) rewritten: entries in reverse order, one entry missing, and the last
/// entry (a tensor's storage) cut to half, each a well-formed archive.
fn zip_mutations(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::{Cursor, Read, Write};
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let entries: Vec<(String, Vec<u8>)> = (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().into_owned(), data)
        })
        .collect();
    let write = |entries: &[(String, Vec<u8>)]| {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            out.start_file(name.as_str(), options).unwrap();
            out.write_all(data).unwrap();
        }
        out.finish().unwrap().into_inner()
    };
    let mut reversed = entries.clone();
    reversed.reverse();
    let mut short = entries.clone();
    let last = short.last_mut().unwrap();
    last.1.truncate(last.1.len() / 2);
    let mut out = vec![
        ("entries reversed".to_string(), write(&reversed)),
        ("last entry cut to half".to_string(), write(&short)),
    ];
    for skip in [0, entries.len() / 2] {
        let mut fewer = entries.clone();
        let (name, _) = fewer.remove(skip);
        out.push((format!("entry {name} missing"), write(&fewer)));
    }
    out
}

/// A clean outcome: exit status 0 or 1, and no panic.
fn problem(output: &Output) -> Option<String> {
    let all = format!("{}{}", stdout(output), stderr(output));
    match output.status.code() {
        Some(0 | 1) if !all.contains("panicked") => None,
        status => Some(format!("exit status {status:?}: {all}")),
    }
}

/// Runs the binary under a 4 GiB address-space limit, so that a huge declared size that is
/// believed fails in the process instead of waking the OOM killer.
fn limited(args: &[&str], cwd: &Path) -> Output {
    if !cfg!(unix) {
        return pix2pix(args, cwd);
    }
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pix2pix"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("sh runs")
}

/// Writes each mutation of `original` to `target` and runs `args`, collecting failures.
fn walk(dir: &Path, original: &Path, target: &Path, args: &[&str], failures: &mut Vec<String>) {
    let bytes = std::fs::read(original).unwrap();
    let name = original.file_name().unwrap().to_string_lossy();
    let mut refused = 0;
    let mut all = mutations(&bytes, bytes.len() as u64);
    if name.ends_with(".pth") {
        all.extend(zip_mutations(&bytes));
    }
    for (what, mutated) in all {
        std::fs::write(target, &mutated).unwrap();
        let output = limited(args, dir);
        refused += usize::from(output.status.code() == Some(1));
        if let Some(problem) = problem(&output) {
            failures.push(format!(
                "{name}, {what}: pix2pix {}: {problem}",
                args.join(" ")
            ));
        }
    }
    // An empty file at least must be refused, or the command never read the file.
    if refused == 0 {
        failures.push(format!(
            "{name}: no damaged copy was refused by pix2pix {}",
            args.join(" ")
        ));
    }
}

/// A folder with the tiny dataset, a trained run `ok`, its G exported as g.pth and
/// g.safetensors, and a test image as image.png.
fn trained() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    common::dataset(dir, 32, 2, 1);
    ok(train_tiny(dir, "ok", &["--n_epochs_decay", "0"]));
    for format in ["pth", "safetensors"] {
        let output = format!("g.{format}");
        ok(pix2pix(
            &["export", "--name", "ok", "--format", format, "-o", &output],
            dir,
        ));
    }
    let test_images = dir.join("shapes/test").read_dir().unwrap();
    let image = test_images.flatten().next().unwrap().path();
    std::fs::copy(&image, dir.join("image.png")).unwrap();
    root
}

#[test]
fn damaged_files_are_clean_errors() {
    let root = trained();
    let dir = root.path();
    let run = dir.join("checkpoints/ok");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos/camera.jpg");
    std::fs::copy(fixture, dir.join("photo.jpg")).unwrap();
    let originals = dir.join("originals");
    std::fs::create_dir_all(&originals).unwrap();
    let keep = |from: PathBuf| {
        let copy = originals.join(from.file_name().unwrap());
        std::fs::copy(&from, &copy).unwrap();
        copy
    };

    let mut failures = Vec::new();
    let translate = |checkpoint: &str| -> Vec<String> {
        let mut args: Vec<String> = ["translate", "image.png", "-o", "out", "--force"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--checkpoint".into(), checkpoint.into()]);
        args
    };
    for file in ["g.pth", "g.safetensors"] {
        let args = translate(file);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        walk(
            dir,
            &keep(dir.join(file)),
            &dir.join(file),
            &refs,
            &mut failures,
        );
    }
    // Our .bpk away from its run folder: the architecture comes from the flags.
    std::fs::copy(run.join("latest_net_G.bpk"), dir.join("g.bpk")).unwrap();
    let mut args = translate("g.bpk");
    args.extend(TINY[..6].iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    walk(
        dir,
        &keep(dir.join("g.bpk")),
        &dir.join("g.bpk"),
        &refs,
        &mut failures,
    );
    for image in ["image.png", "photo.jpg"] {
        let args = ["translate", image, "-o", "out", "--force", "--name", "ok"];
        walk(
            dir,
            &keep(dir.join(image)),
            &dir.join(image),
            &args,
            &mut failures,
        );
    }
    // What a resume reads: the state, the options, D and the optimizers.
    let resume = ["train", "--name", "ok", "--continue_train"];
    for file in [
        "latest_state.json",
        "train_opt.json",
        "latest_net_D.bpk",
        "latest_optim_G.bpk",
    ] {
        let original = keep(run.join(file));
        walk(dir, &original, &run.join(file), &resume, &mut failures);
        std::fs::copy(&original, run.join(file)).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} damaged files were not clean errors:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Files that read cleanly but hold the wrong thing: NaN weights are loaded with a warning that
/// names the tensor; a .bpk says what it holds; D's optimizer state in G's place is refused
/// before resuming.
#[test]
fn wrong_contents_are_named() {
    let root = trained();
    let dir = root.path();
    // The last tensor's last value becomes a NaN (f32, little-endian).
    let mut weights = std::fs::read(dir.join("g.safetensors")).unwrap();
    let end = weights.len();
    weights[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(dir.join("nan.safetensors"), &weights).unwrap();
    // Translates image.png into `out` with the generator file `checkpoint`.
    let translate = |checkpoint: &str, out: &str| {
        let args = [
            "translate",
            "image.png",
            "-o",
            out,
            "--checkpoint",
            checkpoint,
        ];
        pix2pix(&args, dir)
    };
    let warning = stderr(&ok(translate("nan.safetensors", "out")));
    assert!(
        warning.contains("warning:") && warning.contains("NaN"),
        "{warning}"
    );
    let clean = stderr(&ok(translate("g.safetensors", "out2")));
    assert!(!clean.contains("warning:"), "{clean}");

    // Our .bpk away from its run folder: the architecture is read from its tensors.
    let run = dir.join("checkpoints/ok");
    std::fs::copy(run.join("latest_net_G.bpk"), dir.join("moved.bpk")).unwrap();
    ok(translate("moved.bpk", "out3"));
    for (file, holds) in [
        ("latest_net_D.bpk", "discriminator"),
        ("latest_optim_G.bpk", "optimizer"),
    ] {
        let path = run.join(file);
        common::fails_with(translate(path.to_str().unwrap(), "out4"), &[file, holds]);
    }
    std::fs::copy(
        run.join("latest_optim_D.bpk"),
        run.join("latest_optim_G.bpk"),
    )
    .unwrap();
    let output = pix2pix(&["train", "--name", "ok", "--continue_train"], dir);
    common::fails_with(output, &["latest_optim_G.bpk", "D's in G's place"]);
}
