//! Kernels for LibTorch's CPU device (the `tch` feature): Adam's fused loop in place on its
//! buffers.

// burn-tch is deprecated upstream; the `tch` feature is built on it on purpose (README, Backends).
#![allow(deprecated)]

pub(crate) mod adam;
