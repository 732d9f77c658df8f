import numpy as np
import pytest

from vasa_bridge.errors import ClipFormatError
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.interop.live_link_face import resample
from vasa_bridge.motion.clip_io import (LIVE_LINK_COLUMNS, format_timecode, parse_timecode, read_clip,
                                        read_live_link_csv, write_clip, write_live_link_csv)


def random_clip(n: int = 50, seed: int = 0) -> MotionClip:
    rng = np.random.default_rng(seed)
    clip = MotionClip.neutral(n)
    clip.frames[:, layout.BLENDSHAPE_SLICE] = rng.uniform(0, 1, (n, layout.N_BLENDSHAPES))
    clip.frames[:, layout.channel("headYaw")] = rng.uniform(-0.3, 0.3, n)
    clip.frames[:, layout.channel("headPitch")] = rng.uniform(-0.3, 0.3, n)
    clip.frames[:, layout.channel("headRoll")] = rng.uniform(-0.3, 0.3, n)
    clip.frames[:, layout.channel("gazeYaw")] = rng.uniform(-0.3, 0.3, n)
    clip.frames[:, layout.channel("gazePitch")] = rng.uniform(-0.3, 0.3, n)
    return clip


def test_layout_is_arkit_52_in_live_link_order():
    assert layout.N_BLENDSHAPES == 52 and len(set(layout.ARKIT_NAMES)) == 52
    assert LIVE_LINK_COLUMNS[:4] == ("Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft")
    assert LIVE_LINK_COLUMNS[-9:] == ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch",
                                      "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
    assert len(LIVE_LINK_COLUMNS) == 2 + 61
    assert layout.channel("JAWOPEN") == layout.ARKIT_NAMES.index("jawOpen")


def test_timecode_counts_60fps_frames_of_the_day():
    assert format_timecode(0) == "00:00:00:00.000"
    assert format_timecode(61) == "00:00:01:01.000"
    assert format_timecode(14 * 3600 * 60 + 3 * 60 * 60 + 52 * 60 + 28.207) == "14:03:52:28.207"
    for frames in (0, 1, 59, 60, 1499, 90000, 3_000_000.5):
        assert parse_timecode(format_timecode(frames)) == pytest.approx(frames / 60, abs=1e-6)


@pytest.mark.parametrize("fps", [30, 60])
@pytest.mark.parametrize("n_frames", [1, 20, 87, 250])
def test_live_link_csv_round_trips_at_the_written_rate(tmp_path, n_frames, fps):
    clip = random_clip(n_frames)
    path = tmp_path / "clip.csv"
    write_live_link_csv(clip, path, fps=fps, start_s=50_000.25)
    back = read_live_link_csv(path, resample_to_fps=fps)
    expected = resample(clip, fps)
    assert back.frames.shape == expected.frames.shape
    assert np.allclose(back.blendshapes, expected.blendshapes, atol=1e-5)
    for name in ("headYaw", "headPitch", "headRoll", "gazePitch"):
        assert np.allclose(back[name], expected[name], atol=1e-5), name
    # Gaze comes back as the mean of two converging eyes: exact up to the vergence geometry's second order.
    assert np.allclose(back["gazeYaw"], expected["gazeYaw"], atol=2e-3)
    assert back.metadata["timecode_fps"] == 60 and (n_frames == 1 or back.metadata["source_fps"] == fps)


def test_csv_uses_lf_line_ends_and_the_apps_value_count(tmp_path):
    path = tmp_path / "clip.csv"
    write_live_link_csv(random_clip(10), path, start_s=0)
    data = path.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    first = data.decode().splitlines()[1].split(",")
    assert first[1] == "61" and len(first) == 63


def test_csv_rejects_rates_the_app_does_not_record(tmp_path):
    with pytest.raises(ClipFormatError, match="30 or 60"):
        write_live_link_csv(random_clip(10), tmp_path / "clip.csv", fps=25)


def test_reads_a_60fps_iphone_capture_and_resamples(tmp_path):
    # What the app writes: PascalCase names, 61 values, FF counted at 60 fps with a sub-frame fraction.
    path = tmp_path / "take.csv"
    rows = [",".join(LIVE_LINK_COLUMNS)]
    for i in range(120):
        values = ["0"] * 61
        values[LIVE_LINK_COLUMNS.index("JawOpen") - 2] = f"{i / 119:.4f}"
        rows.append(f"14:03:{52 + i // 60:02d}:{i % 60:02d}.207,61," + ",".join(values))
    path.write_text("\n".join(rows) + "\n")
    clip = read_live_link_csv(path)
    assert clip.metadata["source_fps"] == 60
    assert len(clip) == 50  # 119/60 s at 25 fps
    assert np.allclose(clip["jawOpen"], np.clip(clip.times_s * 60 / 119, 0, 1), atol=1e-3)


def test_json_clip_round_trips_and_checks_layout_version(tmp_path):
    clip = random_clip()
    clip.metadata = {"text": "hi"}
    path = tmp_path / "clip.json"
    write_clip(clip, path)
    back = read_clip(path)
    assert np.allclose(back.frames, clip.frames, atol=1e-5) and back.metadata == {"text": "hi"}
    path.write_text(path.read_text().replace('"motion_layout_version": 1', '"motion_layout_version": 99'))
    with pytest.raises(ClipFormatError, match="layout v99"):
        read_clip(path)


def test_bad_clip_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ClipFormatError, match="not a Live Link Face CSV"):
        read_clip(bad)
    with pytest.raises(ClipFormatError, match="unknown clip format"):
        write_clip(random_clip(), tmp_path / "clip.txt")
    with pytest.raises(ClipFormatError, match="cannot read"):
        read_clip(tmp_path / "missing.csv")
