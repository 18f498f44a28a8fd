//! Which compiled backend runs the networks (`--device`).
//!
//! One codebase runs on every Burn backend; cargo features decide which are in the binary:
//! `flex` (pure-Rust CPU, the default), `tch` (LibTorch), `cuda` (CubeCL CUDA) and `wgpu`
//! (CubeCL on Vulkan, Metal or DirectX 12).

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

pub use crate::backend::Backend;
use crate::error::{Error, Result};

/// A device as the user names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// Burn's pure-Rust CPU backend, Flex (`cpu`).
    Cpu,
    /// LibTorch on the CPU (`tch`).
    LibTorch,
    /// LibTorch on CUDA GPU N, with a CUDA build of libtorch (`tch:cuda:N`).
    LibTorchCuda(usize),
    /// CubeCL's CUDA backend on GPU N (`cuda:N`).
    Cuda(usize),
    /// CubeCL's wgpu backend on the adapter wgpu prefers (`wgpu`).
    Wgpu,
}

const SPELLINGS: &str = "cpu, tch, tch:cuda:N, cuda, cuda:N or wgpu";

impl DeviceChoice {
    /// The cargo feature that compiles this device's backend in.
    pub fn feature(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "flex",
            DeviceChoice::LibTorch | DeviceChoice::LibTorchCuda(_) => "tch",
            DeviceChoice::Cuda(_) => "cuda",
            DeviceChoice::Wgpu => "wgpu",
        }
    }

    /// The backends compiled into this binary, as cargo feature names.
    pub fn compiled_features() -> Vec<&'static str> {
        [
            ("flex", cfg!(feature = "flex")),
            ("tch", cfg!(feature = "tch")),
            ("cuda", cfg!(feature = "cuda")),
            ("wgpu", cfg!(feature = "wgpu")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }

    /// The official `--gpu_ids` spelling: -1 is the CPU, N the Nth CUDA GPU of whichever GPU
    /// backend is compiled in (CubeCL CUDA first, else LibTorch).
    pub fn from_gpu_ids(gpu_ids: &str) -> Result<Self> {
        let first = gpu_ids.split(',').next().unwrap_or("").trim();
        let invalid = || Error::InvalidOption {
            option: "gpu_ids",
            reason: format!("'{gpu_ids}' is not a GPU index list: use -1 (CPU) or e.g. 0"),
        };
        let index: i64 = first.parse().map_err(|_| invalid())?;
        match usize::try_from(index) {
            Err(_) if index == -1 => Ok(Self::default()),
            Err(_) => Err(invalid()),
            Ok(index) if !cfg!(feature = "cuda") && cfg!(feature = "tch") => {
                Ok(DeviceChoice::LibTorchCuda(index))
            }
            Ok(index) => Ok(DeviceChoice::Cuda(index)),
        }
    }

    /// The Burn device, or an error naming the feature to build with.
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceChoice::LibTorch => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceChoice::LibTorchCuda(index) => Ok(Device::libtorch_cuda(index)),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(index) => {
                check_cuda_libraries(self)?;
                Ok(Device::cuda(index))
            }
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            _ => Err(Error::BackendNotCompiled {
                device: self.to_string(),
                feature: self.feature(),
                compiled: Self::compiled_features().join(", "),
            }),
        }
    }
}

