"""Live Link Face CSVs as the iPhone app writes them and as importers read them.

The excerpts below are written by hand in the app's public format (time-of-day timecode with 60-fps frame
numbers, PascalCase columns, 61 values) with the sign relationships every real export shows:
corr(EyeLookDown - EyeLookUp, LeftEyePitch) > 0 and corr(EyeLookIn - EyeLookOut, LeftEyeYaw) > 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vasa_bridge.interop.live_link_face import CSV_VALUE_NAMES, INTERPUPILLARY_M, ROTATION_UNIT_RAD
from vasa_bridge.errors import ClipFormatError
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.clip_io import LIVE_LINK_COLUMNS, read_live_link_csv, write_live_link_csv
from vasa_bridge.motion.controls import Controls
from vasa_bridge.teacher.eyes import EyeStyle, gaze_track, write_eyes


def excerpt_row(timecode: str, **values: float) -> str:
    row = dict.fromkeys(CSV_VALUE_NAMES, 0.0)
    row.update(values)
    return f"{timecode},61," + ",".join(f"{row[n]:.7g}" for n in CSV_VALUE_NAMES)


# Someone glances down, ahead, up, then to their own right (left eye in, right eye out), at 60 fps.
EXCERPT_ROWS = [
    excerpt_row("09:41:07:57.481", EyeLookDownLeft=0.41, EyeLookDownRight=0.40, LeftEyePitch=0.061,
                RightEyePitch=0.060, HeadPitch=0.012, JawOpen=0.05),
    excerpt_row("09:41:07:58.480", EyeLookDownLeft=0.22, EyeLookDownRight=0.21, LeftEyePitch=0.033,
                RightEyePitch=0.032, HeadPitch=0.011, JawOpen=0.12),
    excerpt_row("09:41:07:59.482", LeftEyeYaw=0.012, RightEyeYaw=-0.009, JawOpen=0.20),
    excerpt_row("09:41:08:00.479", EyeLookUpLeft=0.35, EyeLookUpRight=0.36, LeftEyePitch=-0.052,
                RightEyePitch=-0.053, JawOpen=0.18),
    excerpt_row("09:41:08:01.481", EyeLookInLeft=0.44, EyeLookOutRight=0.39, LeftEyeYaw=0.078,
                RightEyeYaw=0.066, HeadYaw=0.031, JawOpen=0.10),
    excerpt_row("09:41:08:02.480", EyeLookInLeft=0.52, EyeLookOutRight=0.47, LeftEyeYaw=0.090,
                RightEyeYaw=0.079, HeadYaw=0.035, JawOpen=0.04),
]


def write_excerpt(path, rows=EXCERPT_ROWS, header=LIVE_LINK_COLUMNS) -> None:
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")


def csv_columns(path) -> dict[str, np.ndarray]:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    body = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    return {name: body[:, i] for i, name in enumerate(header[1:])}


def sign_correlations(cols: dict[str, np.ndarray]) -> dict[str, float]:
    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1])
    return {
        "left_pitch": corr(cols["EyeLookDownLeft"] - cols["EyeLookUpLeft"], cols["LeftEyePitch"]),
        "left_yaw": corr(cols["EyeLookInLeft"] - cols["EyeLookOutLeft"], cols["LeftEyeYaw"]),
        "right_pitch": corr(cols["EyeLookDownRight"] - cols["EyeLookUpRight"], cols["RightEyePitch"]),
        # Both eyes turn in one frame: a right eye turned to the subject's right looks out.
        "right_yaw": corr(cols["EyeLookOutRight"] - cols["EyeLookInRight"], cols["RightEyeYaw"]),
    }


def looking_around(n_frames: int = 250, seed: int = 3) -> MotionClip:
    """The teacher's eyes (blinks, saccades, aversions) on a neutral face at 25 fps."""
    clip = MotionClip.neutral(n_frames)
    rng = np.random.default_rng(seed)
    style = EyeStyle(aversion_chance=0.9, aversion_rad=0.4)
    yaw, pitch, _ = gaze_track(clip.times_s, Controls(), style, rng)
    write_eyes(clip.frames, np.zeros(n_frames), yaw, pitch)
    return clip


def test_excerpt_has_the_sign_relationships_of_real_exports(tmp_path):
    path = tmp_path / "excerpt.csv"
    write_excerpt(path)
    assert all(c > 0.9 for c in sign_correlations(csv_columns(path)).values())


