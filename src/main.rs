//! The `pix2pix` binary.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    exit_quietly_on_a_closed_pipe();
    report_panics_in_one_line();
    match cli::run(cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The last net under the checks: a panic left in the code still ends in one line that says it
/// is a bug (exit status 101, and the word "panicked", which the tests look for). Known bad input
/// never gets here (tests/bad_input.rs). With RUST_BACKTRACE set, Rust's own report is kept.
fn report_panics_in_one_line() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<&str>().copied())
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error (panicked{location}: {message}); this is a bug, please report \
             it with the command that caused it"
        );
    }));
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

/// `pix2pix info | head` ends like any Unix tool when the reader goes away, instead of a panic
/// of `println!` (Rust ignores SIGPIPE by default).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exit_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default action of one signal before any other thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exit_quietly_on_a_closed_pipe() {}
