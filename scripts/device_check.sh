#!/usr/bin/env bash
# The GPU checks of issues 3 and 5 as one prepared run, for a session that is lent a GPU machine
# (the `device` tool: 15 minutes of device time, 10 minutes a command, 64 MiB of working tree, no
# Rust toolchain and no network there). Two steps:
#
#   scripts/device_check.sh stage    # here: release CLI with CUDA and wgpu, stripped and
#                                    # xz-compressed (10 MB), into .device/ (gitignored) with the
#                                    # first LA test case
#   scripts/device_check.sh run      # there: `run` with carry [".device"] and this command;
#                                    # writes $OUT/device_check.log
#
# `run` checks that the CUDA backend segments the LA test case as the CPU does (the shipped
# bundle; Dice between the two masks, which must be > 99.9), then times `semiseg bench simcvd`
# on CUDA next to benches/pytorch_simcvd_step.py on the same GPU (the ratio of issue 3), for the
# full (16 filters) and the light (4) V-Net. Each part has its own time limit, so a slow part
# cannot eat the rest; the whole run stays under about 8 minutes. Locally, `BACKEND=cpu FILTERS=4
# OUT=/tmp/x scripts/device_check.sh run` runs the same script on the CPU (a dry run).
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${SEMISEG_LA2018:-../shared/data/la2018}
stage=.device

case "${1:-}" in
stage)
  set -e
  cargo build --release -p semiseg-trainer
  rm -rf "$stage" && mkdir -p "$stage/la-mini/imagesTr" "$stage/la-mini/labelsTr"
  # xz shrinks the stripped binary from about 60 MB to 10: less to send, and room under the
  # 64 MiB limit (device time counts the transfer)
  strip -o "$stage/semiseg" target/release/semiseg
  xz -T0 -6 -f "$stage/semiseg"
  id=$(head -n 1 "$DATA/test.list")
  cp "$DATA/imagesTr/$id.nii.gz" "$stage/la-mini/imagesTr/"
  cp "$DATA/labelsTr/$id.nii.gz" "$stage/la-mini/labelsTr/"
  echo "$id" > "$stage/la-mini/test.list"
  du -sh "$stage"
  echo "staged: call the device tool's run with carry [\".device\"] and: bash scripts/device_check.sh run"
  ;;
run)
  : "${OUT:?set OUT to a folder for the log and masks}"
  BACKEND=${BACKEND:-cuda}
  FILTERS=${FILTERS:-16 4}
  source scripts/device_cli.sh
  [ -x "$bin" ] || { echo "no semiseg binary: run 'scripts/device_check.sh stage' first" >&2; exit 1; }
  data=$stage/la-mini
  [ -d "$data" ] || { echo "no $data: run 'scripts/device_check.sh stage' first" >&2; exit 1; }
  log=$OUT/device_check.log
  id=$(head -n 1 "$data/test.list")
  scan=$data/imagesTr/$id.nii.gz
  part() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" | tee -a "$log"; }
  part "machine"
  {
    nvidia-smi -L 2>&1 || echo "no nvidia-smi"
    nproc; uname -m
    git log --oneline -1 2>/dev/null || true
    "$bin" --version
  } 2>&1 | tee -a "$log"

  part "the shipped light model on $BACKEND and on the CPU: the same mask?"
  mkdir -p "$OUT/cpu" "$OUT/$BACKEND-mask"
  timeout 120 "$bin" predict --backend "$BACKEND" --model www/assets/models/la-light.semiseg "$scan" \
    -o "$OUT/$BACKEND-mask/$id.nii.gz" 2>&1 | tee -a "$log"
  timeout 120 "$bin" predict --backend cpu --model www/assets/models/la-light.semiseg "$scan" \
    -o "$OUT/cpu/$id.nii.gz" 2>&1 | tee -a "$log"
  timeout 60 "$bin" eval --pred "$OUT/$BACKEND-mask" --gt "$OUT/cpu" 2>&1 | tee -a "$log"
  timeout 60 "$bin" eval --pred "$OUT/$BACKEND-mask" --gt "$data/labelsTr" 2>&1 | tee -a "$log"

  for f in $FILTERS; do
    part "semiseg bench simcvd, $BACKEND, $f filters"
    timeout 150 "$bin" bench simcvd --backend "$BACKEND" --n-filters "$f" --steps 5 --data "$data" 2>&1 | tee -a "$log"
    part "PyTorch, same step, $f filters"
    if python3 -c 'import torch' 2>/dev/null; then
      dev=$([ "$BACKEND" = cpu ] && echo cpu || echo cuda)
      timeout 150 python3 benches/pytorch_simcvd_step.py --device "$dev" --n-filters "$f" --steps 5 2>&1 | tee -a "$log"
    else
      echo "no PyTorch here: skipped" | tee -a "$log"
    fi
  done
  part "done"
  ;;
*)
  echo "usage: scripts/device_check.sh stage|run (see the comment at its top)" >&2
  exit 2
  ;;
esac