def test_written_eye_rotations_have_the_signs_of_real_exports(tmp_path):
    path = tmp_path / "ours.csv"
    write_live_link_csv(looking_around(), path, start_s=0)
    correlations = sign_correlations(csv_columns(path))
    assert all(c > 0.9 for c in correlations.values()), correlations


def test_reader_turns_real_export_rotations_into_our_gaze(tmp_path):
    path = tmp_path / "excerpt.csv"
    write_excerpt(path)
    clip = read_live_link_csv(path, resample_to_fps=60)
    assert clip["gazePitch"][0] < -0.15          # looking down is negative pitch in our layout
    assert clip["gazePitch"][3] > 0.15           # looking up
    assert clip["gazeYaw"][-1] < -0.2            # left eye in = to the subject's right = negative yaw
    assert clip["headYaw"][-1] < 0 and clip["headPitch"][0] > 0  # head turned right; nodding down
    # ... which is what the excerpt's own blendshapes say, in the teacher's reading of them.
    assert clip["eyeLookDownLeft"][0] > 0.3 and clip["eyeLookInLeft"][-1] > 0.3


def test_head_rotations_follow_unreals_conversion_and_keep_roll():
    from vasa_bridge.interop.live_link_face import to_values
    clip = MotionClip.neutral(1)
    clip.frames[0, layout.channel("headYaw")] = 0.2     # to the subject's left
    clip.frames[0, layout.channel("headPitch")] = 0.1   # nodding down
    clip.frames[0, layout.channel("headRoll")] = 0.15   # tilted to the subject's left
    values = dict(zip(CSV_VALUE_NAMES, to_values(clip.frames)[0]))
    assert values["HeadYaw"] == pytest.approx(-0.2 / math.pi)
    assert values["HeadPitch"] == pytest.approx(0.1 / math.pi)
    assert values["HeadRoll"] == pytest.approx(0.15 / math.pi)


@pytest.mark.parametrize("head_distance_m", [0.3, 0.6, 1.2])
def test_each_eye_converges_on_the_gaze_target(tmp_path, head_distance_m):
    clip = MotionClip.neutral(30, head_distance_m=head_distance_m)
    path = tmp_path / "eyes.csv"
    write_live_link_csv(clip, path, start_s=0)
    cols = csv_columns(path)
    half_vergence_rad = math.atan(INTERPUPILLARY_M / 2 / head_distance_m)
    # Looking straight ahead, the left eye turns in (positive yaw), the right eye in (negative yaw).
    assert np.allclose(cols["LeftEyeYaw"] * ROTATION_UNIT_RAD, half_vergence_rad, atol=1e-5)
    assert np.allclose(cols["RightEyeYaw"] * ROTATION_UNIT_RAD, -half_vergence_rad, atol=1e-5)


# ---- importer timing ----------------------------------------------------------------------------------------
def split_timecode(text: str) -> tuple[int, int, int, float]:
    h, m, s, ff = text.split(":")
    return int(h), int(m), int(s), float(ff)


def unreal_times(timecodes: list[str]) -> np.ndarray:
    """Unreal's Live Link Face importer: 60 fps once any FF exceeds 30, else 30; keys floored to 1/24000 s."""
    fields = [split_timecode(t) for t in timecodes]
    rate = 60.0 if any(f[3] > 30.0 for f in fields) else 30.0
    return np.array([math.floor(((h * 3600 + m * 60 + s) + ff / rate) * 24000) / 24000 for h, m, s, ff in fields])


def faceit_times(timecodes: list[str]) -> np.ndarray:
    """FaceIt for Blender: FF (with its fraction) in 60-fps units."""
    return np.array([h * 3600 + m * 60 + s + ff / 60.0 for h, m, s, ff in map(split_timecode, timecodes)])


def maya_times(timecodes: list[str]) -> np.ndarray:
    """A Maya CSV importer: whole 60-fps frames (the fraction is dropped by its integer parse)."""
    return np.array([((h * 60 + m) * 60 + s) * 60 + int(ff) for h, m, s, ff in map(split_timecode, timecodes)]
                    ) / 60.0


