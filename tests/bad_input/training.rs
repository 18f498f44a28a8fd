//! The bad inputs of `train`: sizes the networks cannot take, numbers out of range or past the
//! data, names the parsers reject, folders and runs that are not there; and the huge ones, run
//! under an address-space limit.

use crate::common::TINY;

/// `train` on the tiny dataset and network, with `extra` flags last (they win).
pub fn train(extra: &[&str]) -> Vec<String> {
    let mut args = vec!["train", "--dataroot", "shapes", "--name", "bad"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// (what the user typed, what the message must name).
pub fn training() -> Vec<(Vec<String>, &'static str)> {
    vec![
        // Sizes the networks cannot take.
        (
            train(&["--netD", "n_layers", "--n_layers_D", "4"]),
            "--crop_size",
        ),
        (
            train(&[
                "--netG",
                "resnet_6blocks",
                "--load_size",
                "4",
                "--crop_size",
                "4",
            ]),
            "--crop_size",
        ),
        (
            train(&[
                "--netG",
                "resnet_6blocks",
                "--load_size",
                "8",
                "--crop_size",
                "8",
            ]),
            "--crop_size",
        ),
        (train(&["--netG", "unet_64"]), "--crop_size"),
        (train(&["--crop_size", "0"]), "--crop_size"),
        (train(&["--load_size", "16"]), "--load_size"),
        // Zero, NaN and out-of-range numbers.
        (train(&["--batch_size", "0"]), "--batch_size"),
        (train(&["--ngf", "0"]), "--ngf"),
        (train(&["--ndf", "0"]), "--ndf"),
        (
            train(&["--netD", "n_layers", "--n_layers_D", "0"]),
            "--n_layers_D",
        ),
        (train(&["--input_nc", "2"]), "--input_nc"),
        (train(&["--output_nc", "4"]), "--output_nc"),
        (train(&["--lr", "nan"]), "--lr"),
        (train(&["--lr=-1"]), "--lr"),
        (train(&["--lr", "inf"]), "--lr"),
        (train(&["--beta1", "2"]), "--beta1"),
        (train(&["--lambda_L1", "nan"]), "--lambda_L1"),
        (train(&["--lambda_L1=-5"]), "--lambda_L1"),
        (train(&["--init_gain", "nan"]), "--init_gain"),
        (train(&["--epoch_count", "0"]), "--epoch_count"),
        // Past the schedule: nothing would be trained, so nothing may be reported as trained.
        (
            train(&[
                "--epoch_count",
                "50",
                "--n_epochs",
                "1",
                "--n_epochs_decay",
                "1",
            ]),
            "--epoch_count: 50 is past the schedule's last epoch",
        ),
        (train(&["--max_dataset_size", "0"]), "--max_dataset_size"),
        // Numbers at the edge of their type or past the data: refused before anything is sized
        // by them.
        (
            train(&["--batch_size", "18446744073709551615"]),
            "--batch_size: 18446744073709551615 is more than the 2 training pairs",
        ),
        (
            train(&["--batch_size", "1000000000"]),
            "--batch_size: 1000000000 is more than the 2 training pairs",
        ),
        (
            train(&["--batch_size", "3"]),
            "--batch_size: 3 is more than",
        ),
        (
            train(&["--num_threads", "18446744073709551615"]),
            "--num_threads: 18446744073709551615 is more than 1024",
        ),
        (
            train(&["--load_size", "18446744073709551615"]),
            "--load_size: 18446744073709551615 is above the largest side",
        ),
        (
            args(&[
                "test",
                "--name",
                "ok",
                "--dataroot",
                "shapes",
                "--crop_size",
                "18446744073709551615",
            ]),
            "--crop_size: 18446744073709551615 is above the largest side",
        ),
        (
            args(&[
                "data",
                "check",
                "shapes",
                "--load_size",
                "18446744073709551615",
            ]),
            "--load_size",
        ),
        (
            args(&["bench", "--repeats", "18446744073709551615"]),
            "--repeats: 18446744073709551615 is more than 100000",
        ),
        (
            args(&["bench", "--warmup", "18446744073709551615"]),
            "--warmup: 18446744073709551615 is more than 100000",
        ),
        (args(&["demo", "--size", "2048"]), "--size: 2048"),
        (args(&["demo", "--size", "48"]), "--size: 48"),
        (args(&["demo", "--train-images", "0"]), "--train_images: 0"),
        (
            args(&["demo", "--train-images", "18446744073709551615"]),
            "--train_images: 18446744073709551615",
        ),
        (
            train(&["--n_epochs", "0", "--n_epochs_decay", "0"]),
            "--n_epochs",
        ),
        (
            train(&[
                "--n_epochs",
                "18446744073709551615",
                "--n_epochs_decay",
                "1",
            ]),
            "--n_epochs",
        ),
        (
            train(&["--n_epochs", "18446744073709551616"]),
            "18446744073709551616",
        ),
        (train(&["--batch_size=-3"]), "-3"),
        // Names clap or our parsers reject.
        (train(&["--netG", "unet_999"]), "unet_999"),
        (
            train(&["--netG", "unet_1099511627776"]),
            "unet_1099511627776",
        ),
        (
            train(&["--netG", "resnet_1000000000blocks"]),
            "resnet_1000000000blocks",
        ),
        (train(&["--netG", "resnet_0blocks"]), "resnet_0blocks"),
        (train(&["--norm", "weird"]), "weird"),
        (train(&["--direction", "sideways"]), "sideways"),
        (train(&["--gan_mode", "hinge"]), "hinge"),
        (train(&["--precision", "f8"]), "f8"),
        (train(&["--lr_policy", "sometimes"]), "sometimes"),
        (train(&["--device", "tpu"]), "tpu"),
        // Missing or wrong folders and runs.
        (train(&["--dataroot", "nowhere"]), "nowhere"),
        (train(&["--phase", "nophase"]), "nophase"),
        (
            args(&["train", "--name", "nothing", "--continue_train"]),
            "--continue_train",
        ),
        (args(&["train", "--name", "ok"]), "--dataroot"),
        (
            args(&["train", "--name", "ok", "--continue_train", "--seed", "5"]),
            "--seed",
        ),
        (
            args(&[
                "train",
                "--name",
                "ok",
                "--continue_train",
                "--netG",
                "unet_64",
            ]),
            "--netG",
        ),
        (
            args(&["train", "--name", "ok", "--continue_train", "--no_flip"]),
            "--no_flip",
        ),
        (
            args(&["train", "--name", "ok", "--continue_train", "--epoch", "7"]),
            "7_state.json",
        ),
    ]
}

/// Cases whose sizes would take more memory than any machine has: run under an address-space
/// limit, so that a real allocation fails in the process instead of waking the OOM killer.
pub fn huge() -> Vec<(Vec<String>, &'static str)> {
    vec![
        (train(&["--ngf", "100000"]), "--ngf"),
        (train(&["--ndf", "1000000"]), "--ndf"),
        (
            train(&[
                "--netG",
                "unet_16384",
                "--load_size",
                "16384",
                "--crop_size",
                "16384",
            ]),
            "--crop_size",
        ),
        (
            args(&[
                "bench",
                "--netG",
                "unet_32",
                "--crop_size",
                "32",
                "--batch_size",
                "100000000",
            ]),
            "--batch_size",
        ),
        (args(&["bench", "--ngf", "20000"]), "--ngf"),
        (
            args(&["translate", "huge.bmp", "-o", "out", "--name", "ok"]),
            "huge.bmp",
        ),
        (
            args(&["data", "edges", "--photos", "huge", "--out", "e"]),
            "huge.bmp",
        ),
    ]
}
