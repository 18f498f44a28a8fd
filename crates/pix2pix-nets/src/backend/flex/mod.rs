//! Kernels for Flex, Burn's pure-Rust CPU backend, as Burn backend extensions (each with its
//! autodiff implementation): convolutions, training-mode BatchNorm, LeakyReLU and reflection
//! padding; and dropout's
//! mask, drawn in parallel. They take f32
//! tensors; src/backend/mod.rs decides when they run. What they share is here: how their results
//! become Flex tensors and how their inputs are read.

pub(crate) mod batch_norm;
pub(crate) mod conv;
pub(crate) mod dropout;
pub(crate) mod leaky_relu;
pub(crate) mod reflect_pad;

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

/// A contiguous f32 Flex tensor of `shape` holding `values`.
fn f32_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape.into()),
        DType::F32,
    )
}

/// The values of a contiguous f32 tensor (the entry points route only f32 tensors here).
fn storage(tensor: &FlexTensor) -> &[f32] {
    assert_eq!(
        tensor.dtype(),
        DType::F32,
        "the Flex kernels take f32 tensors"
    );
    tensor.storage()
}

/// The sizes of a 4-D tensor.
fn dims(tensor: &FlexTensor) -> [usize; 4] {
    let shape = tensor.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}
