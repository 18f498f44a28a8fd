//! The networks' errors: an option value that cannot build them.

/// What building or running a network refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option's value that cannot work; `option` is its official name (e.g. `netG`).
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
