"""Rig presets: ARKit blendshapes -> the blend shapes or expressions another rig has (VRM 0.x / 1.0, the 15
Oculus/Meta visemes, Reallusion CC4 Extended, ARKit names with _L/_R).

One data file, rig_presets.json next to this module, is the source for all three languages: Unity and Godot ship
byte-equal copies (ENGINE_COPIES; `python -m vasa_bridge.interop.presets --sync` writes them, a test checks
them). Each target is clamp(bias + sum(weight x ARKit value), 0, 1).
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.motion import layout

PRESETS_PATH = Path(__file__).with_name("rig_presets.json")
PRESETS_FORMAT = "vasa_bridge.rig_presets"
_REPO = Path(__file__).resolve().parents[2]
# Engine copies of the data file (present in a source checkout, not in an installed wheel).
ENGINE_COPIES: tuple[Path, ...] = (
    _REPO / "unity_sample/Packages/com.vasabridge.client/Runtime/Resources/vasa_rig_presets.json",
    _REPO / "godot_sample/addons/vasa_bridge/rig_presets.json",
)
VISEME_PRESET = "oculus_visemes"


class PresetError(VasaBridgeError, ValueError):
    """A preset name that does not exist, or a preset file that does not parse."""


@dataclass(frozen=True)
class RigPreset:
    name: str
    description: str
    targets: tuple[str, ...]
    bias: np.ndarray       # (K,)
    weights: np.ndarray    # (K, 52): target k = clamp(bias[k] + weights[k] . arkit, 0, 1)

    def match_shape(self, shape_name: str) -> int:
        """Target index a rig's blend shape stands for, or -1: its name (after any "prefix." a DCC tool added)
        equals a target, or ends with "_" + a target (VRoid's Fcl_MTH_A -> A, Ready Player Me's viseme_aa -> aa);
        case-insensitive. The engine drivers use the same rule."""
        name = shape_name.rsplit(".", 1)[-1].lower()
        lower = [t.lower() for t in self.targets]
        if name in lower:
            return lower.index(name)
        return next((k for k, t in enumerate(lower) if name.endswith("_" + t)), -1)

    def apply(self, blendshapes: np.ndarray) -> np.ndarray:
        """(T, 52) ARKit values (or (52,)) -> (T, K) target weights (or (K,)) in [0, 1]."""
        x = np.asarray(blendshapes, np.float64)
        return np.clip(x @ self.weights.T + self.bias, 0.0, 1.0)


def _parse(doc: dict) -> dict[str, RigPreset]:
    if doc.get("format") != PRESETS_FORMAT:
        raise PresetError(f"{PRESETS_PATH} is not a {PRESETS_FORMAT} file")
    presets = {}
    for name, body in doc["presets"].items():
        targets = body["targets"]
        weights = np.zeros((len(targets), layout.N_BLENDSHAPES))
        for k, target in enumerate(targets):
            for source, weight in target["from"]:
                if source not in layout.ARKIT_NAMES:
                    raise PresetError(f"preset {name}, target {target['name']}: {source!r} is not an ARKit name")
                weights[k, layout.ARKIT_NAMES.index(source)] += weight
        presets[name] = RigPreset(name, body["description"], tuple(t["name"] for t in targets),
                                  np.array([float(t["bias"]) for t in targets]), weights)
    return presets


@functools.lru_cache(maxsize=1)
def load_presets() -> dict[str, RigPreset]:
    return _parse(json.loads(PRESETS_PATH.read_text()))


def get_preset(name: str) -> RigPreset:
    presets = load_presets()
    if name not in presets:
        raise PresetError(f"unknown rig preset {name!r}; choose one of {', '.join(presets)}")
    return presets[name]


def stale_engine_copies() -> list[Path]:
    """Engine copies that differ from the source file (or are missing)."""
    source = PRESETS_PATH.read_bytes()
    return [p for p in ENGINE_COPIES if not p.exists() or p.read_bytes() != source]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sync", action="store_true", help="copy rig_presets.json into the Unity and Godot trees")
    args = parser.parse_args(argv)
    stale = stale_engine_copies()
    if args.sync:
        for path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PRESETS_PATH.read_bytes())
            print(f"wrote {path}")
        return 0
    for path in stale:
        print(f"stale: {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
