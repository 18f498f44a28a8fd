//! A small builder for ONNX graphs: nodes with one output named after the node, and constants
//! (initializers) made once by name.

use std::collections::HashSet;

use super::proto::{
    AttributeProto, NodeProto, TensorProto, TypeProto, ValueInfoProto, attribute_type, data_type,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};

/// A node attribute's value.
pub(super) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Str(&'static str),
}

impl Attr {
    fn proto(self, name: &str) -> AttributeProto {
        let mut attribute = AttributeProto {
            name: name.into(),
            ..AttributeProto::default()
        };
        match self {
            Attr::Int(i) => (attribute.r#type, attribute.i) = (attribute_type::INT, i),
            Attr::Ints(ints) => (attribute.r#type, attribute.ints) = (attribute_type::INTS, ints),
            Attr::Float(f) => (attribute.r#type, attribute.f) = (attribute_type::FLOAT, f),
            Attr::Str(s) => (attribute.r#type, attribute.s) = (attribute_type::STRING, s.into()),
        }
        attribute
    }
}

/// A dimension of a graph input or output: fixed, or named and chosen at run time.
pub(super) enum Dim {
    Fixed(usize),
    Named(&'static str),
}

/// A graph input or output of `elem_type` (one of [`data_type`]).
pub(super) fn value_info(name: &str, elem_type: i32, dims: &[Dim], doc: String) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(size) => dimension::Value::DimValue(*size as i64),
                Dim::Named(name) => dimension::Value::DimParam((*name).into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(super::proto::TensorShapeProto { dim }),
            })),
        }),
        doc_string: doc,
    }
}

#[derive(Default)]
pub(super) struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    constants: HashSet<String>,
}

impl Graph {
    /// Adds `op` on `inputs`; its output value is named `name`, which is returned.
    pub fn node(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        attributes: Vec<(&str, Attr)>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|i| (*i).to_string()).collect(),
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute: attributes
                .into_iter()
                .map(|(key, value)| value.proto(key))
                .collect(),
        });
        name.into()
    }

    /// Renames the last node's output (nothing reads it yet) to `name`, a graph output's name.
    pub fn name_last_output(&mut self, name: &str) {
        if let Some(last) = self.nodes.last_mut() {
            last.output = vec![name.into()];
        }
    }

    /// A float constant; one of the same name made before is reused.
    pub fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(name, dims, data_type::FLOAT, bytes)
    }

    /// An int64 constant; one of the same name made before is reused.
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(name, &[values.len()], data_type::INT64, bytes)
    }

    /// A float scalar (a 0-d tensor).
    pub fn scalar(&mut self, name: &str, value: f32) -> String {
        self.floats(name, &[], &[value])
    }

    fn constant(
        &mut self,
        name: &str,
        dims: &[usize],
        data_type: i32,
        raw_data: Vec<u8>,
    ) -> String {
        if self.constants.insert(name.into()) {
            self.initializers.push(TensorProto {
                dims: dims.iter().map(|d| *d as i64).collect(),
                data_type,
                name: name.into(),
                raw_data,
            });
        }
        name.into()
    }
}
