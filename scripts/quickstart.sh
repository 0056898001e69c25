#!/usr/bin/env bash
# Set up and run the main job on a fresh machine (README): build the release CLI and the browser app, look at the real
# Left Atrium benchmark, then train SimCVD: on the LA data with CUDA when an NVIDIA GPU is present,
# otherwise a small CPU demonstration on synthetic volumes. Needs rustup; no network beyond crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SEMISEG_LA2018:-../shared/data/la2018}
if [ ! -f "$DATA/dataset.json" ]; then
  echo "error: the LA2018 data is not at $DATA; set SEMISEG_LA2018 to its folder" >&2
  exit 1
fi
cargo build --release -p semiseg-trainer
# the browser app into dist/ (trunk, wasm-bindgen-cli and the wasm32 target are installed if missing)
scripts/build_web.sh
BIN=target/release/semiseg
first_test=$(head -n 1 "$DATA/test.list")
"$BIN" dataset "$DATA" --labeled 16
echo
"$BIN" inspect "$DATA/imagesTr/$first_test.nii.gz"
echo
"$BIN" eval --pred "$DATA/labelsTr" --gt "$DATA/labelsTr" --cases "$DATA/test.list"
echo
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  # the paper's setting: SimCVD with 16 labeled LA cases, 6000 steps, then the test table
  run="runs/quickstart-simcvd-16L-$(date -u +%Y%m%d-%H%M%S)"
  "$BIN" train simcvd --data "$DATA" --labeled 16 --backend cuda --runs runs --name "$(basename "$run")"
  "$BIN" eval-model --run "$run" --data "$DATA" --backend cuda
else
  echo "no NVIDIA GPU: training a small SimCVD on synthetic volumes on the CPU instead (about 2 minutes)"
  demo="runs/quickstart-cpu-$(date -u +%Y%m%d-%H%M%S)"
  "$BIN" synth 3d --out "$demo/data" --cases 10 --test 2 --size 32
  printf 'labeled = 4\npatch = [32, 32, 32]\nstride = [16, 16, 16]\nmax_steps = 60\nn_filters = 4\nproj_pool = 16\nproj_hidden = [32]\nproj_out = 16\neval_every = 30\n' > "$demo/small.toml"
  "$BIN" train simcvd --data "$demo/data" --config "$demo/small.toml" --backend cpu --runs "$demo" --name run
  "$BIN" eval-model --run "$demo/run" --data "$demo/data" --backend cpu
fi
echo
echo "The browser app is in dist/: python3 -m http.server -d dist 8080 --bind 127.0.0.1, then open http://127.0.0.1:8080/"