/// CubeCL loads the CUDA driver and NVRTC when it first uses the device, and panics on another
/// thread where they are missing; this says so up front instead.
#[cfg(feature = "cuda")]
fn check_cuda_libraries(choice: DeviceChoice) -> Result<()> {
    // SAFETY: each call only opens the library by name and looks its symbols up.
    let (driver, nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    let missing = match (driver, nvrtc) {
        (true, true) => return Ok(()),
        (false, _) => "the NVIDIA driver's libcuda.so was not found: install the driver",
        (true, false) => {
            "libnvrtc.so (CUDA's run-time compiler, which compiles the kernels) was not found: \
             install the CUDA toolkit or the nvidia-cuda-nvrtc wheel and add its lib folder to \
             LD_LIBRARY_PATH"
        }
    };
    Err(Error::DeviceUnavailable {
        device: choice.to_string(),
        reason: format!("{missing}, or use --device cpu"),
    })
}

/// The CPU device of the backend built in (Flex, else LibTorch's CPU device).
pub fn cpu() -> Result<Device> {
    DeviceChoice::default().device()
}

impl Default for DeviceChoice {
    /// The CPU backend that is compiled in: Flex, else LibTorch.
    fn default() -> Self {
        if cfg!(feature = "flex") || !cfg!(feature = "tch") {
            DeviceChoice::Cpu
        } else {
            DeviceChoice::LibTorch
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::LibTorch => write!(f, "tch"),
            DeviceChoice::LibTorchCuda(index) => write!(f, "tch:cuda:{index}"),
            DeviceChoice::Cuda(index) => write!(f, "cuda:{index}"),
            DeviceChoice::Wgpu => write!(f, "wgpu"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let unknown = || format!("unknown device '{s}': use {SPELLINGS}");
        let index = |rest: &str| rest.parse::<usize>().map_err(|_| unknown());
        let (backend, rest) = match lower.split_once(':') {
            Some((backend, rest)) => (backend, Some(rest)),
            None => (lower.as_str(), None),
        };
        match (backend, rest) {
            ("cpu" | "flex", None) => Ok(DeviceChoice::Cpu),
            ("tch" | "libtorch", None) => Ok(DeviceChoice::LibTorch),
            ("tch" | "libtorch", Some("cpu")) => Ok(DeviceChoice::LibTorch),
            ("tch" | "libtorch", Some(rest)) => match rest.split_once(':') {
                Some(("cuda", n)) => Ok(DeviceChoice::LibTorchCuda(index(n)?)),
                None if rest == "cuda" => Ok(DeviceChoice::LibTorchCuda(0)),
                _ => Err(unknown()),
            },
            ("cuda" | "gpu", None) => Ok(DeviceChoice::Cuda(0)),
            ("cuda" | "gpu", Some(n)) => Ok(DeviceChoice::Cuda(index(n)?)),
            ("wgpu", None) => Ok(DeviceChoice::Wgpu),
            _ => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for choice in [
            DeviceChoice::Cpu,
            DeviceChoice::LibTorch,
            DeviceChoice::LibTorchCuda(1),
            DeviceChoice::Cuda(0),
            DeviceChoice::Cuda(3),
            DeviceChoice::Wgpu,
        ] {
            assert_eq!(choice.to_string().parse::<DeviceChoice>(), Ok(choice));
        }
        assert_eq!("CUDA".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(
            "libtorch:cuda".parse::<DeviceChoice>(),
            Ok(DeviceChoice::LibTorchCuda(0))
        );
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn gpu_ids_follow_the_official_meaning() {
        assert_eq!(
            DeviceChoice::from_gpu_ids("-1").unwrap(),
            DeviceChoice::default()
        );
        assert!(DeviceChoice::from_gpu_ids("a").is_err());
        assert!(DeviceChoice::from_gpu_ids("-2").is_err());
        let gpu = DeviceChoice::from_gpu_ids("1,2").unwrap();
        assert!(matches!(
            gpu,
            DeviceChoice::Cuda(1) | DeviceChoice::LibTorchCuda(1)
        ));
    }

    #[test]
    fn a_device_not_compiled_in_names_its_feature() {
        for choice in [
            DeviceChoice::Cuda(0),
            DeviceChoice::Wgpu,
            DeviceChoice::LibTorch,
        ] {
            if DeviceChoice::compiled_features().contains(&choice.feature()) {
                continue;
            }
            let message = choice.device().unwrap_err().to_string();
            assert!(
                message.contains(&format!("--features {}", choice.feature())),
                "{message}"
            );
        }
    }
}
