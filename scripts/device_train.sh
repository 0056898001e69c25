#!/usr/bin/env bash
# STATUS: dry-run on the CPU on 2026-12-01 (stage, receive 0-2, then the `train` command at the
# end of this comment: 45 s, rc 0; the joined data checked, 1 step trained before the 20 s limit,
# eval-model on 1 case, the f16 bundle back in one part that joins to the exported file). Not yet
# run on a GPU: no session so far has been lent one.
#
# SimCVD trained on the real LA data on a lent GPU machine (issue 3), within the `device` tool's
# limits: 64 MiB of working tree a call, 10 minutes a command, 15 minutes of device time in all,
# no Rust toolchain there, and at most 8 files of 16 MiB back. The 148 MB of LA data travel in
# three pieces, one a call; pieces already there stay between calls while the machine is warm
# (30 s after a call), so the calls must follow each other at once.
#
#   scripts/device_train.sh stage        # here: the CLI (scripts/device_check.sh stage) and the
#                                        # data as .device/la-0, la-1, la-2 with their SHA-256
#   then three `run` calls, each as soon as the previous one returns:
#     carry [".device/semiseg.xz", ".device/la-parts.sha256", ".device/la-0"]
#       bash scripts/device_train.sh receive 0      (chain `&& bash scripts/device_check.sh run`
#                                                     to use the call for the checks)
#     carry [".device/la-1"]   bash scripts/device_train.sh receive 1
#     carry [".device/la-2"]   bash scripts/device_train.sh receive 2 && bash scripts/device_train.sh train
#
# `train` joins the pieces, checks them, trains `semiseg train simcvd` on CUDA with --time-limit
# (TRAIN_LIMIT seconds, default 300: the schedule's 6000 steps do not fit one lease, so this is a
# partial run and the log says how far it got), evaluates the last weights on the 20 test cases
# with the B6 sliding window, exports them as an f16 bundle and sends back, under $OUT: the run's
# small files (run-files.tar.gz: config, manifest, sessions, train log, metrics, report), the
# bundle in parts of 15 MiB (join with `cat model.semiseg.part-* > model.semiseg`) and the log.
# The run's checkpoint (weights, EMA teacher, optimizer: about 115 MB for the full V-Net) cannot
# come back, so such a run cannot be resumed on another lease.
#
# Settings (environment): LABELED (16), FILTERS (16), METHOD (simcvd), TRAIN_LIMIT (300),
# BACKEND (cuda), EVAL_CASES (all of test.list; a number takes the first N). A dry run on this
# machine's CPU: `scripts/device_train.sh stage`, then
#   OUT=/tmp/dt BACKEND=cpu FILTERS=2 TRAIN_LIMIT=20 EVAL_CASES=1 scripts/device_train.sh train
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${SEMISEG_LA2018:-../shared/data/la2018}
stage=.device
parts=3

die() { echo "error: $*" >&2; exit 1; }

case "${1:-}" in
stage)
  set -e
  [ -f "$DATA/dataset.json" ] || die "no LA data at $DATA (set SEMISEG_LA2018)"
  # the CLI and the first test case (this empties .device/ first)
  scripts/device_check.sh stage
  rm -f "$stage"/la-[0-9]* "$stage/la-parts.sha256"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # the .nii.gz files are compressed already: a plain tar, cut into equal pieces
  tar -C "$DATA" -cf "$tmp/la.tar" dataset.json train.list test.list imagesTr labelsTr
  split -n "$parts" -d -a 1 "$tmp/la.tar" "$stage/la-"
  (cd "$stage" && sha256sum la-[0-9] > la-parts.sha256 && sha256sum < "$tmp/la.tar" | sed 's/-$/la.tar/' >> la-parts.sha256)
  du -b "$stage"/semiseg.xz "$stage"/la-[0-9]
  limit=$((64 * 1024 * 1024))
  repo=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  first=$(( repo + $(stat -c %s "$stage/semiseg.xz") + $(stat -c %s "$stage/la-0") ))
  [ "$first" -lt "$limit" ] || die "the first call would send $first bytes, over the 64 MiB limit"
  echo "staged: the first call sends $((first / 1024 / 1024)) MiB (limit 64); see the top of this script for the three calls"
  ;;
receive)
  n=${2:?usage: device_train.sh receive N}
  [ -f "$stage/la-$n" ] || die "piece $n (.device/la-$n) did not arrive: name it in carry"
  [ -f "$stage/la-parts.sha256" ] || die "no .device/la-parts.sha256: the first call carries it"
  want=$(grep " la-$n\$" "$stage/la-parts.sha256" | cut -d' ' -f1)
  got=$(sha256sum "$stage/la-$n" | cut -d' ' -f1)
  [ "$want" = "$got" ] || die "piece $n is damaged (sha256 $got, expected $want): send it again"
  have=$(ls "$stage"/la-[0-9] | wc -l)
  echo "piece $n of $parts here and intact; $have of $parts on this machine"
  ;;
