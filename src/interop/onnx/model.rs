//! The ONNX model of a generator: its graph (networks.rs, graph.rs) with the inputs, outputs,
//! doc string and metadata that say how to feed it.

use graph::{Attr, Dim, Graph, value_info};
use networks::BatchNormMode;
use proto::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, data_type};

use super::{DEFAULT_OPSET, OPSETS, OnnxIo, OnnxOptions, graph, networks, proto};
use crate::error::{Error, Result};
use crate::model::{Generator, ModelOptions};

/// The ONNX IR version that came with `opset` (onnx's `helper.VERSION_TABLE`): the oldest that
/// can carry it, so that older runtimes read the file.
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        23 => 11,
        _ => 12,
    }
}

/// A protobuf message, the whole file, cannot exceed 2 GiB.
const MAX_FILE_BYTES: usize = i32::MAX as usize;

/// `generator` (built from `model`) as an encoded ONNX model.
pub fn onnx_bytes(
    generator: &Generator,
    model: &ModelOptions,
    options: &OnnxOptions,
) -> Result<Vec<u8>> {
    use prost::Message;
    let model_proto = onnx_model(generator, model, options)?;
    let size = model_proto.encoded_len();
    if size > MAX_FILE_BYTES {
        return Err(Error::InvalidOption {
            option: "format",
            reason: format!(
                "netG {} with ngf {} needs {size} bytes, over ONNX's 2 GiB limit for one file",
                model.net_g, model.ngf
            ),
        });
    }
    Ok(model_proto.encode_to_vec())
}

/// `generator` (built from `model`) as an ONNX model.
pub fn onnx_model(
    generator: &Generator,
    model: &ModelOptions,
    options: &OnnxOptions,
) -> Result<ModelProto> {
    if !OPSETS.contains(&options.opset) {
        return Err(Error::InvalidOption {
            option: "opset",
            reason: format!(
                "{} is not supported: use {} to {} (default {DEFAULT_OPSET})",
                options.opset,
                OPSETS.start(),
                OPSETS.end()
            ),
        });
    }
    let mode = if options.batch_stats {
        BatchNormMode::PerImage
    } else {
        BatchNormMode::Running
    };
    let mut g = Graph::default();
    let plan = model.generator_plan();
    let weights = model.generator_state_dict(generator);
    let (input, output) = match options.io {
        OnnxIo::Float => {
            networks::network(&mut g, &plan, &weights, "input", mode);
            g.name_last_output("output");
            (
                float_info("input", model.input_nc, "the images"),
                float_info("output", model.output_nc, "the translations"),
            )
        }
        OnnxIo::Uint8 => {
            let x = from_uint8(&mut g, "input");
            let y = networks::network(&mut g, &plan, &weights, &x, mode);
            to_uint8(&mut g, &y);
            g.name_last_output("output");
            (
                uint8_info("input", model.input_nc, "the images"),
                uint8_info("output", model.output_nc, "the translations"),
            )
        }
    };
    let graph = GraphProto {
        node: g.nodes,
        name: "pix2pix_G".into(),
        initializer: g.initializers,
        doc_string: String::new(),
        input: vec![input],
        output: vec![output],
    };
    Ok(ModelProto {
        ir_version: ir_version(options.opset),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: options.opset,
        }],
        producer_name: "pix2pix".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc_string(model, options),
        graph: Some(graph),
        metadata_props: metadata(model, options),
    })
}

fn float_info(name: &str, channels: usize, what: &str) -> proto::ValueInfoProto {
    let dims = [
        Dim::Named("N"),
        Dim::Fixed(channels),
        Dim::Named("H"),
        Dim::Named("W"),
    ];
    value_info(
        name,
        data_type::FLOAT,
        &dims,
        format!("{what}: float32 (N, {channels}, H, W) in [-1, 1]"),
    )
}

fn uint8_info(name: &str, channels: usize, what: &str) -> proto::ValueInfoProto {
    let dims = [
        Dim::Named("N"),
        Dim::Named("H"),
        Dim::Named("W"),
        Dim::Fixed(channels),
    ];
    value_info(
        name,
        data_type::UINT8,
        &dims,
        format!("{what}: uint8 (N, H, W, {channels}), 0-255"),
    )
}

