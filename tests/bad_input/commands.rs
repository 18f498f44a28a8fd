//! The bad inputs of every command but `train`: test, translate, export, bench, info, the data
//! tools, serve and pretrained.

use crate::training_cases::{args, train};

/// (what the user typed, what the message must name).
pub fn commands() -> Vec<(Vec<String>, &'static str)> {
    vec![
        // test and translate: runs and files that are not there or not generators.
        (
            args(&["test", "--dataroot", "shapes", "--name", "nothing"]),
            "--name",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--name",
                "ok",
                "--epoch",
                "99",
            ]),
            "--epoch",
        ),
        (
            args(&["test", "--dataroot", "nowhere", "--name", "ok"]),
            "nowhere",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "missing.pth",
            ]),
            "missing.pth",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "garbage.pth",
            ]),
            "garbage.pth",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "shapes",
                "--checkpoint",
                "empty.safetensors",
            ]),
            "empty.safetensors",
        ),
        (
            args(&["test", "--dataroot", "shapes", "--checkpoint", "half.bpk"]),
            "half.bpk",
        ),
        (
            args(&["translate", "nowhere.png", "-o", "out", "--name", "ok"]),
            "nowhere.png",
        ),
        (
            args(&["translate", "notes.txt", "-o", "out", "--name", "ok"]),
            "notes.txt",
        ),
        (
            args(&["translate", "photos", "-o", "translated", "--name", "ok"]),
            "--force",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "out",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
                "--netG",
                "resnet_6blocks",
            ]),
            "--netG",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "out",
                "--name",
                "ok",
                "--epoch",
                "x",
            ]),
            "--epoch",
        ),
        // export
        (
            args(&["export", "--name", "nothing", "-o", "x.pth"]),
            "--name",
        ),
        (args(&["export", "--name", "ok", "-o", "photos"]), "photos"),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "-o",
                "checkpoints/ok/latest_net_G.bpk",
                "--force",
            ]),
            "latest_net_G.bpk",
        ),
        (
            args(&["export", "--name", "ok", "--format", "tflite", "-o", "x"]),
            "tflite",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.onnx", "--opset", "9"]),
            "--opset",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.onnx", "--io", "rgba"]),
            "--io",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.pth", "--batch-stats"]),
            "--batch-stats",
        ),
        (
            args(&[
                "export", "--name", "ok", "-o", "ok.onnx", "--netG", "unet_64",
            ]),
            "--checkpoint",
        ),
        (
            args(&[
                "export", "--name", "ok", "-o", "photos", "--format", "onnx", "--force",
            ]),
            "photos",
        ),
        (
            args(&["export", "--checkpoint", "notes.txt", "-o", "ok.onnx"]),
            "notes.txt",
        ),
        // export --format web: the weight format, the flags of other formats, and folders it
        // must not write into or replace.
        (
            args(&[
                "export",
                "--name",
                "ok",
                "--format",
                "web",
                "-o",
                "site",
                "--weights",
                "int4",
            ]),
            "int4",
        ),
        (
            args(&["export", "--name", "ok", "-o", "ok.pth", "--weights", "f16"]),
            "--weights",
        ),
        (
            args(&[
                "export", "--name", "ok", "--format", "web", "-o", "site", "--opset", "13",
            ]),
            "--opset",
        ),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "--format",
                "web",
                "-o",
                "translated",
            ]),
            "translated",
        ),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "--format",
                "web",
                "-o",
                "translated",
                "--force",
            ]),
            "translated",
        ),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "--format",
                "web",
                "-o",
                "notes.txt",
                "--force",
            ]),
            "notes.txt",
        ),
        (
            args(&[
                "export", "--name", "ok", "--format", "web", "-o", "pipe", "--force",
            ]),
            "pipe",
        ),
        (
            args(&[
                "export",
                "--name",
                "ok",
                "--format",
                "web",
                "-o",
                "checkpoints/ok/site",
            ]),
            "checkpoints/ok",
        ),
        (
            args(&[
                "export",
                "--checkpoint",
                "half.bpk",
                "--format",
                "web",
                "-o",
                "site",
            ]),
            "half.bpk",
        ),
        // bench and info
        (args(&["bench", "--crop_size", "0"]), "--crop_size"),
        (args(&["bench", "--batch_size", "0"]), "--batch_size"),
        (args(&["bench", "--repeats", "0"]), "--repeats"),
        (
            args(&["bench", "--netG", "unet_64", "--crop_size", "48"]),
            "--crop_size",
        ),
        (
            args(&[
                "bench",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--netD",
                "n_layers",
                "--n_layers_D",
                "5",
            ]),
            "--crop_size",
        ),
        (args(&["bench", "--ngf", "0"]), "--ngf"),
        (args(&["info", "--ngf", "0"]), "--ngf"),
        (args(&["info", "--input_nc", "7"]), "--input_nc"),
        (args(&["info", "--netG", "unet_3"]), "unet_3"),
        // data tools
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--size", "0",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--size", "100000",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--low", "nan",
            ]),
            "--low",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--high", "inf",
            ]),
            "--high",
        ),
        (
            args(&[
                "data", "edges", "--photos", "photos", "--out", "e", "--low", "5", "--high", "1",
            ]),
            "--low",
        ),
        (
            args(&["data", "edges", "--photos", "nowhere", "--out", "e"]),
            "nowhere",
        ),
        (
            args(&[
                "data",
                "colorization",
                "--photos",
                "photos",
                "--out",
                "c",
                "--size",
                "0",
            ]),
            "--size",
        ),
        (
            args(&[
                "data", "combine", "--a", "photos", "--b", "photos", "--out", "p", "--resize", "0",
            ]),
            "--resize",
        ),
        (
            args(&[
                "data", "combine", "--a", "nowhere", "--b", "photos", "--out", "p",
            ]),
            "nowhere",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--val", "1.5",
            ]),
            "--val",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--test", "nan",
            ]),
            "--test",
        ),
        (
            args(&[
                "data", "split", "--in", "photos", "--out", "s", "--val", "0.6", "--test", "0.5",
            ]),
            "--val",
        ),
        (args(&["data", "check", "nowhere"]), "nowhere"),
        (
            args(&["data", "check", "shapes", "--crop_size", "0"]),
            "--crop_size",
        ),
        (
            args(&["data", "download", "nosuchdataset", "--to", "d"]),
            "nosuchdataset",
        ),
        // Sizes that only show after preprocessing, and files cut short.
        (
            train(&["--dataroot", "odd", "--preprocess", "none"]),
            "--preprocess",
        ),
        (
            args(&[
                "test",
                "--dataroot",
                "odd",
                "--name",
                "ok",
                "--preprocess",
                "none",
            ]),
            "a.png",
        ),
        (
            args(&[
                "data",
                "check",
                "odd",
                "--preprocess",
                "none",
                "--netG",
                "unet_32",
            ]),
            "a.png",
        ),
        (args(&["data", "check", "narrow"]), "too narrow"),
        (
            args(&[
                "data",
                "check",
                "shapes",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--load_size",
                "32",
                "--netD",
                "n_layers",
                "--n_layers_D",
                "5",
            ]),
            "crop_size",
        ),
        (
            args(&["translate", "cut.jpg", "-o", "out", "--name", "ok"]),
            "cut.jpg",
        ),
        // Paths of the wrong kind: named as what they are, and never written over.
        (
            args(&["translate", "pipe", "-o", "out", "--name", "ok"]),
            "pipe is a FIFO, not an image file or a folder",
        ),
        (
            args(&["translate", "/dev/zero", "-o", "out", "--name", "ok"]),
            "/dev/zero is a device",
        ),
        (
            args(&["translate", "photos", "-o", "notes.txt", "--name", "ok"]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            args(&[
                "translate",
                "photos",
                "-o",
                "/dev/null",
                "--force",
                "--name",
                "ok",
            ]),
            "/dev/null is a device, not a folder",
        ),
        (
            args(&["export", "--name", "ok", "--output", "translated"]),
            "translated is a folder, not a regular file",
        ),
        (
            args(&["export", "--name", "ok", "--output", "pipe", "--force"]),
            "pipe is a FIFO, not a regular file",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--results_dir",
                "fifo_results",
            ]),
            "test_latest is a FIFO, not a folder",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--results_dir",
                "notes.txt",
            ]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            train(&["--dataroot", "notes.txt"]),
            "notes.txt is a regular file, not a folder",
        ),
        (
            args(&["data", "split", "--in", "pipe", "--out", "split"]),
            "pipe is a FIFO, not a folder",
        ),
        // serve: models that are not there or not generators, limits and addresses that
        // cannot work. None of these may start a server.
        (
            args(&["serve", "--checkpoints_dir", "nowhere"]),
            "nowhere does not exist (check --checkpoints_dir",
        ),
        (args(&["serve", "--name", "missing"]), "missing"),
        (
            args(&["serve", "--checkpoint", "garbage.pth"]),
            "garbage.pth",
        ),
        (args(&["serve", "--checkpoint", "half.bpk"]), "half.bpk"),
        (
            args(&[
                "serve",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
                "--checkpoint",
                "checkpoints/ok/latest_net_G.bpk",
            ]),
            "latest_net_G",
        ),
        (args(&["serve", "--port", "70000"]), "--port"),
        (args(&["serve", "--max-pixels", "0"]), "--max-pixels"),
        (args(&["serve", "--max-upload-mb", "0"]), "--max-upload-mb"),
        (args(&["serve", "--queue", "0"]), "--queue"),
        (args(&["serve", "--workers", "0"]), "--workers"),
        (args(&["serve", "--body-timeout", "0"]), "--body-timeout"),
        (
            args(&["serve", "--host", "192.0.2.1", "--port", "0"]),
            "192.0.2.1",
        ),
        // pretrained: names it does not know, servers that are not there.
        (args(&["pretrained", "download", "cats"]), "cats"),
        (
            args(&[
                "pretrained",
                "download",
                "sat2map",
                "--base-url",
                "http://127.0.0.1:9/models",
            ]),
            "http://127.0.0.1:9/models/sat2map.pth",
        ),
        (
            args(&[
                "pretrained",
                "download",
                "sat2map",
                "--base-url",
                "not a url",
            ]),
            "not a url",
        ),
        (args(&["pretrained", "download"]), "NAME"),
    ]
}
