//! `pix2pix export --format web`: a folder that any static file server hosts, in which the
//! serve page translates with the model in the visitor's browser, on the WebAssembly module of
//! crates/pix2pix-web. The page is serve's own (index.html, app.js, style.css); only its
//! backend.js differs, running the model in a Web Worker instead of asking the server.
//!
//! The module is built by scripts/web/build.sh into web/pkg, committed, and embedded here, so
//! that the default build needs no WebAssembly toolchain; CI builds it again and checks that the
//! committed bytes are the ones the sources give.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalog::{ServedModel, describe};
use super::{APP_JS, COMMON_JS, FAVICON_SVG, INDEX_HTML, STYLE_CSS};
use crate::error::{Error, Result};
use crate::fsutil::{Maker, Staging, write_atomic};
use crate::infer::{GeneratorSource, LoadedGenerator};
use crate::model::ModelOptions;
use crate::weights::{WeightFormat, encode};

const MADE_BY: Maker = Maker::new("export --format web");

const BACKEND_JS: &str = include_str!("assets/web/backend.js");
const WORKER_JS: &str = include_str!("assets/web/worker.js");
const MODULE_JS: &str = include_str!("../../web/pkg/pix2pix_web.js");
const MODULE_WASM: &[u8] = include_bytes!("../../web/pkg/pix2pix_web_bg.wasm");

/// The folder's files besides the model's: the page and the module.
const PAGE: [(&str, &[u8]); 9] = [
    ("index.html", INDEX_HTML.as_bytes()),
    ("favicon.svg", FAVICON_SVG.as_bytes()),
    ("assets/app.js", APP_JS.as_bytes()),
    ("assets/common.js", COMMON_JS.as_bytes()),
    ("assets/style.css", STYLE_CSS.as_bytes()),
    ("assets/backend.js", BACKEND_JS.as_bytes()),
    ("assets/worker.js", WORKER_JS.as_bytes()),
    ("assets/pix2pix_web.js", MODULE_JS.as_bytes()),
    ("assets/pix2pix_web_bg.wasm", MODULE_WASM),
];
const DESCRIPTION_FILE: &str = "model.json";
const WEIGHTS_FILE: &str = "weights.bin";
const EXAMPLE_FILE: &str = "example.png";

/// What the page reads first (model.json): the model as serve's /api/models lists it, the
/// options that build G in the module, and where its weights and example input are.
#[derive(Serialize)]
struct Description<'a> {
    model: &'a ServedModel,
    options: &'a ModelOptions,
    weights: WeightsFile,
    example: Option<&'static str>,
}

#[derive(Serialize)]
struct WeightsFile {
    file: &'static str,
    bytes: usize,
    format: String,
}

/// How a web export is made.
#[derive(Clone, Debug, Default)]
pub struct WebExport {
    /// How the weights are stored ([`WeightFormat`]).
    pub weights: WeightFormat,
    /// The folder written.
    pub output: PathBuf,
    /// Replace a folder that an earlier web export wrote (never any other).
    pub force: bool,
}

/// Checks that `options.output` may be written, before a generator is loaded.
pub fn check_output(options: &WebExport) -> Result<()> {
    Staging::check(&options.output, options.force, MADE_BY)
}

/// Writes the static site of `loaded`, which came from `source`: the page, the module, the
/// model's description, its weights and, for a run, an example input from its data. Returns
/// the folder.
pub fn export_web(
    source: &GeneratorSource,
    loaded: &LoadedGenerator,
    options: &WebExport,
) -> Result<PathBuf> {
    let inputs: Vec<&Path> = match source {
        GeneratorSource::Run { dir, .. } => vec![dir.as_path()],
        GeneratorSource::File(file) => vec![file.as_path()],
    };
    let mut model = describe(source, loaded)?;
    // One checkpoint is exported: the page offers no other, and no dashboard.
    model.epochs.clear();
    let weights = encode(
        &loaded.model.generator_state_dict(&loaded.generator),
        options.weights,
    );
    let staging = Staging::new(&options.output, &inputs, options.force, MADE_BY)?;
    crate::fsutil::create_dir(&staging.path("assets"))?;
    for (file, bytes) in PAGE {
        write_atomic(&staging.path(file), bytes)?;
    }
    write_atomic(&staging.path(WEIGHTS_FILE), &weights)?;
    if let Some(example) = &model.example {
        write_atomic(&staging.path(EXAMPLE_FILE), example)?;
    }
    let description = Description {
        model: &model,
        options: &loaded.model,
        weights: WeightsFile {
            file: WEIGHTS_FILE,
            bytes: weights.len(),
            format: options.weights.to_string(),
        },
        example: model.example.as_ref().map(|_| EXAMPLE_FILE),
    };
    let json = serde_json::to_vec_pretty(&description).map_err(|e| Error::InvalidOption {
        option: "format",
        reason: format!("the model's description cannot be written: {e}"),
    })?;
    write_atomic(&staging.path(DESCRIPTION_FILE), &json)?;
    staging.finish()
}
