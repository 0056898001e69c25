#!/usr/bin/env bash
# Browser tests (README, issue 5): build dist/ (scripts/build_web.sh), segment the odd NIfTI
# fixtures natively with `semiseg predict` and the bundled model, then drive Debian's headless
# Chromium with playwright-core (tests/browser/run.mjs) against dist/ served on 127.0.0.1.
# Installs chromium from Debian's packages and playwright-core from npm when missing (no browser
# download). Screenshots and results.txt go to target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
art=target/browser-artifacts
rm -rf "$art" && mkdir -p "$art"

if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

scripts/build_web.sh

cargo build -p semiseg-trainer --quiet
native=$(mktemp -d)
trap 'rm -rf "$native"' EXIT
for f in tests/fixtures/web/la_crop_*; do
  name=$(basename "$f"); name=${name%.gz}; name=${name%.nii}
  target/debug/semiseg predict --backend cpu --model www/assets/models/la-light.semiseg "$f" -o "$native/$name.nii.gz"
done

node tests/browser/run.mjs dist "$native" "$art"
