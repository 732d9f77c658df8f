"""Read and write motion clips: Live Link Face CSV (what the iPhone app exports) and our JSON clip format.

Live Link Face CSV: `Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll` — 52 blendshapes in PascalCase plus
9 rotations (BlendShapeCount = 61; values and rotation conventions in interop/live_link_face.py), LF line ends.

Timecode, as the app writes it: `HH:MM:SS:FF.sss`, the time of day at which the frame was captured, with FF
counted in 60-fps units whatever the take's rate (a 30-fps take numbers its frames 0, 2, 4, ...) and .sss the
fraction of such a frame. Importers read it that way: FaceIt and Maya's CSV importer divide FF by 60, Unreal's
Live Link Face importer by 60 if any FF exceeds 30, else by 30. So we write 30- or 60-fps rows with 60-fps
numbering and start a take shorter than half a second late enough in its second that some FF exceeds 30.

The app has no head translation; we append `HeadX,HeadY,HeadZ` columns (metres) only when asked, since some
importers reject unknown columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ClipFormatError
from vasa_bridge.interop import live_link_face
from vasa_bridge.interop import presets as rig_presets
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip

JSON_FORMAT = "vasa_bridge.clip"

TIMECODE_FPS = 60                   # the app numbers frames in 60-fps units, even in 30-fps takes
CSV_FPS_CHOICES = (30, 60)          # the app's capture rates
_UNREAL_60_FPS_ABOVE_FF = 30        # Unreal's importer assumes 60 fps once a frame number exceeds this
_SECONDS_PER_DAY = 86400

_TRANSLATION_COLUMNS = ("HeadX", "HeadY", "HeadZ")
LIVE_LINK_COLUMNS: tuple[str, ...] = ("Timecode", "BlendShapeCount") + live_link_face.CSV_VALUE_NAMES


def format_timecode(frames: float, numbering_fps: int = TIMECODE_FPS) -> str:
    """`HH:MM:SS:FF.sss` for `frames` (in `numbering_fps` units) since midnight; .sss is the frame's fraction."""
    # Count in thousandths of a frame, not in seconds, so frame 1 is exactly FF=01 rather than 00.999...
    thousandths = int(round(frames * 1000))
    whole_frames, fraction = divmod(thousandths, 1000)
    seconds, ff = divmod(whole_frames, numbering_fps)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{fraction:03d}"


def parse_timecode(text: str, numbering_fps: float = TIMECODE_FPS) -> float:
    """Seconds since midnight for a `HH:MM:SS:FF[.sss]` timecode whose FF counts `numbering_fps` frames."""
    try:
        h, m, s, ff = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + int(s) + float(ff) / numbering_fps
    except ValueError:
        raise ClipFormatError(f"bad Live Link Face timecode {text!r}; expected HH:MM:SS:FF.sss") from None


def _infer_numbering_fps(timecodes: list[str]) -> float:
    """The rate the FF fields count in. A take that crosses a second boundary shows FF's top (within a row), so
    the smallest standard rate above the largest FF seen; a shorter take is numbered as the app does (60)."""
    fields = [t.strip().split(":") for t in timecodes]
    try:
        max_ff = max(int(float(f[3])) for f in fields)
        crosses_a_second = len({(f[0], f[1], f[2]) for f in fields}) > 1
    except (ValueError, IndexError):
        raise ClipFormatError("bad Live Link Face timecode; expected HH:MM:SS:FF.sss") from None
    if not crosses_a_second and max_ff < TIMECODE_FPS:
        return float(TIMECODE_FPS)
    return float(next((c for c in (24, 25, 30, 50, 60, 120) if max_ff < c), max_ff + 1))


