#!/usr/bin/env bash
# The tools the browser build needs (README): the wasm32 target, trunk 0.21.14 and the
# wasm-bindgen-cli that matches Cargo.lock, installed with cargo install when missing (each is
# skipped when the right version is on PATH). scripts/build_web.sh calls it; scripts/test.sh starts
# it early, beside the test build, so the installs use the cores the build leaves idle.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh
# the test build's clippy wrapper (scripts/test.sh) must not lint the tools' own code
unset RUSTC_WORKSPACE_WRAPPER

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
phase "web: trunk 0.21.14 (cargo install, when missing)"
if ! trunk --version 2>/dev/null | grep -q '0.21.14'; then
  cargo install trunk --version 0.21.14 --locked
fi
phase "web: wasm-bindgen-cli (cargo install, when missing)"
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q "$want"; then
  # not --locked: the CLI's locked webpki-roots is not on crates.io any more (docs: toolchain)
  cargo install wasm-bindgen-cli --version "$want"
fi
phase_end
