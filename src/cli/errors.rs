//! Errors in the words of the command line: the library names options (`crop_size`), files and
//! keys; here they become flags (`--crop_size`), with a hint of what to type for the command that
//! failed.

use pix2pix::Error;
use pix2pix::model::ModelOptions;

/// The one-line message for `error`, raised by `command` (e.g. "train", "data edges").
pub fn message(error: &anyhow::Error, command: &str) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<Error>() {
            // The library's message holds its own causes.
            parts.push(render(error, command));
            break;
        }
        // The networks crate's refusals, where the CLI called it directly.
        if let Some(pix2pix_nets::Error::InvalidOption { option, reason }) = cause.downcast_ref() {
            let error = Error::InvalidOption {
                option,
                reason: reason.clone(),
            };
            parts.push(render(&error, command));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// `--name` for an official option name.
fn flag(option: &str) -> String {
    format!("--{option}")
}

fn render(error: &Error, command: &str) -> String {
    match error {
        Error::InvalidOption { option, reason } => format!("invalid {}: {reason}", flag(option)),
        Error::BackendNotCompiled { .. } | Error::DeviceUnavailable { .. } => {
            // The library's message starts with "device <name>".
            let hint = match error {
                Error::DeviceUnavailable { .. } => ", or use --device cpu",
                _ => "",
            };
            format!("--{error}{hint}")
        }
        Error::OptionConflict { path, conflicts } => format!(
            "{} was made with other options: {}. Drop these flags (our checkpoints carry their \
             options) or pass the values shown",
            path.display(),
            conflicts
                .iter()
                .map(|c| format!("--{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Error::ImageTooSmall {
            path,
            width,
            height,
            crop_size,
        } => format!(
            "{}: each half is {width}x{height} after preprocessing, smaller than --crop_size \
             {crop_size} (lower --crop_size or raise --load_size)",
            path.display()
        ),
        Error::ArchitectureMismatch {
            path,
            differences,
            fits,
        } => {
            let advice = match fits {
                Some(model) => {
                    format!("; the file holds a generator that matches {}", flags(model))
                }
                None => "; pass the --netG, --ngf, --norm, --input_nc and --output_nc it was \
                         trained with (a checkpoint away from its run folder's train_opt.json \
                         carries none)"
                    .into(),
            };
            format!(
                "checkpoint {} does not fit the network: {differences}{advice}",
                path.display()
            )
        }
        _ => match hint(error, command) {
            Some(hint) => format!("{error} ({hint})"),
            None => error.to_string(),
        },
    }
}

/// The generator flags that rebuild `model`.
fn flags(model: &ModelOptions) -> String {
    format!(
        "--netG {} --ngf {} --norm {} --input_nc {} --output_nc {}{}",
        model.net_g,
        model.ngf,
        model.norm,
        model.input_nc,
        model.output_nc,
        if model.dropout { "" } else { " --no_dropout" }
    )
}

/// What to type instead, where the command has a flag for it.
fn hint(error: &Error, command: &str) -> Option<String> {
    let reads_dataset = matches!(command, "train" | "test");
    let hint = match error {
        Error::MissingDataFolder { .. } if reads_dataset => {
            "check --dataroot and --phase: expected <dataroot>/<phase>/ with A|B images"
        }
        Error::MissingDataFolder { .. } if command == "serve" => {
            "check --checkpoints_dir; to serve runs not trained yet, create the folder and train \
             into it"
        }
        Error::EmptyDataFolder { .. } if reads_dataset => "put the A|B side-by-side images there",
        Error::BadImage { .. } if reads_dataset => {
            "fix or remove the file; training and testing can skip such files with --skip_bad"
        }
        Error::BadImage { .. } => "fix or remove the file",
        Error::Unwritable { .. } => {
            return Some(format!(
                "check that the folder is writable, or choose another with {}",
                output_flag(command)
            ));
        }
        Error::MissingCheckpoint { .. } => match command {
            "test" | "translate" => {
                "check --name, --checkpoints_dir and --epoch (latest or an epoch number), or give \
                 a generator file with --checkpoint"
            }
            _ => "check --name, --checkpoints_dir and --epoch (latest or an epoch number)",
        },
        Error::NotAGenerator { .. } => "give the *_net_G file of the same run and epoch",
        Error::OutputExists { .. } => "pass --force to replace it",
        Error::RunExists { .. } => "pass --continue_train to resume it, or choose another --name",
        Error::RunInUse { .. } => {
            "wait for that run to finish or stop it (Ctrl-C saves it), or choose another --name"
        }
        Error::RunFile { .. }
        | Error::WrongKind {
            writing: true,
            expected: "a regular file",
            ..
        } => {
            return Some(format!("choose a file path with {}", output_flag(command)));
        }
        Error::WrongKind { writing: true, .. } => {
            return Some(format!(
                "choose another folder with {}",
                output_flag(command)
            ));
        }
        Error::WrongKind { .. } if reads_dataset => {
            "check --dataroot and --phase: expected <dataroot>/<phase>/ with A|B images"
        }
        Error::NotOurOutput { .. } => {
            return Some(format!(
                "remove it yourself if it may go, or choose another folder with {}",
                output_flag(command)
            ));
        }
        Error::NonFiniteLoss { .. } => "lower --lr or check the data",
        Error::OutOfMemory { .. } => match command {
            "train" | "bench" => {
                "use a smaller --batch_size, --crop_size, --ngf or --ndf, or a smaller netG"
            }
            "info" => "use a smaller --ngf or --ndf",
            _ => "use smaller images, or a machine with more memory",
        },
        Error::UnsuitableImage { .. } => match command {
            "train" | "test" => {
                "use --preprocess resize_and_crop or crop, or resize the images to suit netG"
            }
            _ => "resize the image",
        },
        Error::NotRedistributed { .. } => {
            "pair them with `pix2pix data combine --a <photos> --b <labels> --out <dir>`"
        }
        Error::Download { .. } => {
            "check the network connection; --base-url URL fetches from another server or a \
             mirror of the official files"
        }
        Error::NoInputImages => "give image files, or folders of .png, .jpg, .webp or .bmp images",
        Error::SameOutput { .. } => "translate them into separate --output folders",
        _ => return None,
    };
    Some(hint.into())
}

/// The flag that chose the folder a command writes into.
fn output_flag(command: &str) -> &'static str {
    match command {
        "train" | "pretrained download" => "--checkpoints_dir",
        "test" => "--results_dir",
        "translate" | "export" => "--output",
        "demo" => "--dir",
        "data download" => "--to",
        _ => "--out",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_and_hints_name_the_commands_flags() {
        let invalid = anyhow::Error::new(Error::InvalidOption {
            option: "crop_size",
            reason: "must be at least 1".into(),
        });
        assert_eq!(
            message(&invalid, "train"),
            "invalid --crop_size: must be at least 1"
        );
        let unwritable = || {
            anyhow::Error::new(Error::Unwritable {
                path: "x/y".into(),
                source: std::io::Error::other("denied"),
            })
        };
        assert!(message(&unwritable(), "test").ends_with("with --results_dir)"));
        assert!(message(&unwritable(), "data edges").ends_with("with --out)"));
        let context = unwritable().context("--continue_train");
        assert!(message(&context, "train").starts_with("--continue_train: cannot write x/y"));
    }
}
