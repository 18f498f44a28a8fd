//! How long-running library jobs report progress: the caller passes an observer and draws it
//! (the binary draws progress bars; a library user may log, or ignore it with [`Silent`]).

/// Progress through a job of a known size: files processed, or bytes downloaded.
pub trait Progress: Sync {
    /// A job named `label` starts with `total` units to go, `done` of them already done (a
    /// resumed download).
    fn start(&self, _label: &str, _unit: Unit, _total: u64, _done: u64) {}
    /// `amount` more units are done.
    fn advance(&self, _amount: u64) {}
    /// The job is over, completed or not.
    fn finish(&self) {}
}

/// What a [`Progress`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Items,
    Bytes,
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
