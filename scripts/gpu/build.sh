#!/usr/bin/env bash
# Builds the CubeCL CUDA binary for a lent GPU machine (x86-64 Linux, no Rust there), stripped
# and gzipped (about 27 MB, under the device tool's 64 MiB carry limit; 660 MB as built) to
# target/gpu/pix2pix.gz, which scripts/gpu/run.sh unpacks; carry "target/gpu" to the device.
# Needs no CUDA here: kernels are compiled by NVRTC on the device at run time.
# The CUDA build has its own target folder (PIX2PIX_CUDA_TARGET_DIR) so that it does not
# replace the default build's binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${PIX2PIX_CUDA_TARGET_DIR:-${CARGO_TARGET_DIR:-target}-cuda}"
CARGO_TARGET_DIR="$target" cargo build --release --features cuda
mkdir -p target/gpu
strip -o target/gpu/pix2pix "$target/release/pix2pix"
gzip -9 -f target/gpu/pix2pix
echo "built target/gpu/pix2pix.gz ($(du -h target/gpu/pix2pix.gz | cut -f1))"
