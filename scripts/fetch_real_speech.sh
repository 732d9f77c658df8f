#!/usr/bin/env bash
# Real human speech from Debian packages, unpacked (not installed) under data/real/root: unlabelled Dutch game
# dialogue and game voices (hedgewars, megaglest) for distilling the speech front end, and the real-voice
# evaluation and development sets (`vasa-bridge eval --real final|dev`; warzone2100-data, openarena-081-misc and
# tuxpaint-stamps-default are only dev sets).
# Safe to re-run. Reserved evaluation data (see ../shared/notes/real-voices.md) is never fetched here.
set -euo pipefail
dest="${1:-data/real}"
packages=(fillets-ng-data-nl fillets-ng-data-cs pocketsphinx-testdata hedgewars-data klettres-data megaglest-data
          warzone2100-data openarena-081-misc tuxpaint-stamps-default)
mkdir -p "$dest/debs" "$dest/root"
cd "$dest/debs"
missing=()
for p in "${packages[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  apt-get download "${missing[@]}" 2>/dev/null || $SUDO apt-get download "${missing[@]}"
fi
for f in *.deb; do
  stamp="../root/.$(basename "$f").unpacked"
  [ -e "$stamp" ] || { dpkg -x "$f" ../root && touch "$stamp"; }
done
echo "real speech unpacked under $dest/root"
