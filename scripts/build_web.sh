#!/usr/bin/env bash
# Build the browser app into dist/ (README): installs the wasm32 target, trunk 0.21.14 and the
# wasm-bindgen-cli that matches Cargo.lock when missing (scripts/install_web_tools.sh), copies the
# bundled LA sample from the dataset, and runs `trunk build --release`. Serve dist/ with any static server, e.g.
#   python3 -m http.server -d dist 8080 --bind 127.0.0.1
# Nothing is downloaded outside crates.io; wasm-opt is not used (see docs/toolchain notes in README).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh
DATA=${SEMISEG_LA2018:-../shared/data/la2018}

# (scripts/test.sh installs them beforehand, beside its test build)
[ "${SEMISEG_WEB_TOOLS_READY:-0}" = 1 ] || scripts/install_web_tools.sh
# Under scripts/test.sh the clippy wrapper (RUSTC_WORKSPACE_WRAPPER) stays set: the wasm build of
# web/ and shared/ is linted with -D warnings as it compiles, the browser-only code included.

# the sample: the first LA test case and its label, as stored in the dataset (never committed)
sample=www/assets/sample
if [ -f "$DATA/test.list" ]; then
  mkdir -p "$sample"
  id=$(head -n 1 "$DATA/test.list")
  for kind in image label; do
    src="$DATA/$([ $kind = image ] && echo imagesTr || echo labelsTr)/$id.nii.gz"
    dst="$sample/la_${id}_$kind.nii.gz"
    [ -f "$dst" ] || cp "$src" "$dst"
  done
  cat > "$sample/index.json" <<JSON
{"image": "la_${id}_image.nii.gz", "label": "la_${id}_label.nii.gz",
 "description": "left atrium MRI $id (LA2018 test case, not used in training) with its manual label"}
JSON
else
  echo "warning: no LA data at $DATA (set SEMISEG_LA2018): the page's sample button will say so" >&2
  rm -f "$sample"/la_*.nii.gz "$sample/index.json"
fi

phase "web: trunk build --release (wasm)"
trunk build --release "$@"
du -sh dist/*.wasm dist/assets/models/* 2>/dev/null || true
phase_end
