"""Read and write motion clips: Live Link Face CSV (what the iPhone app exports) and our JSON clip format.

Live Link Face CSV: `Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll` — 52 blendshapes in PascalCase plus
9 rotations (BlendShapeCount = 61). Timecode is `HH:MM:SS:FF.sss`, FF counted at the take's frame rate (the app
records at 60 or 30; we write at the clip's rate) with a sub-frame fraction. The app has no head translation;
we append `HeadX,HeadY,HeadZ` columns (metres) only when asked, since some importers reject unknown columns.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ClipFormatError
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip

JSON_FORMAT = "vasa_bridge.clip"

_ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                     "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
_TRANSLATION_COLUMNS = ("HeadX", "HeadY", "HeadZ")
LIVE_LINK_COLUMNS: tuple[str, ...] = (("Timecode", "BlendShapeCount")
                                      + tuple(n[0].upper() + n[1:] for n in layout.ARKIT_NAMES) + _ROTATION_COLUMNS)


def format_timecode(frame_index: int, fps: float, start_s: float = 0.0) -> str:
    """`HH:MM:SS:FF.sss` for frame `frame_index` of a take at `fps`."""
    # Count in frames, not seconds, so 25 fps frame 1 is exactly FF=01 rather than 00.999...
    frames_total = frame_index + start_s * fps
    whole = int(math.floor(frames_total / fps + 1e-9))
    frames = max(0.0, frames_total - whole * fps)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{int(frames):02d}.{int(round((frames - int(frames)) * 1000)) % 1000:03d}"


def parse_timecode(text: str, fps: float) -> float:
    """Seconds for a `HH:MM:SS:FF[.sss]` timecode at `fps`."""
    try:
        h, m, s, ff = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + int(s) + float(ff) / fps
    except ValueError:
        raise ClipFormatError(f"bad Live Link Face timecode {text!r}; expected HH:MM:SS:FF.sss") from None


def _infer_fps(timecodes: list[str], default_fps: float) -> float:
    """The take's frame rate from its FF fields: the smallest standard rate above the largest FF seen, once the
    take spans a whole second (before that, FF never reaches its top and only says "at least this")."""
    fields = [t.strip().split(":") for t in timecodes if t.count(":") == 3]
    try:
        max_ff = max(int(float(f[3])) for f in fields)
        spans_a_second = len({f[2] for f in fields}) > 1
    except ValueError:
        raise ClipFormatError("bad Live Link Face timecode; expected HH:MM:SS:FF.sss") from None
    if not spans_a_second and max_ff < default_fps:
        return default_fps
    return next((c for c in (24, 25, 30, 50, 60, 120) if max_ff < c), float(max_ff + 1))


def write_live_link_csv(clip: MotionClip, path: str | Path, include_translation: bool = False) -> None:
    header = list(LIVE_LINK_COLUMNS) + (list(_TRANSLATION_COLUMNS) if include_translation else [])
    pose = {n: clip[n] for n in ("headPitch", "headYaw", "headRoll", "headX", "headY", "headZ", "gazeYaw",
                                 "gazePitch")}
    rotations = np.stack([pose["headYaw"], pose["headPitch"], pose["headRoll"],
                          pose["gazeYaw"], pose["gazePitch"], np.zeros(len(clip)),
                          pose["gazeYaw"], pose["gazePitch"], np.zeros(len(clip))], axis=1)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(len(clip)):
            row = [format_timecode(i, clip.fps), 61]
            row += [f"{v:.6f}" for v in clip.blendshapes[i]]
            row += [f"{v:.6f}" for v in rotations[i]]
            if include_translation:
                row += [f"{pose[n][i]:.6f}" for n in ("headX", "headY", "headZ")]
            writer.writerow(row)


def read_live_link_csv(path: str | Path, fps: float | None = None, resample_to_fps: float = layout.FPS
                       ) -> MotionClip:
    """Load a Live Link Face CSV (a real iPhone capture or ours) and resample it to `resample_to_fps`.

    The take's frame rate is inferred from the largest FF field seen unless `fps` is given (LLF records at 60
    or 30 fps); column names are matched case-insensitively, missing channels stay neutral.
    """
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ClipFormatError(f"cannot read clip {path}: {e.strerror}") from None
    if len(rows) < 2 or not rows[0] or rows[0][0].strip().lower() != "timecode":
        raise ClipFormatError(f"{path} is not a Live Link Face CSV (first column must be Timecode, with data rows)")
    header = [h.strip().lower() for h in rows[0]]
    body = [r for r in rows[1:] if len(r) == len(header)]
    if not body:
        raise ClipFormatError(f"{path}: no data rows with {len(header)} columns")
    if fps is None:
        fps = _infer_fps([r[0] for r in body], default_fps=resample_to_fps)
    times = np.array([parse_timecode(r[0], fps) for r in body])
    times -= times[0]
    col = {name: i for i, name in enumerate(header)}

    def column(name: str) -> np.ndarray | None:
        i = col.get(name.lower())
        if i is None:
            return None
        try:
            return np.array([float(r[i]) for r in body], np.float64)
        except ValueError:
            raise ClipFormatError(f"{path}: non-numeric value in column {rows[0][i]!r}") from None

    n_out = int(np.floor(times[-1] * resample_to_fps + 1e-6)) + 1  # frames inside the take
    t_out = np.arange(n_out) / resample_to_fps
    out = MotionClip.neutral(n_out, resample_to_fps)
    sources = {name: name for name in layout.ARKIT_NAMES}
    sources.update(headYaw="HeadYaw", headPitch="HeadPitch", headRoll="HeadRoll", gazeYaw="LeftEyeYaw",
                   gazePitch="LeftEyePitch", headX="HeadX", headY="HeadY", headZ="HeadZ")
    for channel_name, column_name in sources.items():
        values = column(column_name)
        if values is not None:
            out.frames[:, layout.channel(channel_name)] = np.interp(t_out, times, values)
    out.metadata = {"source": str(path), "source_fps": fps}
    return out


def write_json_clip(clip: MotionClip, path: str | Path) -> None:
    doc = {
        "format": JSON_FORMAT,
        "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
        "fps": clip.fps,
        "channels": list(layout.CHANNEL_NAMES),
        "metadata": clip.metadata,
        "frames": np.round(clip.frames.astype(np.float64), 6).tolist(),
    }
    Path(path).write_text(json.dumps(doc))


def read_json_clip(path: str | Path) -> MotionClip:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ClipFormatError(f"cannot read JSON clip {path}: {e}") from None
    if doc.get("format") != JSON_FORMAT:
        raise ClipFormatError(f"{path} is not a {JSON_FORMAT} JSON clip")
    if doc.get("motion_layout_version") != layout.MOTION_LAYOUT_VERSION:
        raise ClipFormatError(f"{path} has motion layout v{doc.get('motion_layout_version')}, this build reads "
                              f"v{layout.MOTION_LAYOUT_VERSION}")
    frames = np.zeros((len(doc["frames"]), layout.N_CHANNELS), np.float32)
    src = np.asarray(doc["frames"], np.float32).reshape(len(doc["frames"]), -1)
    for j, name in enumerate(doc["channels"]):
        frames[:, layout.channel(name)] = src[:, j]
    return MotionClip(frames, float(doc["fps"]), doc.get("metadata", {}))


def write_clip(clip: MotionClip, path: str | Path) -> None:
    """Write by extension: .csv → Live Link Face CSV, .json → JSON clip."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        write_live_link_csv(clip, path)
    elif suffix == ".json":
        write_json_clip(clip, path)
    else:
        raise ClipFormatError(f"unknown clip format {suffix!r} for {path}: use .csv (Live Link Face) or .json")


def read_clip(path: str | Path) -> MotionClip:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_live_link_csv(path)
    if suffix == ".json":
        return read_json_clip(path)
    raise ClipFormatError(f"unknown clip format {suffix!r} for {path}: use .csv (Live Link Face) or .json")
