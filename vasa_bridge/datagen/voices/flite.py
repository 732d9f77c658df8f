"""flite voices (the `flite` command line): awb and rms (clustergen / arctic, built from real speakers).

flite's other three voices, and the same speakers in Festival, are reserved for independent evaluation
(../shared/notes/real-voices.md): never synthesised here.

flite reports no phone timings through its command line; the builder force-aligns the English text instead.
Each item stretches duration and moves the mean pitch a little.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from vasa_bridge.datagen.voices import Synthesis
from vasa_bridge.errors import VasaBridgeError

FLITE_VOICES: tuple[str, ...] = ("awb", "rms")
DURATION_STRETCH_RANGE = (0.85, 1.2)     # > 1 is slower
PITCH_SHIFT_RANGE = (0.85, 1.2)          # multiplies the voice's mean F0
_MEAN_F0_HZ = {"awb": 125.0, "rms": 105.0}


@dataclass(frozen=True)
class FliteVoice:
    voice: str
    language: str = "en"
    family: str = "flite"
    kind: str = "speech"

    @property
    def name(self) -> str:
        return f"flite/{self.voice}"

    def synthesize(self, text: str, seed: int = 0) -> Synthesis:
        import soundfile as sf

        rng = np.random.default_rng(seed)
        stretch = rng.uniform(*DURATION_STRETCH_RANGE)
        f0_hz = _MEAN_F0_HZ[self.voice] * rng.uniform(*PITCH_SHIFT_RANGE)
        with tempfile.TemporaryDirectory(prefix="vasa-flite-") as tmp:
            wav = os.path.join(tmp, "out.wav")
            result = subprocess.run(
                ["flite", "-voice", self.voice, "--setf", f"duration_stretch={stretch:.3f}",
                 "--setf", f"int_f0_target_mean={f0_hz:.1f}", "-t", text, "-o", wav],
                capture_output=True, timeout=60)
            if result.returncode != 0 or not os.path.exists(wav):
                raise VasaBridgeError(f"flite -voice {self.voice} failed: "
                                      f"{result.stderr.decode(errors='replace')[:300]}")
            audio, rate = sf.read(wav, dtype="float32")
        return Synthesis(np.asarray(audio, np.float32).reshape(-1), int(rate), None)


def voices() -> tuple[FliteVoice, ...]:
    return tuple(FliteVoice(v) for v in FLITE_VOICES)
