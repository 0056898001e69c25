#!/usr/bin/env bash
# Browser tests (README, issue 5): build dist/ (scripts/build_web.sh), segment the odd NIfTI
# fixtures natively with `semiseg predict` and the bundled model, then drive Debian's headless
# Chromium with playwright-core (tests/browser/run.mjs) against dist/ served on 127.0.0.1.
# Installs chromium from Debian's packages and playwright-core from npm when missing (no browser
# download). Screenshots and results.txt go to target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/phases.sh
art=target/browser-artifacts
rm -rf "$art" && mkdir -p "$art"

phase "browser: chromium (apt, when missing)"
if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
phase "browser: playwright-core (npm ci)"
(cd tests/browser && npm ci --no-audit --no-fund --silent)

phase_end # build_web.sh records its own phases
scripts/build_web.sh

phase "browser: odd NIfTI fixtures (nibabel)"
# odd NIfTI files (big-endian, LPS, permuted axes, int16/uint8/float32, .nii/.nii.gz, truncated),
# written by nibabel from an LA test case (tests/fixtures/make_web_fixtures.py)
DATA=${SEMISEG_LA2018:-../shared/data/la2018}
python3 -c 'import nibabel' 2>/dev/null || python3 -m pip install --quiet 'nibabel==5.4.2'
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fixtures=$scratch/fixtures native=$scratch/native
mkdir -p "$native"
python3 tests/fixtures/make_web_fixtures.py "$DATA" "$fixtures" >/dev/null

phase "browser: native reference masks (semiseg predict)"
# the CLI (the workspace's feature set, so after `cargo test --workspace` only the binary is linked)
cargo build --workspace --bins --quiet
for f in "$fixtures"/la_crop_*; do
  name=$(basename "$f"); name=${name%.gz}; name=${name%.nii}; name=${name%.nrrd}
  # the raw-intensity NRRD is z-scored by the page, as by predict --zscore
  zscore=; case $f in *.nrrd) zscore=--zscore;; esac
  target/debug/semiseg predict --backend cpu --model www/assets/models/la-light.semiseg $zscore "$f" -o "$native/$name.nii.gz"
done
# the sample as the page segments it with "fast" windows (half the patch), without and with the
# largest-component post-processing of the page's "largest component only"
sample=$(ls dist/assets/sample/la_*_image.nii.gz)
id=$(basename "$sample"); id=${id#la_}; id=${id%_image.nii.gz}
mkdir -p "$native/sample"
for lcc in "" --largest-component; do
  target/debug/semiseg predict --backend cpu --model www/assets/models/la-light.semiseg --stride 56,56,40 $lcc \
    "$sample" -o "$native/sample/$id${lcc:+_lcc}.nii.gz"
done

# the 2D sample as the page segments it with the shipped text-guided bundle: the sample's prompt
# (mask, text mask, and the mask fused with the prompt) and a second prompt; plus the odd inputs
# the 2D tests open (another test radiograph, a mask of another size, the 3D bundle)
s2=www/assets/sample2d m2=www/assets/models/synth-radiograph.semiseg
mkdir -p "$native/2d"
img=$s2/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image"])' "$s2/index.json")
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"])' "$s2/index.json")
second="upper right lung"
python3 -c 'import json,sys; print(json.dumps({"first": sys.argv[1], "second": sys.argv[2]}))' "$first" "$second" >"$native/2d/prompts.json"
p2() { target/debug/semiseg predict --backend cpu --model "$m2" "$img" "$@" >/dev/null; }
p2 --prompt "$first" -o "$native/2d/mask.png" --text-mask "$native/2d/text.png"
p2 --prompt "$second" -o "$native/2d/unused.png" --text-mask "$native/2d/text2.png"
p2 --prompt "$first" --fuse -o "$native/2d/fused.png"
cp tests/fixtures/image2d/other_radiograph.png "$native/2d/other.png"
cp tests/fixtures/image2d/small_mask.png "$native/2d/small.png"
# a radiograph with lesions in two zones (tests/fixtures/image2d/make_two_zones.py): each lesion's
# phrase as the prompt
tz=tests/fixtures/image2d
cp "$tz/two_zones.png" "$tz/two_zones.json" "$tz/two_zones_a.png" "$tz/two_zones_b.png" "$native/2d/"
for ab in a b; do
  p=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["lesions"]; print(l[sys.argv[2] == "b"]["prompt"])' "$tz/two_zones.json" $ab)
  target/debug/semiseg predict --backend cpu --model "$m2" "$tz/two_zones.png" --prompt "$p" \
    -o "$native/2d/two_zones_mask_$ab.png" --text-mask "$native/2d/two_zones_text_$ab.png" >/dev/null
done
cp www/assets/models/la-light.semiseg "$native/2d/"
# a real DICOM chest radiograph, and two DICOMs the reader refuses (multi-frame, JPEG 2000)
dcm=tests/fixtures/dicom
target/debug/semiseg predict --backend cpu --model "$m2" "$dcm/chest_cr.dcm" --prompt "$first" \
  -o "$native/2d/chest_mask.png" --text-mask "$native/2d/chest_text.png" >/dev/null
cp "$dcm/chest_cr.dcm" "$dcm/rtdose.dcm" "$dcm/MR_small_jp2klossless.dcm" "$native/2d/"
# a real MoNuSeg test image (H&E nuclei, ../shared/data/monuseg-lvit or $SEMISEG_MONUSEG, as the
# integration tests read it) with its description from Test_text.xlsx and its manual mask, segmented
# with the shipped MoNuSeg bundle
mo=${SEMISEG_MONUSEG:-../shared/data/monuseg-lvit}/Test_Folder nuc=TCGA-44-2665-01B-06-BS6
[ -f "$mo/img/$nuc.png" ] || { echo "error: no MoNuSeg test image at $mo/img/$nuc.png; set SEMISEG_MONUSEG" >&2; exit 1; }
nuc_prompt="The nuclei density in the lower left is high."
cp "$mo/img/$nuc.png" "$native/2d/$nuc.png"
cp "$mo/labelcol/$nuc.png" "$native/2d/${nuc}_label.png"
python3 -c 'import json,sys; print(json.dumps({"image": sys.argv[1] + ".png", "truth": sys.argv[1] + "_label.png", "prompt": sys.argv[2]}))' "$nuc" "$nuc_prompt" >"$native/2d/nuclei.json"
target/debug/semiseg predict --backend cpu --model www/assets/models/monuseg-nuclei.semiseg "$mo/img/$nuc.png" --prompt "$nuc_prompt" \
  -o "$native/2d/nuclei_mask.png" --text-mask "$native/2d/nuclei_text.png" >/dev/null

phase "browser: tests in headless Chromium"
node tests/browser/run.mjs dist "$fixtures" "$native" "$art"
phase_end
