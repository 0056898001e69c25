#!/usr/bin/env bash
# Real MoNuSeg at 25% labeled (the paper's setting, spec A7; issues 22, 36): a VLM pre-trained on
# the 24 training pairs, then AMVLM's text-guided mean teacher with our text branch (spec A8, the
# default), the mean teacher, the text-guided mean teacher as published (spec A6) and the
# supervised UNet, with the paper-size UNet (14,751,873 parameters) at 224 x 224, all with the same seed,
# labeled draw (6 of 24) and epochs; each scored on the 14 test images with its last weights and
# with the best on the validation split (spec A6: early stopping on validation Dice, never test).
# The VLM is CPU-sized, not the paper's (ViT-B/16 from DeiT-B and a 6-layer clinical BERT): a
# 4 x 256 ViT from scratch and all-MiniLM-L6-v2's text encoder (a real BERT initialisation).
#   scripts/experiments/monuseg_25.sh OUT [SEMISEG_BINARY]
# OUT: a folder outside the work tree. Each step is skipped when its result is there, and every
# training runs under --time-limit and resumes from its last checkpoint, so calling the script
# again continues where it stopped (a long CPU run over several sessions). Prints the table at the
# end, once every run is finished.
# Options (environment): DATA (../shared/data/monuseg-lvit), SEED (666), VLM_EPOCHS (50),
# EPOCHS (100; 2 steps each: 6 labeled images, 4 a step), TIME_LIMIT (a duration per call, 23h),
# MINILM (data/models/all-minilm-l6-v2; scripts/fetch_minilm.sh fetches it), RUNS (which runs, in
# this order: "text-guided mean-teacher text-guided-a6 supervised").
set -euo pipefail
out=${1:?usage: scripts/experiments/monuseg_25.sh OUT [SEMISEG_BINARY]}
bin=${2:-target/release/semiseg}
data=${DATA:-../shared/data/monuseg-lvit}
seed=${SEED:-666}
limit=${TIME_LIMIT:-23h}
minilm=${MINILM:-data/models/all-minilm-l6-v2}
[ -f "$data/Train_Folder/Train_text.xlsx" ] || { echo "error: no MoNuSeg (LViT layout) at $data; set DATA" >&2; exit 1; }
[ -f "$minilm/model.safetensors" ] || { echo "error: no MiniLM at $minilm; run scripts/fetch_minilm.sh or set MINILM" >&2; exit 1; }
mkdir -p "$out"
runs=$out/runs

cat >"$out/vlm.toml" <<TOML
seed = $seed
image_size = 224
patch_size = 16
vit_width = 256
vit_depth = 4
vit_heads = 4
vit_mlp = 1024
embed_dim = 128
head_hidden = 512
lr = 0.0001
batch_size = 8
epochs = ${VLM_EPOCHS:-50}
checkpoint_every = 5
TOML
# the paper's UNet, DuSSS's MoNuSeg batch (4 + 4), Adam 1e-3 (spec A6), cosine warm restarts
cat >"$out/seg.toml" <<TOML
width = 64
labeled_bs = 4
unlabeled_bs = 4
lr = 0.001
epochs = ${EPOCHS:-100}
patience = 50
TOML

# train KIND NAME ARGS...: a new run, or the existing one resumed; OUT/NAME.done marks a run that
# ended (its epochs, or early stopping) rather than stopped at the time limit
train() {
  local kind=$1 name=$2; shift 2
  [ ! -f "$out/$name.done" ] || return 0
  if [ -d "$runs/$name/checkpoints" ]; then
    rm -f "$runs/$name/train.lock"
    "$bin" train "$kind" --resume "$runs/$name" --backend cpu --time-limit "$limit" | tee -a "$out/$name.log"
  else
    "$bin" train "$kind" --data "$data" --backend cpu --runs "$runs" --name "$name" --time-limit "$limit" "$@" | tee -a "$out/$name.log"
  fi
  if tail -n 3 "$out/$name.log" | grep -q "^time limit .* reached"; then
    echo "$name: stopped at the time limit; call the script again to continue" >&2
    exit 3
  fi
  touch "$out/$name.done"
}

# the arguments of each run
args_of() {
  case $1 in
    text-guided) echo "--method text-guided" ;;
    mean-teacher) echo "--method mean-teacher" ;;
    text-guided-a6) echo "--method text-guided --text-branch a6" ;;
    supervised) echo "--method supervised" ;;
    *) echo "error: unknown run $1" >&2; exit 1 ;;
  esac
}
wanted=${RUNS:-text-guided mean-teacher text-guided-a6 supervised}
train amvlm vlm --config "$out/vlm.toml" --text-init "$minilm"
for m in $wanted; do
  # shellcheck disable=SC2046
  train amvlm-seg "$m" --vlm "$runs/vlm" --config "$out/seg.toml" --labeled 25% $(args_of "$m") --seed "$seed"
  for c in last best; do
    [ -f "$runs/$m/predictions-$c/metrics.csv" ] || "$bin" eval-model --run "$runs/$m" --data "$data" --checkpoint "$c" --backend cpu >"$out/$m.eval-$c.txt"
    [ -f "$runs/$m/validation-$c/metrics-val.csv" ] || "$bin" eval-model --run "$runs/$m" --data "$data" --checkpoint "$c" --split val --backend cpu >"$out/$m.val-$c.txt"
  done
done

echo
echo "| method | test Dice %, last weights | test IoU %, last | test Dice %, best on validation | test IoU %, best | text mask alone, Dice % (last) | validation Dice %, last |"
echo "|---|---|---|---|---|---|---|"
for m in $wanted; do
  python3 - "$runs/$m" "$m" <<'PY'
import csv, os, sys
run, name = sys.argv[1], sys.argv[2]
def mean(c):
    rows = [r for r in csv.DictReader(open(os.path.join(run, f"predictions-{c}", "metrics.csv"))) if r["image"] == "mean"]
    return rows[0]
pct = lambda v: f"{100 * float(v):.2f}" if v else "-"
l, b = mean("last"), mean("best")
v = [r for r in csv.DictReader(open(os.path.join(run, "validation-last", "metrics-val.csv"))) if r["image"] == "mean"][0]
print(f"| {name} | {pct(l['dice'])} | {pct(l['iou'])} | {pct(b['dice'])} | {pct(b['iou'])} | {pct(l.get('text_dice'))} | {pct(v['dice'])} |")
PY
done
