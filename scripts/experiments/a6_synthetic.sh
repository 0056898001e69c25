#!/usr/bin/env bash
# Text-guided segmentation on synthetic chest radiographs, the CPU experiment of docs/results.md:
# one VLM pre-trained on the radiographs and their texts, then the supervised UNet, the mean
# teacher, AMVLM's text-guided mean teacher with our text branch (spec A8, the default) and its
# ablations (no grounding, no trust, L_text on, its prompt vector global), and as published (spec
# A6) with its ablations (no L_tg, the released text mask, the released student loss), all with the
# same seed, labeled draw (25%) and epochs, each scored on the test split (Dice, IoU, the text mask
# alone, prompt localisation) and on the validation split (the same, for choosing: eval-model
# --split val).
#   scripts/experiments/a6_synthetic.sh OUT_DIR [SEMISEG_BINARY]
# OUT_DIR must not exist. Prints the table of docs/results.md at the end.
# Options (environment):
#   W_WP=1                  pre-train the VLM with our word-patch contrast L_wp at this weight (0)
#   PROMPT_EMBEDDING=global the prompt vector of our text branch's runs (words)
#   A6_PROMPT_EMBEDDING=words  the prompt vector of the A6 runs (global, as published)
#   SEED=N                  seed of the VLM, of every run and of the labeled draw (the presets')
#   RUNS="text-guided ..."  which runs to train (all, in the order below)
set -euo pipefail
out=${1:?usage: a6_synthetic.sh OUT_DIR [SEMISEG_BINARY]}
bin=${2:-target/release/semiseg}
all_runs="supervised mean-teacher text-guided no-ground no-trust text-loss global-prompt a6 a6-no-tg-loss a6-released-text-mask a6-released-student-loss"
runs_wanted=${RUNS:-$all_runs}
for r in $runs_wanted; do
  case " $all_runs " in *" $r "*) ;; *) echo "error: RUNS names $r; the runs are: $all_runs" >&2; exit 1 ;; esac
done
seed_args=() vlm_seed=
if [ -n "${SEED:-}" ]; then seed_args=(--seed "$SEED"); vlm_seed="seed = $SEED"; fi
[ ! -e "$out" ] || { echo "error: $out exists; give a new folder" >&2; exit 1; }
mkdir -p "$out"
data=$out/synth2d runs=$out/runs
"$bin" synth 2d --out "$data" --train 480 --val 48 --test 96 --size 64 --seed 7
cat >"$out/vlm.toml" <<'TOML'
image_size = 64
patch_size = 16
vit_width = 64
vit_depth = 2
vit_heads = 4
vit_mlp = 128
text_width = 64
text_layers = 2
text_heads = 4
text_intermediate = 128
vocab_size = 200
embed_dim = 64
head_hidden = 256
pdt_heads = 4
pdt_mlp = 128
lr = 0.001
batch_size = 32
epochs = 20
checkpoint_every = 20
TOML
printf 'w_wp = %s\n%s\n' "${W_WP:-0}" "$vlm_seed" >>"$out/vlm.toml"
cat >"$out/seg.toml" <<'TOML'
width = 16
labeled_bs = 8
unlabeled_bs = 8
lr = 0.001
epochs = 30
patience = 0
TOML
"$bin" train amvlm --data "$data" --config "$out/vlm.toml" --backend cpu --runs "$runs" --name vlm --quiet
train() {
  name=$1; shift
  case " $runs_wanted " in *" $name "*) ;; *) return 0 ;; esac
  "$bin" train amvlm-seg --data "$data" --vlm "$runs/vlm" --config "$out/seg.toml" --labeled 25% \
    --backend cpu --runs "$runs" --name "$name" --quiet ${seed_args[@]+"${seed_args[@]}"} "$@"
  "$bin" eval-model --run "$runs/$name" --data "$data" --backend cpu >"$out/$name.eval.txt"
  "$bin" eval-model --run "$runs/$name" --data "$data" --split val --backend cpu >"$out/$name.val.txt"
}
ours=(--method text-guided --prompt-embedding "${PROMPT_EMBEDDING:-words}")
a6=(--method text-guided --text-branch a6 --prompt-embedding "${A6_PROMPT_EMBEDDING:-global}")
train supervised --method supervised
train mean-teacher --method mean-teacher
train text-guided "${ours[@]}"
train no-ground "${ours[@]}" --no-ground
train no-trust "${ours[@]}" --no-trust
train text-loss "${ours[@]}" --text-loss
train global-prompt --method text-guided --prompt-embedding global
train a6 "${a6[@]}"
train a6-no-tg-loss "${a6[@]}" --no-tg-loss
train a6-released-text-mask "${a6[@]}" --released-text-mask
train a6-released-student-loss "${a6[@]}" --released-student-loss
echo
echo "| run | test Dice % | test IoU % | text mask Dice % | prompt localisation (trained TMG) | untrained TMG | validation: Dice %, text mask Dice %, localisation (trained TMG) |"
echo "|---|---|---|---|---|---|---|"
for r in $all_runs; do
  [ -d "$runs/$r/predictions-last" ] || continue
  python3 - "$runs/$r/predictions-last" "$r" "$runs/$r/validation-last" <<'PY'
import csv, json, os, sys
d, name, v = sys.argv[1], sys.argv[2], sys.argv[3]
mean = [r for r in csv.DictReader(open(os.path.join(d, "metrics.csv"))) if r["image"] == "mean"][0]
pct = lambda v: f"{100 * float(v):.2f}" if v else "-"
loc = os.path.join(d, "localisation.json")
fmt = lambda l: f"{100 * l['hit_rate']:.1f}% of {l['prompts']} (chance {100 * l['chance']:.1f}%)"
if os.path.exists(loc):
    j = json.load(open(loc))
    t, u = fmt(j["trained"]), fmt(j["untrained"])
else:
    t = u = "-"
vloc = os.path.join(v, "localisation-val.json")
vt = fmt(json.load(open(vloc))["trained"]) if os.path.exists(vloc) else "-"
vm = [r for r in csv.DictReader(open(os.path.join(v, "metrics-val.csv"))) if r["image"] == "mean"][0]
print(f"| {name} | {pct(mean['dice'])} | {pct(mean['iou'])} | {pct(mean['text_dice'])} | {t} | {u} | {pct(vm['dice'])}, {pct(vm['text_dice'])}, {vt} |")
PY
done