train)
  : "${OUT:?set OUT to a folder for the results}"
  BACKEND=${BACKEND:-cuda}
  LABELED=${LABELED:-16}
  FILTERS=${FILTERS:-16}
  METHOD=${METHOD:-simcvd}
  TRAIN_LIMIT=${TRAIN_LIMIT:-300}
  mkdir -p "$OUT" || die "cannot create OUT=$OUT"
  log=$OUT/device_train.log
  fail() { echo "error: $*" | tee -a "$log" >&2; exit 1; }
  part() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" | tee -a "$log"; }
  part "data"
  for n in $(seq 0 $((parts - 1))); do
    [ -f "$stage/la-$n" ] || fail "piece $n is missing: was the machine given back between calls? start again with receive 0"
  done
  want=$(grep ' la.tar$' "$stage/la-parts.sha256" | cut -d' ' -f1)
  data=/tmp/semiseg-la2018
  rm -rf "$data" && mkdir -p "$data"
  cat "$stage"/la-[0-9] > /tmp/semiseg-la.tar || fail "cannot join the pieces"
  got=$(sha256sum < /tmp/semiseg-la.tar | cut -d' ' -f1)
  [ "$want" = "$got" ] || fail "the joined data differ from what was staged ($got)"
  tar -C "$data" -xf /tmp/semiseg-la.tar && rm -f /tmp/semiseg-la.tar || fail "cannot unpack the data"
  echo "LA data joined: $(ls "$data/imagesTr" | wc -l) images" | tee -a "$log"
  source scripts/device_cli.sh
  [ -x "$bin" ] || fail "no semiseg binary: run 'scripts/device_check.sh stage' here first"
  cases=()
  if [ -n "${EVAL_CASES:-}" ]; then
    head -n "$EVAL_CASES" "$data/test.list" > "$data/eval.list"
    cases=(--cases "$data/eval.list")
  fi
  {
    nvidia-smi -L 2>&1 || true
    "$bin" --version
    git log --oneline -1 2>/dev/null || true
  } 2>&1 | tee -a "$log"
  runs=/tmp/semiseg-runs
  name=la-$BACKEND-$METHOD-$LABELED-f$FILTERS
  # this script's own scratch from an earlier call on the same machine: a stale bundle would
  # make export refuse to overwrite it, and its parts would go back in place of this run's
  bundle=/tmp/$name.semiseg
  rm -rf "${runs:?}/$name" "$bundle"
  part "train $METHOD, $LABELED labeled, $FILTERS filters, on $BACKEND for at most $TRAIN_LIMIT s"
  "$bin" train simcvd --data "$data" --labeled "$LABELED" --method "$METHOD" --n-filters "$FILTERS" \
    --backend "$BACKEND" --eval-every 0 --runs "$runs" --name "$name" --time-limit "$TRAIN_LIMIT" \
    2>&1 | tee -a "$log"
  run=$runs/$name
  [ -d "$run/checkpoints" ] || fail "training wrote no checkpoint"
  part "eval-model: the last weights on the test cases (B6 sliding window)"
  timeout 240 "$bin" eval-model --run "$run" --data "$data" "${cases[@]}" --backend "$BACKEND" \
    2>&1 | tee -a "$log"
  part "export (f16) and results"
  metrics=$run/predictions-last/metrics.csv
  m=()
  [ -f "$metrics" ] && m=(--metrics "$metrics")
  "$bin" export --run "$run" -o "$bundle" "${m[@]}" \
    --notes "trained by scripts/device_train.sh on $BACKEND with --time-limit $TRAIN_LIMIT (a partial run)" \
    2>&1 | tee -a "$log" || echo "error: export failed; no bundle comes back" | tee -a "$log"
  "$bin" report --run "$run" >/dev/null 2>&1 || true
  tar -C "$runs" -czf "$OUT/run-files.tar.gz" --exclude checkpoints --exclude best \
    --exclude '*.nii.gz' "$name"
  [ -f "$bundle" ] && split -b 15M -d -a 1 "$bundle" "$OUT/$name.semiseg.part-"
  ls -l "$OUT" | tee -a "$log"
  part "done"
  ;;
*)
  echo "usage: scripts/device_train.sh stage|receive N|train (see the comment at its top)" >&2
  exit 2
  ;;
esac
