#!/usr/bin/env bash
# Builds the browser's WebAssembly module: crates/pix2pix-web for wasm32 with SIMD128, then
# wasm-bindgen's JavaScript glue, into web/pkg, which `pix2pix export --format web` embeds (the
# default build then needs no WebAssembly toolchain). Needs scripts/web/install.sh first.
#
# Reproducible: the paths of this machine are remapped out of the module, so the same sources
# and toolchain give the same bytes anywhere. CI builds it again and checks that web/pkg holds
# exactly what the sources give: after changing crates/pix2pix-web or crates/pix2pix-nets, run
# this and commit web/pkg.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pix2pix-target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
sysroot=$(rustc --print sysroot)

export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 \
--remap-path-prefix=$root=pix2pix --remap-path-prefix=$cargo_home=cargo \
--remap-path-prefix=$sysroot=rust"
# No debug information in the module (the release profile keeps line tables for native
# profiling): it would only grow the download.
export CARGO_PROFILE_RELEASE_DEBUG=false
cargo build --release --locked -p pix2pix-web --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --remove-producers-section \
  --out-dir web/pkg "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/pix2pix_web.wasm"
ls -l web/pkg
