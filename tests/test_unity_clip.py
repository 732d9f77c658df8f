"""The Unity importer for baked lines (Editor/): its engine-free core (Editor/Core) compiled with mcs and run with
mono on a real baked line, compared with the clip as vasa_bridge reads it; the editor code and the CutScene sample
compiled against Unity API stand-ins; the package layout (asmdef, .meta GUIDs, the sample scene's references).

What this cannot check: the AnimationClip Unity builds from these curves, the importer override and the Timeline in
a real editor (no Unity editor runs here)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from baked_line import bake, speak_wav

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "unity_sample" / "Packages" / "com.vasabridge.client"
SAMPLE = PACKAGE / "Samples~" / "CutScene"

pytestmark = pytest.mark.skipif(
    shutil.which("mcs") is None or shutil.which("mono") is None,
    reason="needs Debian mono-mcs and mono-runtime (scripts/install_system.sh installs them; CI has them)")


@pytest.fixture(scope="module")
def clip_harness(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clip_harness") / "clip.exe"
    sources = sorted(str(p) for p in (PACKAGE / "Runtime" / "Core").rglob("*.cs"))   # Json.cs, MsgPackMap
    sources += sorted(str(p) for p in (PACKAGE / "Editor" / "Core").rglob("*.cs"))
    sources.append(str(PACKAGE / "Tests~" / "ClipHarness" / "ClipHarness.cs"))
    result = subprocess.run(["mcs", "-langversion:7.2", "-warnaserror", "-r:System.Core.dll", f"-out:{out}", *sources],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("baked_line")
    wav = speak_wav(folder)
    return {"json": bake(wav, folder / "line.json"), "csv": bake(wav, folder / "line.csv"), "wav": wav}


def curves(harness: Path, clip: Path, tmp_path: Path, *settings: str) -> dict[tuple[str, str], np.ndarray]:
    """(path, property) -> keys (K, 4): time, value, in tangent, out tangent."""
    out = tmp_path / f"{clip.stem}.curves.txt"
    proc = subprocess.run(["mono", str(harness), "curves", str(clip), str(out), *settings], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[tuple[str, str], np.ndarray] = {}
    lines = out.read_text().splitlines()
    i = 1
    while i < len(lines):
        _, path, _target, prop, n = lines[i].split("\t")
        keys = np.array([[float(x) for x in line.split()] for line in lines[i + 1:i + 1 + int(n)]])
        result[(path, prop)] = keys
        i += 1 + int(n)
    return result


def clip_error(harness: Path, clip: Path, *settings: str) -> str:
    proc = subprocess.run(["mono", str(harness), "error", str(clip), *settings], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("ERROR "), proc.stdout + proc.stderr
    return proc.stdout.removeprefix("ERROR ").strip()


# ---- curve keys are the clip's frames ------------------------------------------------------------------------------
def test_json_clip_becomes_one_blend_shape_curve_per_arkit_channel_keyed_at_its_frames(clip_harness, baked,
                                                                                       tmp_path):
    from vasa_bridge.motion import layout
    from vasa_bridge.motion.clip_io import read_json_clip

    clip = read_json_clip(baked["json"])
    got = curves(clip_harness, baked["json"], tmp_path)
    shape_curves = {prop.removeprefix("blendShape."): keys for (path, prop), keys in got.items() if path == "head"}
    assert sorted(shape_curves) == sorted(layout.ARKIT_NAMES)
    assert len(got) == 52, "head and eye curves appear only when their paths are set"
    for name, keys in shape_curves.items():
        np.testing.assert_allclose(keys[:, 0], np.arange(len(clip)) / clip.fps, atol=1e-6)
        # Unity weights are 0..100: the clip's value x 100 at every frame.
        np.testing.assert_allclose(keys[:, 1], clip[name] * 100.0, rtol=1e-6, atol=1e-4, err_msg=name)
    assert np.ptp(shape_curves["jawOpen"][:, 1]) > 10.0, "the baked line barely moves the jaw"


def test_live_link_csv_keys_are_its_rows_at_its_timecodes(clip_harness, baked, tmp_path):
    """`bake -o x.csv` writes the 25-fps motion resampled to 60-fps rows numbered from a time of day: the keys are
    those rows at the times the Python reader gives their timecodes, and between them the curves are what the Python
    reader returns for the CSV (it interpolates the same rows linearly)."""
    from vasa_bridge.motion import layout
    from vasa_bridge.motion.clip_io import parse_timecode, read_live_link_csv

    with open(baked["csv"], newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    read = read_live_link_csv(baked["csv"])      # 25 fps, as `vasa-bridge animate --clip` reads it
    numbering = read.metadata["timecode_fps"]
    assert numbering == 60 and read.metadata["source_fps"] == 60, read.metadata
    got = curves(clip_harness, baked["csv"], tmp_path, "renderers=Face/Mesh")
    times = np.array([parse_timecode(r[0], numbering) for r in body])
    for column in ("JawOpen", "MouthSmileLeft", "EyeBlinkRight", "TongueOut"):
        keys = got[("Face/Mesh", "blendShape." + column[0].lower() + column[1:])]
        values = np.array([float(r[header.index(column)]) for r in body])
        np.testing.assert_allclose(keys[:, 0], times - times[0], atol=1e-6)
        np.testing.assert_allclose(keys[:, 1], values * 100.0, rtol=1e-6, atol=1e-4, err_msg=column)
    for name in layout.ARKIT_NAMES:
        keys = got[("Face/Mesh", "blendShape." + name)]
        np.testing.assert_allclose(np.interp(read.times_s, keys[:, 0], keys[:, 1]), read[name] * 100.0, atol=1e-4,
                                   err_msg=name)


def _pose_quats(pitch, yaw, roll, signs=(1.0, -1.0, 1.0)):
    """What the curve builder keys for a pose in our layout (radians), default head signs, no rest rotation."""
    from scipy.spatial.transform import Rotation

    deg = np.degrees
    return Rotation.from_quat(_unity_euler(signs[0] * deg(pitch), signs[1] * deg(yaw), signs[2] * deg(roll)))


def _curve_quats(got, path):
    from scipy.spatial.transform import Rotation

    keys = [got[(path, f"m_LocalRotation.{a}")] for a in "xyzw"]
    return keys[0][:, 0], Rotation.from_quat(np.stack([k[:, 1] for k in keys], axis=1))


def test_live_link_csv_rotations_are_read_in_unreals_units_and_signs_as_python_reads_them(clip_harness, baked,
                                                                                          tmp_path):
    """The CSV's rotations are degrees/180 with Unreal's signs and two converging eyes (docs/interop.md): the head
    and eye curves are the pose the Python reader returns for the CSV (radians, our signs, gaze = mean of the eyes)
    at every row, and they turn the head as the JSON clip of the same line does."""
    from scipy.spatial.transform import Slerp

    from vasa_bridge.motion.clip_io import read_json_clip, read_live_link_csv

    settings = ("head=Head", "leftEye=Head/EyeL", "rightEye=Head/EyeR")
    got = curves(clip_harness, baked["csv"], tmp_path, *settings)
    rate = read_live_link_csv(baked["csv"]).metadata["source_fps"]
    rows = read_live_link_csv(baked["csv"], resample_to_fps=rate)      # the reader at the rows' own rate
    t, head = _curve_quats(got, "Head")
    assert len(t) == len(rows)
    np.testing.assert_allclose(t, rows.times_s, atol=1e-6)
    want_head = _pose_quats(rows["headPitch"], rows["headYaw"], rows["headRoll"])
    assert np.degrees((head.inv() * want_head).magnitude()).max() < 1e-3
    zeros = np.zeros(len(rows))
    want_eye = _pose_quats(rows["gazePitch"], rows["gazeYaw"], zeros, signs=(-1.0, -1.0, 1.0))
    for eye in ("Head/EyeL", "Head/EyeR"):
        assert np.degrees((_curve_quats(got, eye)[1].inv() * want_eye).magnitude()).max() < 1e-3, eye

    # The same line as JSON: the same head turn at its frames, within what resampling to 60 fps and 6 decimals
    # change; a wrong unit or sign would be off by about the whole motion.
    clip = read_json_clip(baked["json"])
    json_t, json_head = _curve_quats(curves(clip_harness, baked["json"], tmp_path, *settings), "Head")
    inside = json_t <= t[-1]
    csv_head = Slerp(t, head)(json_t[inside])
    off = np.degrees((csv_head.inv() * json_head[inside]).magnitude())
    moved = np.degrees((json_head[inside][0].inv() * json_head[inside]).magnitude())
    assert np.ptp(np.degrees(clip["headYaw"])) > 1.0 and moved.max() > 1.0, "the baked head does not move"
    # Resampling 25 → 60 fps smooths a quick turn by up to ~5 % of the motion (0.19° of 3.7° with Dec 2026 weights)
    assert off.max() < 0.1 * moved.max(), (off.max(), moved.max())


def test_live_link_csv_edge_cases_read_as_python_reads_them(clip_harness, tmp_path):
    """A capture the way the app writes one: a take under a second (FF in 60ths), a dropped frame (empty row), a
    repeated timecode (the first row wins), and a take across midnight; the keys are the rows the Python reader keeps,
    at its times, with its rotation values."""
    from vasa_bridge.interop.live_link_face import CSV_VALUE_NAMES
    from vasa_bridge.motion.clip_io import read_live_link_csv

    header = "Timecode,BlendShapeCount," + ",".join(CSV_VALUE_NAMES)
    ncols = len(CSV_VALUE_NAMES)

    def row(code: str, k: float) -> str:
        values = [0.01 * k] * 52 + [0.02 * k, -0.03 * k, 0.01 * k, 0.05, -0.04 * k, 0.0, 0.03, -0.02 * k, 0.0]
        return f"{code},61," + ",".join(f"{v:.6f}" for v in values)

    cases = {
        "short.csv": [row("10:00:00:12.000", 0), row("10:00:00:13.000", 1), row("10:00:00:14.000", 2),
                      "10:00:00:15.000,61" + "," * ncols, row("10:00:00:16.000", 4), row("10:00:00:16.000", 9),
                      row("10:00:00:17.000", 5)],
        "midnight.csv": [row(f"23:59:59:{ff:02d}.000", i) for i, ff in enumerate(range(50, 60, 2))]
        + [row(f"00:00:00:{ff:02d}.000", 5 + i) for i, ff in enumerate(range(0, 10, 2))],
    }
    for name, lines in cases.items():
        path = tmp_path / name
        path.write_text(header + "\n" + "\n".join(lines) + "\n")
        # Every row sits on a 60th, so the reader at 60 fps holds each kept row (and fills the dropped one in).
        python = read_live_link_csv(path, resample_to_fps=60)
        got = curves(clip_harness, path, tmp_path, "head=Head", "leftEye=EyeL")
        jaw = got[("head", "blendShape.jawOpen")]
        at = np.round(jaw[:, 0] * 60).astype(int)
        np.testing.assert_allclose(jaw[:, 0], at / 60, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(jaw[:, 1], python["jawOpen"][at] * 100, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(np.interp(python.times_s, jaw[:, 0], jaw[:, 1]), python["jawOpen"] * 100,
                                   atol=1e-4, err_msg=name)
        _, head = _curve_quats(got, "Head")
        want = _pose_quats(python["headPitch"][at], python["headYaw"][at], python["headRoll"][at])
        assert np.degrees((head.inv() * want).magnitude()).max() < 1e-3, name
        _, eye = _curve_quats(got, "EyeL")
        want_eye = _pose_quats(python["gazePitch"][at], python["gazeYaw"][at], np.zeros(len(at)),
                               signs=(-1.0, -1.0, 1.0))
        assert np.degrees((eye.inv() * want_eye).magnitude()).max() < 1e-3, name
        assert len(at) == {"short.csv": 5, "midnight.csv": 10}[name], at


def _timecode(t_s: float, fps: float) -> str:
    whole = int(np.floor(t_s + 1e-9))
    milli_frames = int(round((t_s - whole) * fps * 1000))   # whole thousandths of a frame, so 11.9999 is 12.000
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{milli_frames // 1000:02d}.{milli_frames % 1000:03d}"


def test_csv_with_60fps_timecodes_from_a_time_of_day_keeps_the_frame_times(clip_harness, baked, tmp_path):
    """A take numbered at 60 fps starting at 14:03:27 (how an iPhone or a time-of-day writer stamps it): the keys
    start at 0 and sit at the frames' own times, whatever rate the timecodes count in."""
    with open(baked["csv"], newline="") as f:
        rows = list(csv.reader(f))
    start_s = 14 * 3600 + 3 * 60 + 27 + 0.25
    for i, row in enumerate(rows[1:]):
        row[0] = _timecode(start_s + i / 25.0, 60.0)
    shifted = tmp_path / "tod.csv"
    with open(shifted, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    got = curves(clip_harness, shifted, tmp_path)
    n = len(rows) - 1
    np.testing.assert_allclose(got[("head", "blendShape.jawOpen")][:, 0], np.arange(n) / 25.0, atol=2e-5)
    # The rate can be given instead of inferred; one the timecodes overflow is refused, not misread.
    given = curves(clip_harness, shifted, tmp_path, "timecodeFps=60")
    np.testing.assert_allclose(given[("head", "blendShape.jawOpen")][:, 0], np.arange(n) / 25.0, atol=2e-5)
    assert "does not exist at 30 fps" in clip_error(clip_harness, shifted, "timecodeFps=30")


def test_json_times_s_wins_over_fps(clip_harness, baked, tmp_path):
    doc = json.loads(baked["json"].read_text())
    n = len(doc["frames"])
    doc["times_s"] = [100.0 + 0.05 * i * i for i in range(n)]    # uneven, from an offset
    path = tmp_path / "timed.json"
    path.write_text(json.dumps(doc))
    keys = curves(clip_harness, path, tmp_path)[("head", "blendShape.jawOpen")]
    np.testing.assert_allclose(keys[:, 0], 0.05 * np.arange(n) ** 2, rtol=1e-6, atol=1e-5)


def test_tangents_make_unity_hermite_curves_linear_between_frames(clip_harness, baked, tmp_path):
    keys = curves(clip_harness, baked["json"], tmp_path)[("head", "blendShape.jawOpen")]
    t, v, tan_in, tan_out = keys.T
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        for u in (0.25, 0.5, 0.8):   # Unity's Hermite evaluation of a segment, non-weighted tangents
            h00, h10, h01, h11 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2
            hermite = h00 * v[i] + h10 * dt * tan_out[i] + h01 * v[i + 1] + h11 * dt * tan_in[i + 1]
            assert hermite == pytest.approx(v[i] + u * (v[i + 1] - v[i]), abs=1e-3)


# ---- head and eyes -------------------------------------------------------------------------------------------------
def _unity_euler(x_deg: np.ndarray, y_deg: np.ndarray, z_deg: np.ndarray) -> np.ndarray:
    """Unity's Quaternion.Euler (Z, then X, then Y; q = qy qx qz) via scipy, as (x, y, z, w)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YXZ", np.stack([y_deg, x_deg, z_deg], axis=1), degrees=True).as_quat()


def test_head_rotation_curves_are_rest_times_the_clips_pose_as_unity_quaternions(clip_harness, baked, tmp_path):
    from scipy.spatial.transform import Rotation

    from vasa_bridge.motion.clip_io import read_json_clip

    clip = read_json_clip(baked["json"])
    got = curves(clip_harness, baked["json"], tmp_path, "head=Armature/Neck/Head", "headSigns=1,-1,1",
                 "headScale=0.5", "headRest=-90,0,0", "leftEye=Armature/Neck/Head/EyeL", "eyeSigns=-1,-1")
    deg = np.degrees
    pose = _unity_euler(deg(clip["headPitch"]) * 0.5, -deg(clip["headYaw"]) * 0.5, deg(clip["headRoll"]) * 0.5)
    rest = Rotation.from_euler("YXZ", [[0.0, -90.0, 0.0]], degrees=True)
    want = (rest * Rotation.from_quat(pose)).as_quat()
    head = np.stack([got[("Armature/Neck/Head", f"m_LocalRotation.{a}")][:, 1] for a in "xyzw"], axis=1)
    # The same rotation (q and -q are one rotation), and consecutive keys on the same side (no long way round).
    assert np.all(np.abs(np.abs(np.sum(head * want, axis=1)) - 1.0) < 1e-5)
    assert np.all(np.sum(head[1:] * head[:-1], axis=1) > 0)
    assert np.ptp(deg(clip["headYaw"])) > 1.0, "the baked head does not move"
    eye = np.stack([got[("Armature/Neck/Head/EyeL", f"m_LocalRotation.{a}")][:, 1] for a in "xyzw"], axis=1)
    want_eye = _unity_euler(-deg(clip["gazePitch"]), -deg(clip["gazeYaw"]), np.zeros(len(clip)))
    assert np.all(np.abs(np.abs(np.sum(eye * want_eye, axis=1)) - 1.0) < 1e-5)
    assert not any(p == "" or "RightEye" in p for p, _ in got), "an unset eye path adds no curves"


# ---- name mapping ---------------------------------------------------------------------------------------------------
def test_renderer_paths_prefix_case_and_name_table_map_shapes_onto_a_rig(clip_harness, baked, tmp_path):
    got = curves(clip_harness, baked["json"], tmp_path, "renderers=Body/Face|Body/Teeth", "prefix=blendShape1.",
                 "pascal=1", "map=jawOpen:MTH_Open,tongueOut:")
    props = {path: {p for q, p in got if q == path} for path in ("Body/Face", "Body/Teeth")}
    assert props["Body/Face"] == props["Body/Teeth"] and len(props["Body/Face"]) == 51   # tongueOut dropped
    assert "blendShape.MTH_Open" in props["Body/Face"]
    assert "blendShape.blendShape1.EyeBlinkLeft" in props["Body/Face"]
    assert not any("ongueOut" in p or "JawOpen" in p for p in props["Body/Face"])


# ---- bad input -------------------------------------------------------------------------------------------------------
def test_bad_clips_fail_with_messages_that_say_what_to_fix(clip_harness, baked, tmp_path):
    doc = json.loads(baked["json"].read_text())
    cases = {
        "other_format.json": (json.dumps({**doc, "format": "something.else"}), "not a vasa_bridge.clip"),
        "new_layout.json": (json.dumps({**doc, "motion_layout_version": 2}), "re-bake"),
        "short_row.json": (json.dumps({**doc, "frames": [doc["frames"][0][:10]]}), "frame 0 does not hold 60"),
        "broken.json": ('{"format": "vasa_bridge.clip", ', "not valid JSON"),
        "no_timecode.csv": ("Time,JawOpen\n0,1\n", "first column must be Timecode"),
        "bad_number.csv": ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0.5\n00:00:00:01.000,61,abc\n",
                           "row 3, column JawOpen"),
        "backwards.csv": ("Timecode,BlendShapeCount,JawOpen\n00:00:01:00.000,61,0\n00:00:00:01.000,61,0\n",
                          "timecodes go backwards"),
        "bad_timecode.csv": ("Timecode,BlendShapeCount,JawOpen\n12:30,61,0\n00:00:00:01.000,61,0\n", "timecode"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert expected in clip_error(clip_harness, path), name
    no_pose = tmp_path / "no_pose.csv"
    no_pose.write_text("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0\n00:00:00:01.000,61,1\n")
    assert "no headPitch channel" in clip_error(clip_harness, no_pose, "head=Head")
    assert "two channels map to the blend shape 'X'" in clip_error(clip_harness, baked["json"],
                                                                   "map=jawOpen:X,tongueOut:X")


# ---- package layout -------------------------------------------------------------------------------------------------
def _guid(rel: str) -> str:
    return hashlib.md5(f"com.vasabridge.client/{rel}".encode()).hexdigest()


def _meta_guid(path: Path) -> str:
    match = re.search(r"^guid: ([0-9a-f]{32})$", path.with_name(path.name + ".meta").read_text(), re.M)
    assert match, f"{path.name}.meta has no guid"
    return match.group(1)


def test_editor_assembly_is_editor_only_and_references_the_runtime():
    asmdef = json.loads((PACKAGE / "Editor" / "VasaBridge.Editor.asmdef").read_text())
    runtime = json.loads((PACKAGE / "Runtime" / "VasaBridge.Client.asmdef").read_text())
    assert asmdef["includePlatforms"] == ["Editor"] and runtime["name"] in asmdef["references"]
    assert _meta_guid(PACKAGE / "Editor" / "VasaClipImporter.cs") == _guid("Editor/VasaClipImporter.cs")


def test_cut_scene_sample_references_resolve_to_its_files():
    """The hand-written scene and clip .meta point at scripts by GUID: they must be the GUIDs of those scripts'
    .meta files, or Unity shows a missing script / imports the clip as text."""
    package = json.loads((PACKAGE / "package.json").read_text())
    assert {"path": "Samples~/CutScene"}.items() <= next(s for s in package["samples"]
                                                        if s["path"] == "Samples~/CutScene").items()
    assert "com.unity.timeline" in package["dependencies"]
    asmdef = json.loads((SAMPLE / "VasaBridge.Samples.CutScene.asmdef").read_text())
    assert set(asmdef["references"]) == {"VasaBridge.Client", "Unity.Timeline"}
    script = SAMPLE / "Scripts" / "BakedLineCutScene.cs"
    scene = (SAMPLE / "CutScene.unity").read_text()
    assert f"m_Script: {{fileID: 11500000, guid: {_meta_guid(script)}, type: 3}}" in scene
    clip = SAMPLE / "Resources" / "vasa_demo_line_motion.json"
    clip_meta = clip.with_name(clip.name + ".meta").read_text()
    importer_guid = _meta_guid(PACKAGE / "Editor" / "VasaClipImporter.cs")
    assert f"script: {{fileID: 11500000, guid: {importer_guid}, type: 3}}" in clip_meta
    # Every serialized importer field in the .meta exists on the importer (a typo would be silently dropped).
    importer = (PACKAGE / "Editor" / "VasaClipImporter.cs").read_text()
    fields = set(re.findall(r"\[SerializeField[^\]]*\]\s+[\w\[\]]+\s+(\w+)", importer))
    in_meta = set(re.findall(r"^  (\w+):", clip_meta, re.M)) - {
        "internalIDToNameTable", "externalObjects", "serializedVersion", "userData", "assetBundleName",
        "assetBundleVariant", "script"}
    assert in_meta == fields, (in_meta ^ fields)
    # The sample's scripts and files each carry a .meta with a path-derived GUID (Unity copies them on import).
    for path in sorted(SAMPLE.rglob("*")):
        if path.suffix != ".meta":
            assert _meta_guid(path) == _guid(path.relative_to(PACKAGE).as_posix()), path


def test_sample_clip_is_a_bake_of_the_sample_line(clip_harness, tmp_path):
    """The committed clip reads as a 25 fps layout-1 clip as long as the Talking Head sample's line."""
    import soundfile

    from vasa_bridge.motion.clip_io import read_json_clip

    clip = read_json_clip(SAMPLE / "Resources" / "vasa_demo_line_motion.json")
    info = soundfile.info(PACKAGE / "Samples~" / "TalkingHead" / "Resources" / "vasa_demo_line.wav")
    assert clip.fps == 25 and abs(clip.duration_s - info.duration) < 0.08
    assert clip.metadata.get("source") == "motion-diffusion"
    got = curves(clip_harness, SAMPLE / "Resources" / "vasa_demo_line_motion.json", tmp_path,
                 "renderers=vasa_head/head", "head=vasa_head", "leftEye=vasa_head/eyeLeft",
                 "rightEye=vasa_head/eyeRight")
    assert len(got) == 52 + 3 * 4
