#!/usr/bin/env bash
# Set up and run the main job on a fresh machine (README): build the release CLI, then look at the
# real Left Atrium benchmark and score its test labels. Needs rustup; no network beyond crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SEMISEG_LA2018:-../shared/data/la2018}
if [ ! -f "$DATA/dataset.json" ]; then
  echo "error: the LA2018 data is not at $DATA; set SEMISEG_LA2018 to its folder" >&2
  exit 1
fi
cargo build --release -p semiseg-trainer
BIN=target/release/semiseg
first_test=$(head -n 1 "$DATA/test.list")
"$BIN" dataset "$DATA" --labeled 16
echo
"$BIN" inspect "$DATA/imagesTr/$first_test.nii.gz"
echo
"$BIN" eval --pred "$DATA/labelsTr" --gt "$DATA/labelsTr" --cases "$DATA/test.list"
