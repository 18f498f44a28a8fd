//! Adam's fused loop (src/backend/adam.rs) on LibTorch's CPU buffers, in place, as a Burn backend
//! extension.
//!
//! Burn's tensor-op Adam runs about eleven whole-tensor LibTorch operations per parameter, each
//! writing a fresh buffer (BENCHMARKS.md has what that cost). Here the loop writes the parameter
//! and both moments where their buffers are this tensor's alone, and into fresh copies where they
//! are shared.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, LibTorch, backend_extension};
use burn::tensor::Tensor;
use burn_tch::TchTensor;

use crate::backend::adam::{AdamParam, AdamStep};

#[backend_extension(LibTorch)]
pub(crate) trait InPlaceAdam: Backend {
    /// (param, moment_1, moment_2) after one Adam step.
    fn adam_in_place(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A tensor whose buffer may be written: itself where it is contiguous and no other tensor
/// shares its storage, else a contiguous copy.
fn writable(tensor: TchTensor) -> TchTensor {
    if tensor.can_mut() && tensor.tensor.is_contiguous() {
        tensor
    } else {
        TchTensor::new(tensor.tensor.contiguous().copy())
    }
}

impl InPlaceAdam for LibTorch {
    fn adam_in_place(
        param: TchTensor,
        grad: TchTensor,
        moment_1: TchTensor,
        moment_2: TchTensor,
        step: AdamStep,
    ) -> (TchTensor, TchTensor, TchTensor) {
        let (param, moment_1, moment_2) = (writable(param), writable(moment_1), writable(moment_2));
        let grad = grad.tensor.contiguous();
        let len = grad.numel();
        for tensor in [&param.tensor, &moment_1.tensor, &moment_2.tensor] {
            assert!(
                tensor.numel() == len && tensor.kind() == grad.kind(),
                "Adam's parameter, gradient and moments differ in size or type"
            );
        }
        let values = |tensor: &tch::Tensor| tensor.data_ptr() as *mut f32;
        // SAFETY: the caller (src/backend/mod.rs) passes f32 CPU tensors; all four are contiguous with `len`
        // values; the three written ones are each the only user of its buffer (`writable`), so
        // none aliases another or the gradient.
        unsafe {
            step.apply(
                std::slice::from_raw_parts_mut(values(&param.tensor), len),
                std::slice::from_raw_parts(values(&grad), len),
                std::slice::from_raw_parts_mut(values(&moment_1.tensor), len),
                std::slice::from_raw_parts_mut(values(&moment_2.tensor), len),
            );
        }
        (param, moment_1, moment_2)
    }
}

/// One Adam step on f32 tensors on LibTorch's CPU device.
pub(crate) fn step<const D: usize>(
    state: AdamParam<D>,
    grad: Tensor<D>,
    step: AdamStep,
) -> AdamParam<D> {
    let (param, moment_1, moment_2) = <Dispatch as InPlaceAdam>::adam_in_place(
        state.param.into_dispatch(),
        grad.into_dispatch(),
        state.moment_1.into_dispatch(),
        state.moment_2.into_dispatch(),
        step,
    );
    AdamParam {
        param: Tensor::from_dispatch(param),
        moment_1: Tensor::from_dispatch(moment_1),
        moment_2: Tensor::from_dispatch(moment_2),
    }
}
