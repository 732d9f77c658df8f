"""Read a built corpus: the manifest, and its items one by one for training and evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.phones.types import VISEMES, Phone


@dataclass(frozen=True)
class CorpusItem:
    audio_16k: np.ndarray          # (N,) float32, the augmented audio the model hears
    motion: np.ndarray             # (T, 60) float32 teacher frames at 25 fps (layout: vasa_bridge.motion.layout)
    phones: tuple[Phone, ...]      # on the audio's clock (already scaled by the speed augmentation)
    metadata: dict                 # voice, family, language, kind, text, seed, controls, augmentation, split, ...

    @property
    def split(self) -> str:
        return self.metadata["split"]


class Corpus:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.exists():
            raise VasaBridgeError(f"no corpus at {self.root} (manifest.json missing): build one with "
                                  f"`vasa-bridge datagen --out {self.root}` (an unfinished build resumes)")
        self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8"))

    @property
    def shard_paths(self) -> list[Path]:
        return [self.root / name for name in self.manifest["shards"]]

    def iter_items(self, split: str | None = None) -> Iterator[CorpusItem]:
        """Items in shard order; `split` is "train", "val", "test" (held-out voices) or None for all."""
        if split not in (None, "train", "val", "test"):
            raise VasaBridgeError(f"unknown split {split!r}; use train, val or test")
        for path in self.shard_paths:
            with np.load(path) as shard:
                meta = json.loads(str(shard["metadata"]))["items"]
                wanted = [i for i, m in enumerate(meta) if split is None or m["split"] == split]
                if not wanted:
                    continue
                arrays = {k: shard[k] for k in shard.files if k != "metadata"}
            a_off, m_off, p_off = arrays["audio_offsets"], arrays["motion_offsets"], arrays["phone_offsets"]
            for i in wanted:
                phones = tuple(
                    Phone(str(arrays["phone_symbols"][j]), float(arrays["phone_start_s"][j]),
                          float(arrays["phone_end_s"][j]), VISEMES[int(arrays["phone_viseme"][j])],
                          bool(arrays["phone_stressed"][j]))
                    for j in range(p_off[i], p_off[i + 1]))
                yield CorpusItem(arrays["audio"][a_off[i]: a_off[i + 1]].astype(np.float32) / 32768.0,
                                 arrays["motion"][m_off[i]: m_off[i + 1]].astype(np.float32), phones, meta[i])

    def __len__(self) -> int:
        return int(self.manifest["items"])
