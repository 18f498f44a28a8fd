//! Which backend a device is.

use burn::prelude::*;

/// Which backend holds a device's tensors: the one place that tells. The kernels' routes, the
/// memory check and `bench`'s report ask it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Burn's Flex, in this process's memory.
    Flex,
    /// LibTorch's CPU device, in this process's memory.
    LibTorchCpu,
    /// LibTorch on a CUDA GPU.
    LibTorchCuda,
    /// CubeCL's CUDA runtime.
    Cuda,
    /// CubeCL on wgpu.
    Wgpu,
    /// Any other device Burn may hand us.
    Other,
}

impl Backend {
    /// The backend of `device` (an autodiff device answers for the device it wraps).
    pub fn of(device: &Device) -> Self {
        Self::on_host(device).unwrap_or_else(|| {
            let name = format!("{device:?}");
            if name.contains("LibTorch") {
                Backend::LibTorchCuda
            } else if name.contains("Cuda") {
                Backend::Cuda
            } else if name.contains("Wgpu") {
                Backend::Wgpu
            } else {
                Backend::Other
            }
        })
    }

    /// The backend of `device` when it keeps its tensors in this process's memory (Flex,
    /// LibTorch's CPU device); cheap enough for every operation to ask.
    pub fn on_host(device: &Device) -> Option<Self> {
        let device = device.clone().inner();
        #[cfg(feature = "flex")]
        if device == Device::flex() {
            return Some(Backend::Flex);
        }
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        if device == Device::libtorch() {
            return Some(Backend::LibTorchCpu);
        }
        let _ = device;
        None
    }

    /// A short name, as `bench` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::LibTorchCpu => "tch",
            Backend::LibTorchCuda => "tch-cuda",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
            Backend::Other => "other",
        }
    }
}
