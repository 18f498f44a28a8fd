#!/usr/bin/env bash
# What building the browser's WebAssembly module (scripts/web/build.sh) needs beyond the Rust
# toolchain: the wasm32 target, and wasm-bindgen-cli at exactly the version of the wasm-bindgen
# crate in Cargo.lock (the two must agree on the bindings' format). Installed once; CI runs this.
set -euo pipefail
cd "$(dirname "$0")/../.."

rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ -z "$version" ]]; then
  echo "Cargo.lock names no wasm-bindgen version" >&2
  exit 1
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]]; then
  # Not --locked: its lock file names crate versions that some registry mirrors lack; the
  # bindings it writes depend on its own version only.
  cargo install wasm-bindgen-cli --version "$version"
fi