def take_start_frame(n_rows: int, fps: int, start_s: float) -> int:
    """First row's timecode in 60-fps frames since midnight: `start_s` on a whole frame, moved later in its
    second when needed so that a take shorter than half a second still shows an FF above 30 (see above)."""
    start = int(round(start_s * TIMECODE_FPS)) % (_SECONDS_PER_DAY * TIMECODE_FPS)
    span = (n_rows - 1) * (TIMECODE_FPS // fps)
    ff = start % TIMECODE_FPS
    if ff + span <= _UNREAL_60_FPS_ABOVE_FF:
        start += _UNREAL_60_FPS_ABOVE_FF + 1 - span - ff
    return start


def write_live_link_csv(clip: MotionClip, path: str | Path, fps: int = 60, start_s: float | None = None,
                        include_translation: bool = False) -> int:
    """Write `clip` resampled to `fps` (30 or 60) as the app would; returns the number of rows.

    `start_s`: time of day of the first frame, seconds since midnight (default: now, as the app does)."""
    if fps not in CSV_FPS_CHOICES:
        raise ClipFormatError(f"Live Link Face CSVs are 30 or 60 fps, got {fps}")
    out = live_link_face.resample(clip, fps)
    values = live_link_face.to_values(out.frames)  # (T, 61)
    start = take_start_frame(len(out), fps, live_link_face.time_of_day_s() if start_s is None else start_s)
    step = TIMECODE_FPS // fps
    header = list(LIVE_LINK_COLUMNS) + (list(_TRANSLATION_COLUMNS) if include_translation else [])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")  # the app writes LF; CRLF confuses some importers
        writer.writerow(header)
        for i in range(len(out)):
            row = [format_timecode(start + i * step), live_link_face.N_VALUES]
            row += [f"{v:.6f}" for v in values[i]]
            if include_translation:
                row += [f"{out[n][i]:.6f}" for n in ("headX", "headY", "headZ")]
            writer.writerow(row)
    return len(out)


def read_live_link_csv(path: str | Path, fps: float | None = None, resample_to_fps: float = layout.FPS
                       ) -> MotionClip:
    """Load a Live Link Face CSV (a real iPhone capture or ours) and resample it to `resample_to_fps`.

    `fps`: the rate the timecodes' FF fields count in; inferred when None (60 for takes that stay within one
    second, as the app numbers them; pass 25 for sub-second CSVs of older vasa_bridge versions). Column names
    are matched case-insensitively (so both `BlendShapeCount` and `BlendshapeCount`), missing channels stay
    neutral, rows with missing values (the app's dropped frames) are skipped.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ClipFormatError(f"cannot read clip {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ClipFormatError(f"{path} is not a text CSV") from None
    if len(rows) < 2 or not rows[0] or rows[0][0].strip().lower() != "timecode":
        raise ClipFormatError(f"{path} is not a Live Link Face CSV (first column must be Timecode, with data rows)")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if len(r) == len(header) and all(v.strip() for v in r)]
    if not body:
        raise ClipFormatError(f"{path}: no data rows with {len(header)} columns")
    numbering_fps = fps or _infer_numbering_fps([r[0] for r in body])
    times = np.array([parse_timecode(r[0], numbering_fps) for r in body])
    # A take across midnight starts again at 00:00:00 (a drop of most of a day, not a row out of order).
    times = np.where(times < times[0] - _SECONDS_PER_DAY / 2, times + _SECONDS_PER_DAY, times) - times[0]
    if np.any(np.diff(times) < 0):
        raise ClipFormatError(f"{path}: timecodes go backwards (read at {numbering_fps:g} fps numbering; pass the "
                              "right fps)")
    keep = np.concatenate([[True], np.diff(times) > 0])  # a repeated timecode: the first row wins
    times, body = times[keep], [r for r, k in zip(body, keep) if k]
    n_out = int(np.floor(times[-1] * resample_to_fps + 1e-6)) + 1  # frames inside the take
    t_out = np.arange(n_out) / resample_to_fps
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(header[1:], start=1):
        if name.lower() == "blendshapecount":  # both spellings occur; it is a count, not a curve
            continue
        try:
            values = np.array([float(r[i]) for r in body], np.float64)
        except ValueError:
            raise ClipFormatError(f"{path}: non-numeric value in column {name!r}") from None
        columns[name] = np.interp(t_out, times, values)
    out = MotionClip(live_link_face.from_values(columns, n_out), resample_to_fps)
    rows_per_s = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else float(numbering_fps)
    out.metadata = {"source": str(path), "source_fps": round(rows_per_s, 3), "timecode_fps": numbering_fps}
    return out


def write_json_clip(clip: MotionClip, path: str | Path, presets: Sequence[str] = ()) -> None:
    """Our JSON clip: every channel per frame, plus per-frame weights of the 15 Oculus/Meta visemes ("visemes")
    and of each rig preset asked for ("rigs"), derived from the blendshapes (interop/rig_presets.json)."""
    viseme_preset = rig_presets.get_preset(rig_presets.VISEME_PRESET)
    doc = {
        "format": JSON_FORMAT,
        "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
        "fps": clip.fps,
        "channels": list(layout.CHANNEL_NAMES),
        "metadata": clip.metadata,
        "frames": np.round(clip.frames.astype(np.float64), 6).tolist(),
        "visemes": _rig_block(viseme_preset, clip),
    }
    if presets:
        doc["rigs"] = {name: _rig_block(rig_presets.get_preset(name), clip) for name in presets}
    Path(path).write_text(json.dumps(doc))


def _rig_block(preset: "rig_presets.RigPreset", clip: MotionClip) -> dict:
    weights = preset.apply(clip.blendshapes)  # (T, K)
    return {"preset": preset.name, "names": list(preset.targets), "frames": np.round(weights, 4).tolist()}


def write_rig_csv(clip: MotionClip, path: str | Path, preset_name: str, fps: int = 60) -> None:
    """Per-frame weights of a rig preset's targets as `time_s,<target>,...` rows at `fps` (LF line ends)."""
    preset = rig_presets.get_preset(preset_name)
    out = live_link_face.resample(clip, fps)
    weights = preset.apply(out.blendshapes)  # (T, K)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["time_s", *preset.targets])
        for i in range(len(out)):
            writer.writerow([f"{i / fps:.6f}", *(f"{v:.4f}" for v in weights[i])])


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


def write_clip(clip: MotionClip, path: str | Path, csv_fps: int = 60, presets: Sequence[str] = ()) -> list[Path]:
    """Write by extension: .csv → Live Link Face CSV at `csv_fps` (30 or 60), .json → JSON clip. Rig `presets`
    ride inside a JSON clip, or go next to a CSV as `<name>.<preset>.csv`. Returns the paths written."""
    path = Path(path)
    suffix = path.suffix.lower()
    for name in presets:
        rig_presets.get_preset(name)  # an unknown name fails before anything is written
    if suffix == ".csv":
        write_live_link_csv(clip, path, fps=csv_fps)
        extra = [path.with_name(f"{path.stem}.{name}.csv") for name in presets]
        for name, extra_path in zip(presets, extra):
            write_rig_csv(clip, extra_path, name, fps=csv_fps)
        return [path, *extra]
    if suffix == ".json":
        write_json_clip(clip, path, presets)
        return [path]
    raise ClipFormatError(f"unknown clip format {suffix!r} for {path}: use .csv (Live Link Face) or .json")


def read_clip(path: str | Path) -> MotionClip:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_live_link_csv(path)
    if suffix == ".json":
        return read_json_clip(path)
    raise ClipFormatError(f"unknown clip format {suffix!r} for {path}: use .csv (Live Link Face) or .json")
