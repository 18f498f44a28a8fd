//! What the Flex kernels (src/model/flex_*.rs) share: which tensors they take, and how their
//! results become Flex tensors.

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

/// A contiguous f32 Flex tensor of `shape` holding `values`.
pub(crate) fn f32_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape.into()),
        DType::F32,
    )
}

/// Whether every tensor is f32, the one dtype the kernels handle themselves.
pub(crate) fn is_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}
