//! The defaults every command's help states, against the library's: each default is stated in
//! the library once, and the help may not drift from it. `serve`'s limits are printed by clap
//! from the library's values (`default_value_t`), so only its hand-written entries are checked.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{ok, pix2pix, stdout};
use pix2pix::bench::BenchOptions;
use pix2pix::data::tools::check::CheckOptions;
use pix2pix::data::tools::download::{DownloadOptions, FetchLimits};
use pix2pix::data::tools::edges::EdgesOptions;
use pix2pix::data::tools::split::SplitOptions;
use pix2pix::demo::DemoOptions;
use pix2pix::infer::TestOptions;
use pix2pix::interop::onnx::OnnxOptions;
use pix2pix::serve::web::WebExport;
use pix2pix::train::RunOptions;

/// A command's words and its own flags' defaults in the library, as (flag, value).
type CommandDefaults = (&'static [&'static str], Vec<(&'static str, String)>);

/// Each flag of `help` with a `[default: X]` entry: (flag, its official alias if any, X).
fn stated_defaults(help: &str) -> Vec<(String, Option<String>, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let line = line.trim();
        // An entry starts with its flags (`-h, --help`), its text on the same line or below.
        let flag = line
            .starts_with('-')
            .then(|| line.split_once("--"))
            .flatten();
        if let Some((_, flag)) = flag {
            let name = flag.split([' ', ',']).next().unwrap().to_string();
            entries.push((name, format!("{line} ")));
        } else if let Some((_, text)) = entries.last_mut() {
            text.push_str(line);
            text.push(' ');
        }
    }
    let within = |text: &str, tag: &str| {
        let start = text.find(tag)? + tag.len();
        Some(text[start..].split(']').next()?.trim().to_string())
    };
    entries
        .into_iter()
        .filter_map(|(flag, text)| {
            let stated = within(&text, "[default:")?;
            Some((flag, within(&text, "[alias: --"), stated))
        })
        .collect()
}

fn same(stated: &str, value: &str) -> bool {
    match (stated.parse::<f64>(), value.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => stated == value,
    }
}

fn help(command: &[&str], dir: &Path) -> String {
    let mut args = command.to_vec();
    args.push("--help");
    stdout(&ok(pix2pix(&args, dir)))
}

/// Every `train` flag that is an official option states `RunOptions::default()`'s value.
#[test]
fn the_train_help_states_the_librarys_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let defaults: HashMap<&str, String> = RunOptions::default()
        .official_values()
        .into_iter()
        .collect();
    let mut checked = 0;
    for (flag, alias, stated) in stated_defaults(&help(&["train"], dir.path())) {
        let official = alias.unwrap_or_else(|| flag.replace('-', "_"));
        let Some(value) = defaults.get(official.as_str()) else {
            continue;
        };
        assert!(
            same(&stated, value),
            "--{flag}: the help says {stated}, the library {value}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} defaults checked");
}

/// Every other command's one-word defaults are the library's: those of its own options first,
/// then the official options it shares with `train` (the model, data and run flags). A stated
/// default the library does not hold fails, so a new one cannot go unchecked; phrases ("the
/// official server") are not values and are left out.
#[test]
fn every_commands_help_states_the_librarys_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let shared: HashMap<String, String> = RunOptions::default()
        .official_values()
        .into_iter()
        .map(|(option, value)| (option.to_string(), value))
        .collect();
    let bench = BenchOptions::default();
    let demo = DemoOptions::default();
    let edges = EdgesOptions::new("photos", "out");
    let split = SplitOptions::new("in", "out");
    let check = CheckOptions::new("data");
    let download = DownloadOptions::new("facades");
    let test = TestOptions::default();
    let timeout = FetchLimits::new(1).timeout.as_secs().to_string();
    let text = |value: &dyn std::fmt::Display| value.to_string();
    let path = |value: &Path| value.display().to_string();
    let commands: Vec<CommandDefaults> = vec![
        (
            &["bench"],
            vec![
                ("crop-size", text(&bench.crop_size)),
                ("batch-size", text(&bench.batch_size)),
                ("warmup", text(&bench.warmup)),
                ("repeats", text(&bench.repeats)),
                ("num-threads", text(&bench.num_threads)),
            ],
        ),
        (
            &["demo"],
            vec![
                ("dir", path(&demo.dir)),
                ("epochs", text(&demo.n_epochs)),
                ("size", text(&demo.size)),
                ("train-images", text(&demo.train_images)),
                ("seed", text(&demo.seed)),
            ],
        ),
        (
            &["test"],
            vec![
                ("results-dir", path(&test.results_dir)),
                ("num-test", text(&test.num_test)),
                ("seed", text(&test.seed)),
            ],
        ),
        (&["translate"], vec![("seed", text(&test.seed))]),
        (
            &["export"],
            vec![
                ("opset", text(&OnnxOptions::default().opset)),
                ("weights", text(&WebExport::default().weights)),
            ],
        ),
        (&["info"], vec![]),
        (&["serve"], vec![]),
        (
            &["pretrained", "download"],
            vec![("timeout", timeout.clone())],
        ),
        (&["data", "combine"], vec![]),
        (&["data", "colorization"], vec![]),
        (
            &["data", "edges"],
            vec![
                ("size", text(&edges.size)),
                ("low", text(&edges.low)),
                ("high", text(&edges.high)),
                ("min-component", text(&edges.min_component)),
            ],
        ),
        (
            &["data", "split"],
            vec![
                ("val", text(&split.val)),
                ("test", text(&split.test)),
                ("seed", text(&split.seed)),
            ],
        ),
        (
            &["data", "check"],
            vec![
                ("net-g", text(&check.model.net_g)),
                ("n-layers-d", text(&check.model.n_layers_d)),
                ("preprocess", text(&check.preprocess)),
                ("load-size", text(&check.load_size)),
                ("crop-size", text(&check.crop_size)),
            ],
        ),
        (
            &["data", "download"],
            vec![("to", path(&download.to)), ("timeout", timeout)],
        ),
    ];
    let mut checked = 0;
    for (command, own) in commands {
        let own: HashMap<&str, String> = own.into_iter().collect();
        let command_line = command.join(" ");
        for (flag, alias, stated) in stated_defaults(&help(command, dir.path())) {
            if stated.contains(' ') {
                continue;
            }
            let official = alias.unwrap_or_else(|| flag.replace('-', "_"));
            let value = own.get(flag.as_str()).or_else(|| shared.get(&official));
            if command == ["serve"] && value.is_none() {
                // The limits clap prints from the library's values.
                continue;
            }
            let value = value.unwrap_or_else(|| {
                panic!("{command_line} --{flag}: the help states {stated}, the library nothing")
            });
            assert!(
                same(&stated, value),
                "{command_line} --{flag}: the help says {stated}, the library {value}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 70, "only {checked} defaults checked");
}
