#!/usr/bin/env bash
# The measurements behind the 2D memory estimate (TextGuidedMemory,
# shared/src/infer/text_guided_memory.rs; docs/benchmarks.md, "Memory of the page's 2D worker"):
# 2D bundles of four sizes (1-epoch runs: weights do not change memory) and images of several
# sizes and depths, each segmented in a fresh headless Chromium page on the wasm CPU backend;
# prints the table (worker memory after the run beside the page's estimate).
#   scripts/experiments/bench2d_memory.sh OUT   (OUT: a new folder; needs dist/ from
#   scripts/build_web.sh, the release CLI and data/models/all-minilm-l6-v2 from
#   scripts/fetch_minilm.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: scripts/experiments/bench2d_memory.sh OUT}
[ ! -e "$out" ] || { echo "bench2d_memory: $out exists; give a new folder" >&2; exit 1; }
repo=$PWD
cargo build --release -p semiseg-trainer --bin semiseg
S=$repo/target/release/semiseg
minilm=$repo/${SEMISEG_MINILM:-data/models/all-minilm-l6-v2}
[ -f "$minilm/model.safetensors" ] || scripts/fetch_minilm.sh
mkdir -p "$out" && cd "$out"

$S synth 2d --out data --train 8 --val 2 --test 2 --size 224 --seed 3
# med: ViT 4 x 256 at 224, MiniLM's first 2 layers; big: ViT-B/16 and all of MiniLM;
# wide: a 448 x 448 input with small encoders (the forward pass dominates)
printf 'image_size = 224\npatch_size = 16\nvit_width = 256\nvit_depth = 4\nvit_heads = 4\nvit_mlp = 1024\nembed_dim = 128\nbatch_size = 4\nepochs = 1\n' > med.toml
printf 'batch_size = 4\nepochs = 1\n' > big.toml
printf 'image_size = 448\npatch_size = 32\nvit_width = 64\nvit_depth = 2\nvit_heads = 4\nvit_mlp = 128\ntext_width = 64\ntext_layers = 2\ntext_heads = 4\ntext_intermediate = 128\nvocab_size = 200\nembed_dim = 32\nhead_hidden = 128\npdt_heads = 4\npdt_mlp = 128\nbatch_size = 4\nepochs = 1\n' > wide.toml
printf 'width = 64\nlabeled_bs = 2\nunlabeled_bs = 2\nepochs = 1\npatience = 0\n' > seg.toml
$S train amvlm --data data --config med.toml --text-init "$minilm" --text-layers 2 --backend cpu --runs runs --name vlm-med
$S train amvlm --data data --config big.toml --text-init "$minilm" --backend cpu --runs runs --name vlm-big
$S train amvlm --data data --config wide.toml --backend cpu --runs runs --name vlm-wide
for m in med big wide; do
  $S train amvlm-seg --data data --vlm runs/vlm-$m --config seg.toml --method text-guided --labeled 4 \
    --backend cpu --runs runs --name seg-$m
  $S export --run runs/seg-$m -o seg-$m.semiseg
done
$S export --run runs/seg-med --precision f32 -o seg-med-f32.semiseg

# noise images (they compress as badly as real detail), written with Python's standard library
python3 - <<'PY'
import random, struct, zlib
def png(path, w, h, colour, depth, channels):
    raw = random.Random(0).randbytes(w * h * channels * depth // 8)
    row = w * channels * depth // 8
    body = b''.join(b'\0' + raw[y * row:(y + 1) * row] for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, colour, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(body, 6)) + chunk(b'IEND', b''))
png('g8-4096.png', 4096, 4096, 0, 8, 1)
png('rgb8-4096.png', 4096, 4096, 2, 8, 3)
png('g16-4096.png', 4096, 4096, 0, 16, 1)
png('rgba8-2048.png', 2048, 2048, 6, 8, 4)

# a 4096² 16-bit grey DICOM (explicit VR little endian, uncompressed, 12 bits stored)
def el(group, elem, vr, value):
    if isinstance(value, str):
        value = value.encode() + (b'\0' if vr == b'UI' and len(value) % 2 else b' ' if len(value) % 2 else b'')
    head = struct.pack('<HH', group, elem) + vr
    if vr in (b'OB', b'OW'):
        return head + b'\0\0' + struct.pack('<I', len(value)) + value
    return head + struct.pack('<H', len(value)) + value
us = lambda v: struct.pack('<H', v)
uid = '1.2.826.0.1.3680043.2.1125.1'
meta = (el(2, 1, b'OB', b'\0\1') + el(2, 2, b'UI', '1.2.840.10008.5.1.4.1.1.7') + el(2, 3, b'UI', uid)
        + el(2, 0x10, b'UI', '1.2.840.10008.1.2.1'))
n = 4096
pixels = bytes(b & 0x0f if i % 2 else b for i, b in enumerate(random.Random(1).randbytes(2 * n * n)))
body = (el(8, 0x16, b'UI', '1.2.840.10008.5.1.4.1.1.7') + el(8, 0x18, b'UI', uid) + el(8, 0x60, b'CS', 'OT')
        + el(0x28, 2, b'US', us(1)) + el(0x28, 4, b'CS', 'MONOCHROME2') + el(0x28, 0x10, b'US', us(n))
        + el(0x28, 0x11, b'US', us(n)) + el(0x28, 0x100, b'US', us(16)) + el(0x28, 0x101, b'US', us(12))
        + el(0x28, 0x102, b'US', us(11)) + el(0x28, 0x103, b'US', us(0)) + el(0x7fe0, 0x10, b'OW', pixels))
with open('g16-4096.dcm', 'wb') as f:
    f.write(b'\0' * 128 + b'DICM' + el(2, 0, b'UL', struct.pack('<I', len(meta))) + meta + body)
PY

sample=$repo/www/assets/sample2d/cxr_test_00001.png
chest=$repo/tests/fixtures/dicom/chest_cr.dcm
bench="node $repo/tests/browser/bench2d.mjs $repo/dist"
$bench --bundle "$repo/www/assets/models/synth-radiograph.semiseg" \
  --image "$sample,g8-4096.png,rgb8-4096.png,g16-4096.png,rgba8-2048.png,$chest,g16-4096.dcm"
$bench --bundle seg-med.semiseg --image "$sample,rgb8-4096.png"
$bench --bundle seg-med-f32.semiseg,seg-big.semiseg --image "$sample"
$bench --bundle seg-wide.semiseg --image "$sample,g8-4096.png"
