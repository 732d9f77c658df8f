"""The Whisper ear: when the lips are closed, heard by Whisper tiny.en's encoder over the whole clip (offline).

The articulation head reads the causal front end, distilled from Whisper on ~6 h of speech; on real voices it tells
closed from open lips in loud frames with AUC 0.77 (Warzone dev set), where a small probe on Whisper's own encoder
rows gives 0.95 (docs/model.md). So `bake --ear whisper` replaces the head's p(lips closed) by this probe's: a
whitened PCA of Whisper's 384-dim rows, read at ±80 ms around each frame, into a two-layer MLP trained on the
synthetic lines' teacher lips (train/whisper_ear.py). Whisper is bidirectional and sees the whole clip, so this is
offline only; the aperture, blend and vocal effort stay the head's, and the two seal rules that made up for the
head's doubtful closures are relaxed (`EarRules`). Costs ~6 ms per second of audio on one thread."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.activations import gelu
from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.articulation import ArticulationConfig
from vasa_bridge.motion import layout
from vasa_bridge.npz_file import arrays_sha256, read_npz, write_npz

EAR_FILE_NAME = "whisper_ear.npz"
EAR_FORMAT_VERSION = 1
ROWS_PER_FRAME = 100 // layout.FPS          # our 10 ms rows per 40 ms motion frame


@dataclass(frozen=True)
class EarRules:
    """The head's seal rules with the ear's closure probability (dev sets, 6 Dec: docs/model.md). The aperture gate
    kept the head's closures to frames its aperture agreed were shut; the ear needs no second opinion (with the
    gate, OpenArena p/b/m 62 %; without, 88 %). Seals inside speech still weaken when they last, less fast (0.7
    per frame's worth, not 0.5): no decay at all sealed mid-sentence again (Dutch speech/silence r 0.80 → 0.77)."""
    seal_open_below: float = 1.0
    seal_open_above: float = 1.01
    seal_decay: float = 0.7

    def applied_to(self, config: ArticulationConfig) -> ArticulationConfig:
        return dataclasses.replace(config, **asdict(self))


@dataclass(frozen=True)
class EarConfig:
    row_offsets: tuple[int, ...] = (-8, -4, 0, 4, 8)   # 10 ms rows around each frame's first row
    components: int = 64
    hidden: int = 128

    @property
    def n_in(self) -> int:
        return len(self.row_offsets) * self.components


class WhisperEar:
    """Probe arrays: mean (384,), components (K, 384), scale (K,), w1 (n_in, H), b1, w2 (H,), b2 (scalar).
    Whisper itself is loaded on first use (the `whisper` extra)."""

    def __init__(self, config: EarConfig, params: dict[str, np.ndarray], rules: EarRules = EarRules()) -> None:
        self.config, self.rules = config, rules
        self.p = {k: np.asarray(v, np.float32) for k, v in params.items()}
        self.sha256 = arrays_sha256({**asdict(config), "row_offsets": list(config.row_offsets)}, self.p)
        self._encoder = None

    def closures_from_rows(self, whisper_rows: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames,) p(lips closed) from Whisper rows at our 10 ms rate (row k ↔ encoder frame k // 2)."""
        return self._closures_from_components(self._components(whisper_rows), n_frames)

    def closures(self, audio_16k: np.ndarray) -> np.ndarray:
        """p(lips closed) of every frame the clip can have (one past the last hop, as the stream may flush)."""
        from vasa_bridge.audio.whisper import WHISPER_ROWS_PER_FRAME, WhisperEncoder

        if self._encoder is None:
            self._encoder = WhisperEncoder()
        audio = np.asarray(audio_16k, np.float32).reshape(-1)
        n_rows = -(-len(audio) // (MODEL_SAMPLE_RATE_HZ // 100))
        # Reduced at Whisper's 50 Hz before spreading to 10 ms rows: an hour holds 64, not 384, numbers per row.
        z = self._components(self._encoder.encode(audio)) if len(audio) else np.zeros((0, self.config.components))
        z = z[np.minimum(np.arange(n_rows) // WHISPER_ROWS_PER_FRAME, len(z) - 1)] if len(z) else z
        return self._closures_from_components(z, -(-n_rows // ROWS_PER_FRAME) + 1)

    def _components(self, whisper_rows: np.ndarray) -> np.ndarray:
        p = self.p
        return ((np.asarray(whisper_rows, np.float32) - p["mean"]) @ p["components"].T) / p["scale"]

    def _closures_from_components(self, z: np.ndarray, n_frames: int) -> np.ndarray:
        if len(z) == 0:
            return np.zeros(n_frames, np.float32)
        p = self.p
        rows = ROWS_PER_FRAME * np.arange(n_frames)[:, None] + np.array(self.config.row_offsets)[None, :]
        x = z[np.clip(rows, 0, len(z) - 1)].reshape(n_frames, -1)
        h = gelu(x @ p["w1"] + p["b1"])
        return (1.0 / (1.0 + np.exp(-(h @ p["w2"] + p["b2"])))).astype(np.float32)

def save_ear(path: str | Path, ear: WhisperEar, info: dict) -> str:
    config = {**asdict(ear.config), "row_offsets": list(ear.config.row_offsets)}
    write_npz(path, {"ear_format_version": EAR_FORMAT_VERSION, "config": config, "sha256": ear.sha256,
                     "info": info}, ear.p)
    return ear.sha256


def ear_beside(weights: str | Path | None) -> WhisperEar:
    """The ear shipped (or trained) beside a weights file, ready to hear: Whisper importable and the file there, or
    a VasaBridgeError saying which is missing."""
    from vasa_bridge.audio.whisper import require_whisper
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS

    require_whisper()
    return load_ear(Path(weights or DEFAULT_WEIGHTS).with_name(EAR_FILE_NAME))


def load_ear(path: str | Path) -> WhisperEar:
    path = Path(path)
    if not path.exists():
        raise VasaBridgeError(f"no Whisper ear at {path}: train it with `make train`")
    meta, params = read_npz(path, "Whisper ear")
    if meta.get("ear_format_version") != EAR_FORMAT_VERSION:
        raise ModelVersionError(f"{path} has Whisper-ear format v{meta.get('ear_format_version')}, this build "
                                f"reads v{EAR_FORMAT_VERSION}: retrain with `make train`")
    cfg = meta["config"]
    return WhisperEar(EarConfig(**{**cfg, "row_offsets": tuple(cfg["row_offsets"])}), params)


__all__ = ["EAR_FILE_NAME", "EarConfig", "EarRules", "WhisperEar", "ear_beside", "load_ear", "save_ear"]