@pytest.mark.parametrize("fps", [30, 60])
@pytest.mark.parametrize("n_frames", [2, 4, 6, 26, 250])
@pytest.mark.parametrize("start_s", [0.0, 50_632.47, 3599.99])
def test_importers_land_every_frame_within_a_millisecond(tmp_path, fps, n_frames, start_s):
    path = tmp_path / "take.csv"
    rows = write_live_link_csv(looking_around(n_frames), path, fps=fps, start_s=start_s)
    timecodes = [line.split(",", 1)[0] for line in path.read_text().splitlines()[1:]]
    assert len(timecodes) == rows == math.ceil(n_frames * fps / layout.FPS - 1e-9)
    expected = np.arange(rows) / fps
    for importer in (unreal_times, faceit_times, maya_times):
        times = importer(timecodes)
        error_ms = np.abs((times - times[0]) - expected) * 1000
        assert error_ms.max() <= 1.0, f"{importer.__name__}: {error_ms.max():.1f} ms at {fps} fps"
    frame_fields = [split_timecode(t)[3] for t in timecodes]
    assert all(ff == int(ff) for ff in frame_fields)  # rows sit on whole 60-fps frames


def test_takes_start_at_the_time_of_day(tmp_path):
    path = tmp_path / "take.csv"
    write_live_link_csv(looking_around(50), path, start_s=14 * 3600 + 3 * 60 + 52.1)
    assert path.read_text().splitlines()[1].startswith("14:03:52:06.000,61,")


# ---- reader ---------------------------------------------------------------------------------------------------
def test_reader_reads_short_60fps_takes_at_60(tmp_path):
    path = tmp_path / "short.csv"
    write_excerpt(path, [excerpt_row(f"10:15:22:{10 + i:02d}.213", JawOpen=i / 10) for i in range(11)])
    clip = read_live_link_csv(path)
    assert clip.metadata["timecode_fps"] == 60 and clip.metadata["source_fps"] == pytest.approx(60)
    assert len(clip) == 5  # 10/60 s at 25 fps
    assert np.allclose(clip["jawOpen"], np.arange(5) / 25 * 60 / 10, atol=1e-4)


def test_reader_reads_short_30fps_takes_numbered_in_60fps_units(tmp_path):
    path = tmp_path / "short30.csv"
    write_excerpt(path, [excerpt_row(f"10:15:22:{2 * i:02d}.000", JawOpen=i / 10) for i in range(8)])
    clip = read_live_link_csv(path)
    assert clip.metadata["source_fps"] == pytest.approx(30)
    assert len(clip) == 6  # 14/60 s at 25 fps
    assert np.allclose(clip["jawOpen"], np.arange(6) / 25 * 30 / 10, atol=1e-5)


@pytest.mark.parametrize("spelling", ["BlendShapeCount", "BlendshapeCount"])
def test_reader_accepts_both_spellings_of_blendshape_count(tmp_path, spelling):
    path = tmp_path / "take.csv"
    write_excerpt(path, header=("Timecode", spelling) + LIVE_LINK_COLUMNS[2:])
    clip = read_live_link_csv(path, resample_to_fps=60)
    assert clip["jawOpen"][2] == pytest.approx(0.20, abs=1e-3) and clip["eyeLookInLeft"][4] > 0.4


def test_reader_skips_the_apps_empty_rows(tmp_path):
    path = tmp_path / "take.csv"
    rows = list(EXCERPT_ROWS)
    rows.insert(2, "09:41:07:58.980,0" + "," * 61)  # the app writes a count of 0 and no values for a lost frame
    write_excerpt(path, rows)
    whole = tmp_path / "whole.csv"
    write_excerpt(whole)
    assert np.array_equal(read_live_link_csv(path).frames, read_live_link_csv(whole).frames)


def test_reader_keeps_the_first_of_repeated_timecodes_and_refuses_backwards_ones(tmp_path):
    path = tmp_path / "take.csv"
    rows = list(EXCERPT_ROWS)
    rows.insert(1, excerpt_row("09:41:07:57.481", JawOpen=0.99))  # the first row's timecode again
    write_excerpt(path, rows)
    whole = tmp_path / "whole.csv"
    write_excerpt(whole)
    assert np.array_equal(read_live_link_csv(path).frames, read_live_link_csv(whole).frames)
    write_excerpt(path, [EXCERPT_ROWS[1], EXCERPT_ROWS[0]])
    with pytest.raises(ClipFormatError, match="go backwards"):
        read_live_link_csv(path)


def test_reader_follows_a_take_across_midnight(tmp_path):
    path = tmp_path / "take.csv"
    write_excerpt(path, [excerpt_row(f"23:59:59:{ff:02d}.000", JawOpen=0.1) for ff in (56, 58)]
                  + [excerpt_row(f"00:00:00:{ff:02d}.000", JawOpen=0.1) for ff in (0, 2)])
    assert read_live_link_csv(path, resample_to_fps=30).duration_s == pytest.approx(4 / 30)
