#!/usr/bin/env bash
# Install the Debian packages vasa_bridge needs, only those missing, so `make` is safe to re-run.
set -euo pipefail
packages=(espeak-ng libespeak-ng1 flite sox libsox-fmt-all ffmpeg
  fortunes-min fortunes fortune-mod  # sentences for the training corpus
  festival festlex-oald festvox-rablpc16k festvox-kdlpc16k festvox-don  # real speakers' diphones (training lines)
  mono-mcs mono-runtime  # C# core of the Unity sample: compiled and tested outside Unity (mcs pulls System, System.Core)
  chromium               # runs the Godot 4.6 web engine for the Godot sample's in-engine tests
  "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
