"""Test data for the in-engine baked-clip suite (tests/test_clip.gd): an espeak-ng line baked with `vasa-bridge
bake` (shipped motion model) to JSON and Live Link CSV, and what the mesh should show at sampled times, computed
here in Python from each file as vasa_bridge reads it (linear between frames; head and eye rotations as
VasaBridgeFace builds them, slerped between frames). The CSV's expectation comes from the CSV itself, read by
clip_io.read_live_link_csv at the rate of its rows: its rows are the 25-fps motion resampled to 60 fps, so between
rows it differs slightly from the JSON clip, and its rotations are in Unreal's units and signs until read.

Run as a script (by engine_runner.py, in a subprocess with the repository on PYTHONPATH):
    python baked_clip_data.py OUT_DIR      writes baked_line.json, baked_line.csv, baked_line_expected.json and
                                           baked_line_edges.csv (a hand-made capture: see edge_case_csv)
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


def expectation(clip) -> dict:
    """Frames, duration and values of `clip` (a MotionClip in our layout) at frame times and between frames."""
    import numpy as np
    from scipy.spatial.transform import Slerp

    keys_s = np.arange(len(clip)) / clip.fps
    # Frame times and points between frames, spread over the line.
    picks = np.linspace(0, len(clip) - 2, 12).astype(int)
    times = sorted({float(keys_s[i]) for i in picks} | {float(keys_s[i] + 0.4 / clip.fps) for i in picks})
    head = Slerp(keys_s, godot_head_quats(clip["headPitch"], clip["headYaw"], clip["headRoll"]))(times).as_quat()
    zeros = np.zeros(len(clip))
    eye = Slerp(keys_s, godot_head_quats(-clip["gazePitch"], clip["gazeYaw"], zeros))(times).as_quat()
    samples = [{"t": t, "shapes": {n: float(np.interp(t, keys_s, clip[n])) for n in SHAPES},
                "head": head[k].tolist(), "eye": eye[k].tolist()} for k, t in enumerate(times)]
    return {"frames": len(clip), "fps": clip.fps, "duration_s": float(keys_s[-1]), "samples": samples,
            "jaw_open": clip["jawOpen"].astype(float).tolist()}


EDGE_CHANNELS = ("jawOpen", "headYaw", "headPitch", "headRoll", "gazeYaw", "gazePitch")


def edge_case_csv(path: Path) -> int:
    """A capture the way the app writes one, short and across midnight: FF in 60ths, a dropped frame (a row of
    empty values), a repeated timecode (the reader keeps the first row), both eyes with their own yaw and pitch.
    Returns the number of rows the reader keeps."""
    from vasa_bridge.interop.live_link_face import CSV_VALUE_NAMES

    def row(code: str, k: float) -> str:
        values = [0.01 * k] * 52 + [0.02 * k, -0.03 * k, 0.01 * k, 0.05, -0.04 * k, 0.0, 0.03, -0.02 * k, 0.0]
        return f"{code},61," + ",".join(f"{v:.6f}" for v in values)

    lines = [row(f"23:59:59:{ff:02d}.000", i) for i, ff in enumerate(range(52, 60, 2))]
    lines += ["00:00:00:00.000,61" + "," * len(CSV_VALUE_NAMES), row("00:00:00:02.000", 5),
              row("00:00:00:02.000", 9), row("00:00:00:04.000", 6)]
    path.write_text("Timecode,BlendShapeCount," + ",".join(CSV_VALUE_NAMES) + "\n" + "\n".join(lines) + "\n")
    return 6


def write(out_dir: Path) -> None:
    from vasa_bridge.motion.clip_io import read_json_clip, read_live_link_csv

    wav = out_dir / "line.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), LINE_TEXT], check=True, timeout=30)
    for ext in ("json", "csv"):
        path = out_dir / f"baked_line.{ext}"
        subprocess.run([sys.executable, "-m", "vasa_bridge.cli", "bake", str(wav), "-o", str(path)], check=True,
                       timeout=300, stdout=subprocess.DEVNULL)
    expected = expectation(read_json_clip(out_dir / "baked_line.json"))
    # The CSV read at its rows' own rate (60 fps, the rate bake writes): one frame per row at the row's timecode.
    csv_path = out_dir / "baked_line.csv"
    expected["csv"] = expectation(read_live_link_csv(csv_path, resample_to_fps=read_live_link_csv(csv_path)
                                                     .metadata["source_fps"]))
    # The edge cases as the reader returns them, one frame per 60th (rows sit on 60ths; the dropped one is filled in).
    kept = edge_case_csv(out_dir / "baked_line_edges.csv")
    edges = read_live_link_csv(out_dir / "baked_line_edges.csv", resample_to_fps=60)
    expected["edges"] = {"rows": kept, "fps": 60, "values": {n: edges[n].astype(float).tolist() for n in EDGE_CHANNELS}}
    (out_dir / "baked_line_expected.json").write_text(json.dumps(expected))


def test_data() -> dict[str, bytes]:
    """The files at their res://test_data/ paths (baked in a subprocess: vasa_bridge need not be importable here)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        subprocess.run([sys.executable, __file__, tmp], check=True, env=env, timeout=600)
        return {f"test_data/{p.name}": p.read_bytes() for p in Path(tmp).glob("baked_line*")}


if __name__ == "__main__":
    write(Path(sys.argv[1]))
