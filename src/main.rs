//! The `pix2pix` binary.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    match cli::run(cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Has glibc's malloc keep the memory of freed tensors for the next ones. By default it maps
/// every buffer over a threshold afresh and returns it on free, so each training step
/// page-faults through its activations and gradients again; with buffers up to 32 MiB served
/// from the heap, which keeps up to 1 GiB free, a step is faster at the same peak memory
/// (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes malloc's tuning; it runs before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
