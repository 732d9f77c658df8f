#!/usr/bin/env bash
# What `make train` / `make data` need beyond `make venv`: MBROLA voices (real speakers' diphones, driven by
# espeak-ng; Debian's contrib + non-free sections, enabled here if missing) and the real speech the front end is
# distilled on. Safe to re-run. The voices are used only to generate training data and are never shipped.
set -euo pipefail
voices=(us1 us2 us3 en1 fr1 fr4 nl2 br1 br3 pl1)
packages=(mbrola)
for v in "${voices[@]}"; do packages+=("mbrola-$v"); done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # Enable contrib and non-free (deb822 sources on Debian 12+, or the classic sources.list).
  for f in /etc/apt/sources.list.d/debian.sources; do
    [ -f "$f" ] && $SUDO sed -i -E '/^Components:/{/contrib/!s/$/ contrib/; /non-free( |$)/!s/$/ non-free/}' "$f"
  done
  if [ -f /etc/apt/sources.list ]; then
    $SUDO sed -i -E '/^deb .* main/{/contrib/!s/ main/ main contrib/; /non-free( |$)/!s/ main/ main non-free/}' \
      /etc/apt/sources.list
  fi
  echo "installing MBROLA voices (training data only): ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "$0")/fetch_real_speech.sh" data/real
