"""Test data for the in-engine baked-clip suite (tests/test_clip.gd): an espeak-ng line baked with `vasa-bridge
bake` (shipped motion model) to JSON and Live Link CSV, and what the mesh should show at sampled times, computed
here in Python from the clip as vasa_bridge reads it (linear between frames; head and eye rotations as
VasaBridgeFace builds them, slerped between frames).

Run as a script (by engine_runner.py, in a subprocess with the repository on PYTHONPATH):
    python baked_clip_data.py OUT_DIR      writes baked_line.json, baked_line.csv, baked_line_expected.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LINE_TEXT = "Baked lines play inside the engine without the sidecar."
SHAPES = ("jawOpen", "mouthFunnel", "mouthSmileLeft", "eyeBlinkLeft", "browInnerUp", "mouthClose")
REPO_DIR = Path(__file__).resolve().parents[2]


def godot_head_quats(pitch, yaw, roll):
    """VasaBridgeFace's head pose: Basis.from_euler(Vector3(pitch, yaw, -roll), EULER_ORDER_YXZ) = Ry Rx Rz."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YXZ", np.stack([yaw, pitch, -roll], axis=1))


def write(out_dir: Path) -> None:
    import numpy as np
    from scipy.spatial.transform import Slerp

    from vasa_bridge.motion.clip_io import read_json_clip

    wav = out_dir / "line.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), LINE_TEXT], check=True, timeout=30)
    for ext in ("json", "csv"):
        path = out_dir / f"baked_line.{ext}"
        subprocess.run([sys.executable, "-m", "vasa_bridge.cli", "bake", str(wav), "-o", str(path)], check=True,
                       timeout=300, stdout=subprocess.DEVNULL)
    clip = read_json_clip(out_dir / "baked_line.json")
    keys_s = np.arange(len(clip)) / clip.fps
    # Frame times and points between frames, spread over the line.
    picks = np.linspace(0, len(clip) - 2, 12).astype(int)
    times = sorted({float(keys_s[i]) for i in picks} | {float(keys_s[i] + 0.4 / clip.fps) for i in picks})
    head = Slerp(keys_s, godot_head_quats(clip["headPitch"], clip["headYaw"], clip["headRoll"]))(times).as_quat()
    zeros = np.zeros(len(clip))
    eye = Slerp(keys_s, godot_head_quats(-clip["gazePitch"], clip["gazeYaw"], zeros))(times).as_quat()
    samples = [{"t": t, "shapes": {n: float(np.interp(t, keys_s, clip[n])) for n in SHAPES},
                "head": head[k].tolist(), "eye": eye[k].tolist()} for k, t in enumerate(times)]
    expected = {"frames": len(clip), "fps": clip.fps, "duration_s": float(keys_s[-1]), "samples": samples,
                "jaw_open": clip["jawOpen"].astype(float).tolist()}
    (out_dir / "baked_line_expected.json").write_text(json.dumps(expected))


def test_data() -> dict[str, bytes]:
    """The files at their res://test_data/ paths (baked in a subprocess: vasa_bridge need not be importable here)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        subprocess.run([sys.executable, __file__, tmp], check=True, env=env, timeout=600)
        return {f"test_data/{p.name}": p.read_bytes() for p in Path(tmp).glob("baked_line*")}


if __name__ == "__main__":
    write(Path(sys.argv[1]))
