"""A baked line for the engine-import tests (Unity importer core, Godot loader): an espeak-ng sentence through
`vasa-bridge bake` (the shipped audio-only motion model, seed 0), so every channel, head pose and gaze included,
moves the way a real cut-scene clip does."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

LINE_TEXT = "Baked lines play inside the engine without the sidecar."


def speak_wav(folder: Path, text: str = LINE_TEXT) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (scripts/install_system.sh installs it)")
    wav = folder / "line.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30)
    return wav


def bake(wav: Path, out: Path) -> Path:
    """`vasa-bridge bake wav -o out` through its command module; .csv or .json by `out`'s suffix."""
    from vasa_bridge.commands import bake as bake_command

    parser = argparse.ArgumentParser()
    bake_command.add_arguments(parser)
    assert bake_command.run(parser.parse_args([str(wav), "-o", str(out)])) == 0
    return out