/// uint8 (N, H, W, C) to float (N, C, H, W) in [-1, 1]: x / 127.5 - 1, as the data loader does.
fn from_uint8(g: &mut Graph, input: &str) -> String {
    let x = g.node(
        "input.float",
        "Cast",
        &[input],
        vec![("to", Attr::Int(data_type::FLOAT as i64))],
    );
    let x = g.node(
        "input.nchw",
        "Transpose",
        &[&x],
        vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))],
    );
    let half_range = g.scalar("127.5", 127.5);
    let one = g.scalar("1", 1.0);
    let x = g.node("input.scaled", "Div", &[&x, &half_range], vec![]);
    g.node("input.centred", "Sub", &[&x, &one], vec![])
}

/// float (N, C, H, W) to uint8 (N, H, W, C): (clamp(x, -1, 1) + 1) / 2 * 255, truncated, as the
/// official `tensor2im` and our image writer.
fn to_uint8(g: &mut Graph, y: &str) {
    let (minus_one, one, two) = (g.scalar("-1", -1.0), g.scalar("1", 1.0), g.scalar("2", 2.0));
    let full_range = g.scalar("255", 255.0);
    let y = g.node("output.clip", "Clip", &[y, &minus_one, &one], vec![]);
    let y = g.node("output.shifted", "Add", &[&y, &one], vec![]);
    let y = g.node("output.unit", "Div", &[&y, &two], vec![]);
    let y = g.node("output.scaled", "Mul", &[&y, &full_range], vec![]);
    let y = g.node("output.floor", "Floor", &[&y], vec![]);
    let y = g.node(
        "output.uint8",
        "Cast",
        &[&y],
        vec![("to", Attr::Int(data_type::UINT8 as i64))],
    );
    g.node(
        "output.nhwc",
        "Transpose",
        &[&y],
        vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))],
    );
}

/// What the model is and how to feed it, for whoever opens the file.
fn doc_string(model: &ModelOptions, options: &OnnxOptions) -> String {
    let multiple = model.net_g.size_multiple();
    let (input, output) = match options.io {
        OnnxIo::Float => (
            format!(
                "float32 (N, {}, H, W) in [-1, 1] (pixel / 127.5 - 1)",
                model.input_nc
            ),
            format!("float32 (N, {}, H, W) in [-1, 1]", model.output_nc),
        ),
        OnnxIo::Uint8 => (
            format!("uint8 (N, H, W, {}) images, 0-255", model.input_nc),
            format!(
                "uint8 (N, H, W, {}) images, 0-255 ((y + 1) / 2 * 255, truncated)",
                model.output_nc
            ),
        ),
    };
    let gray = if model.input_nc == 1 {
        " One input channel: gray as PIL's convert('L')."
    } else {
        ""
    };
    let normalisation = match (model.norm, options.batch_stats) {
        (crate::model::NormKind::Batch, false) => {
            "Batch norm uses its running statistics (eval mode, as `pix2pix translate --eval`)."
        }
        (crate::model::NormKind::Batch, true) => {
            "Batch norm uses each image's own statistics (the official test mode without dropout, as `pix2pix translate` with batches of one)."
        }
        _ => "",
    };
    format!(
        "pix2pix generator (netG {}, ngf {}, norm {}) exported by pix2pix {}. Input `input`: \
         {input}; output `output`: {output}. N, H and W are chosen at run time; H and W must be \
         multiples of {multiple}.{gray} {normalisation} Dropout is not in the graph.",
        model.net_g,
        model.ngf,
        model.norm,
        env!("CARGO_PKG_VERSION"),
    )
}

fn metadata(model: &ModelOptions, options: &OnnxOptions) -> Vec<StringStringEntryProto> {
    let mut entries = vec![
        ("netG", model.net_g.to_string()),
        ("ngf", model.ngf.to_string()),
        ("norm", model.norm.to_string()),
        ("input_nc", model.input_nc.to_string()),
        ("output_nc", model.output_nc.to_string()),
        ("size_multiple", model.net_g.size_multiple().to_string()),
        (
            "mode",
            if options.batch_stats {
                "batch-stats"
            } else {
                "eval"
            }
            .to_string(),
        ),
        ("io", options.io.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    if let Some(direction) = options.direction {
        entries.push(("direction", direction.to_string()));
    }
    entries
        .into_iter()
        .map(|(key, value)| StringStringEntryProto {
            key: key.into(),
            value,
        })
        .collect()
}
