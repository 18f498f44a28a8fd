//! The memory check: what a training step or a translation will need, estimated from the
//! options before anything is allocated, against what the process may still use. Without it a
//! typed `--ngf 100000` or a huge image ends in an allocator abort ("memory allocation of N
//! bytes failed"), or in the kernel's OOM killer.
//!
//! The estimates count f32 elements ([`crate::footprint`]) and weigh them as measured on the
//! CPU backends (BENCHMARKS.md, "Memory estimates"): training holds the weights, their gradients
//! and Adam's two moments, G's and D's feature maps (D runs three times a step) and the largest
//! convolution workspace; inference holds the weights twice while loading, part of G's feature
//! maps and the workspace.

use std::fmt;

use burn::prelude::*;

use crate::error::{Error, Result};

pub use crate::footprint::{inference_bytes, training_bytes, weights_bytes};

/// Which bound the memory left was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLimit {
    /// The system's available memory and free swap (/proc/meminfo).
    System,
    /// The process's address-space limit (`ulimit -v`, RLIMIT_AS).
    AddressSpace,
    /// The control group's memory limit (containers, systemd units).
    Cgroup,
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryLimit::System => "available memory and swap",
            MemoryLimit::AddressSpace => "address-space limit (ulimit -v)",
            MemoryLimit::Cgroup => "control group's memory limit",
        })
    }
}

/// Bytes as people read them: "1.5 GiB".
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes / 1024.0;
    for unit in UNITS {
        if value < 1024.0 {
            return format!("{value:.1} {unit}");
        }
        if unit != "PiB" {
            value /= 1024.0;
        }
    }
    format!("{value:.1e} PiB")
}

/// Refuses, naming `what` (e.g. "training unet_256 on 4 images of 256x256"), when `bytes` will
/// not fit in what this process may still use. Only the CPU backends are checked: a GPU's
/// memory is the backend's to report.
pub fn ensure_fits(bytes: f64, what: impl FnOnce() -> String, device: &Device) -> Result<()> {
    if crate::device::Backend::on_host(device).is_none() {
        return Ok(());
    }
    match left() {
        Some((available, limit)) if bytes > available as f64 => Err(Error::OutOfMemory {
            what: what(),
            needed: human_bytes(bytes),
            available: human_bytes(available as f64),
            limit,
        }),
        _ => Ok(()),
    }
}

/// The tightest of the bounds on memory this process may still take, in bytes; None where none
/// can be read (then nothing is refused).
#[cfg(target_os = "linux")]
fn left() -> Option<(u64, MemoryLimit)> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let meminfo = read("/proc/meminfo")?;
    let kib = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()?
            .checked_mul(1024)
    };
    let system = kib("MemAvailable:")?.saturating_add(kib("SwapFree:").unwrap_or(0));
    let mut bounds = vec![(system, MemoryLimit::System)];
    // "Max address space  <soft> <hard> bytes"; the soft limit is the one enforced.
    let limits = read("/proc/self/limits").unwrap_or_default();
    let address_space = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok());
    let mapped = read("/proc/self/status").and_then(|status| {
        let line = status
            .lines()
            .find(|l| l.starts_with("VmSize:"))?
            .to_owned();
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()?
            .checked_mul(1024)
    });
    if let (Some(limit), Some(mapped)) = (address_space, mapped) {
        bounds.push((limit.saturating_sub(mapped), MemoryLimit::AddressSpace));
    }
    // cgroup v2: "0::/<path>" names the group; memory.max is "max" when unlimited.
    let group = read("/proc/self/cgroup").and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("0::"))?;
        Some(format!("/sys/fs/cgroup{}", &line[3..]))
    });
    if let Some(group) = group {
        let number = |file: &str| read(&format!("{group}/{file}"))?.trim().parse::<u64>().ok();
        if let (Some(max), Some(current)) = (number("memory.max"), number("memory.current")) {
            bounds.push((max.saturating_sub(current), MemoryLimit::Cgroup));
        }
    }
    bounds.into_iter().min_by_key(|(bytes, _)| *bytes)
}

#[cfg(not(target_os = "linux"))]
fn left() -> Option<(u64, MemoryLimit)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelOptions;

    #[test]
    fn estimates_grow_with_batch_and_size_and_never_overflow() {
        let model = ModelOptions::default();
        let one = training_bytes(&model, 1, 256, 256);
        assert!(training_bytes(&model, 4, 256, 256) > one);
        assert!(inference_bytes(&model, 1, 1024, 1024) > inference_bytes(&model, 1, 256, 256));
        assert!(inference_bytes(&model, 1, 256, 256) < one);
        let huge = ModelOptions {
            ngf: usize::MAX,
            ..model
        };
        let bytes = training_bytes(&huge, usize::MAX, 16384, 16384);
        assert!(bytes.is_finite() && bytes > 1e40, "{bytes}");
        assert_eq!(human_bytes(1536.0 * 1024.0 * 1024.0), "1.5 GiB");
        assert!(human_bytes(bytes).ends_with("PiB"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_memory_left_is_read() {
        let (bytes, _) = left().expect("/proc/meminfo is readable");
        assert!(bytes > 0);
    }
}
