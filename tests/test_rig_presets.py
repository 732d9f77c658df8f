"""Rig presets (interop/rig_presets.json): one table read by Python, C# (Unity) and GDScript (Godot).

Python applies it here; the C# core applies it under mono to the same frames (tests/ compile the package's
Runtime/Core with Debian's mcs); the Godot addon ships a byte-equal copy read by rig_preset.gd, whose ARKit name
list is checked against ours here and which runs inside the Godot web engine in tests/test_godot.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vasa_bridge.cli import main
from vasa_bridge.interop.presets import (ENGINE_COPIES, PRESETS_PATH, PresetError, get_preset, load_presets,
                                         stale_engine_copies)
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.clip_io import read_clip, write_clip
from vasa_bridge.teacher.viseme_poses import VISEME_POSES

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "unity_sample" / "Packages" / "com.vasabridge.client"
GODOT_ADDON = REPO / "godot_sample" / "addons" / "vasa_bridge"

OCULUS_VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
VRM1_EXPRESSIONS = {"happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh", "blink",
                    "blinkLeft", "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight", "neutral"}
VRM0_PRESETS = {"Neutral", "A", "I", "U", "E", "O", "Blink", "Joy", "Angry", "Sorrow", "Fun", "LookUp", "LookDown",
                "LookLeft", "LookRight", "Blink_L", "Blink_R"}
# Sounds ARKit cannot tell apart: the tongue's place (t/d/n vs k/g) does not show on the lips.
SAME_LIPS = {"DD": "tongue", "kk": "tongue", "nn": "tongue"}


def arkit(**values: float) -> np.ndarray:
    x = np.zeros(layout.N_BLENDSHAPES)
    for name, v in values.items():
        x[layout.ARKIT_NAMES.index(name)] = v
    return x


def test_engine_copies_are_byte_equal_to_the_table():
    assert all(p.exists() for p in ENGINE_COPIES)
    assert stale_engine_copies() == [], "run: python -m vasa_bridge.interop.presets --sync"


def test_table_names_the_targets_each_rig_defines():
    presets = load_presets()
    assert set(presets) == {"vrm1", "vrm0", "oculus_visemes", "cc4_extended", "arkit_lr"}
    assert set(presets["vrm1"].targets) <= VRM1_EXPRESSIONS
    assert set(presets["vrm0"].targets) <= VRM0_PRESETS
    assert presets["oculus_visemes"].targets == OCULUS_VISEMES
    lr = dict(zip(presets["arkit_lr"].targets, presets["arkit_lr"].weights.argmax(1)))
    assert len(lr) == 52 and layout.ARKIT_NAMES[lr["eyeBlink_L"]] == "eyeBlinkLeft"
    assert layout.ARKIT_NAMES[lr["mouthSmile_R"]] == "mouthSmileRight" and "jawOpen" in lr
    cc4 = presets["cc4_extended"]
    assert len(set(cc4.targets)) == len(cc4.targets)
    # One-to-many: CC4 splits the funnel into four corners, each driven fully by ARKit's one shape.
    funnel = [t for t in cc4.targets if t.startswith("Mouth_Funnel_")]
    assert len(funnel) == 4 and np.allclose(cc4.apply(arkit(mouthFunnel=0.5))[[cc4.targets.index(t)
                                                                               for t in funnel]], 0.5)


def test_every_teacher_viseme_pose_reads_back_as_its_viseme():
    visemes = get_preset("oculus_visemes")
    for name, pose in VISEME_POSES.items():
        weights = visemes.apply(arkit(**pose.pose))
        top = OCULUS_VISEMES[int(weights.argmax())]
        assert top == name or SAME_LIPS.get(top, top) == SAME_LIPS.get(name), (name, top, weights.round(2))
    rest = visemes.apply(arkit())
    assert rest[0] == 1.0 and rest[1:].max() == 0.0  # a face at rest is silence


def test_vrm_expressions_follow_the_face_many_to_one():
    vrm = get_preset("vrm1")
    w = dict(zip(vrm.targets, vrm.apply(arkit(jawOpen=0.7, mouthLowerDownLeft=0.3, mouthLowerDownRight=0.3))))
    assert w["aa"] > 0.8 and w["aa"] > max(w["ih"], w["ou"], w["ee"], w["oh"])
    w = dict(zip(vrm.targets, vrm.apply(arkit(mouthPucker=0.8, mouthFunnel=0.3, jawOpen=0.15))))
    assert w["ou"] > 0.8 and w["ou"] > max(w["aa"], w["oh"])
    w = dict(zip(vrm.targets, vrm.apply(arkit(eyeBlinkLeft=1.0, mouthSmileLeft=1.0, mouthSmileRight=1.0))))
    assert w["blinkLeft"] == 1.0 and w["blinkRight"] == 0.0 and w["happy"] > 0.7
    # The teacher's gaze to the subject's left: left eye out, right eye in -> VRM lookLeft (the avatar's left).
    w = dict(zip(vrm.targets, vrm.apply(arkit(eyeLookOutLeft=0.6, eyeLookInRight=0.6))))
    assert w["lookLeft"] == pytest.approx(0.6) and w["lookRight"] == 0.0
    vrm0 = get_preset("vrm0")
    assert np.allclose(vrm0.weights, vrm.weights[[vrm.targets.index(t) for t in vrm.targets
                                                  if t != "surprised"]])


# (preset, a rig's blend shape name, the target it stands for or None)
SHAPES = [("oculus_visemes", "viseme_aa", "aa"), ("oculus_visemes", "Wolf3D_Head.viseme_PP", "PP"),
          ("vrm0", "Fcl_MTH_A", "A"), ("vrm0", "Fcl_ALL_Joy", "Joy"), ("vrm1", "AA", "aa"),
          ("cc4_extended", "CC_Base_Body.Mouth_Smile_L", "Mouth_Smile_L"), ("arkit_lr", "eyeBlink_L", "eyeBlink_L"),
          ("vrm1", "Fcl_ALL_Neutral", None), ("cc4_extended", "Mouth_Smile", None)]


def test_rig_blend_shapes_match_targets_by_name_or_suffix():
    for preset_name, shape, target in SHAPES:
        preset = get_preset(preset_name)
        k = preset.match_shape(shape)
        assert (preset.targets[k] if k >= 0 else None) == target, (preset_name, shape)


def test_unknown_presets_are_refused_with_the_choices():
    with pytest.raises(PresetError, match="vrm1, vrm0, oculus_visemes"):
        get_preset("vrm2")


def test_json_clips_carry_per_frame_visemes_and_asked_rigs(tmp_path):
    clip = MotionClip.neutral(4)
    clip.frames[2, layout.channel("mouthPucker")] = 0.75
    clip.frames[2, layout.channel("mouthFunnel")] = 0.35
    clip.frames[2, layout.channel("jawOpen")] = 0.18
    path = tmp_path / "clip.json"
    write_clip(clip, path, presets=["vrm1", "cc4_extended"])
    doc = json.loads(path.read_text())
    visemes = doc["visemes"]
    assert visemes["names"] == list(OCULUS_VISEMES) and len(visemes["frames"]) == 4
    assert [OCULUS_VISEMES[int(np.argmax(f))] for f in visemes["frames"]] == ["sil", "sil", "U", "sil"]
    assert set(doc["rigs"]) == {"vrm1", "cc4_extended"} and doc["rigs"]["vrm1"]["names"][0] == "aa"
    assert np.allclose(read_clip(path).frames, clip.frames, atol=1e-6)  # the extra blocks do not disturb reading


def test_csv_clips_get_a_rig_file_beside_them(tmp_path):
    clip = MotionClip.neutral(25)
    clip.frames[:, layout.channel("eyeBlinkLeft")] = np.linspace(0, 1, 25)
    written = write_clip(clip, tmp_path / "line.csv", csv_fps=30, presets=["arkit_lr"])
    assert written == [tmp_path / "line.csv", tmp_path / "line.arkit_lr.csv"]
    rows = (tmp_path / "line.arkit_lr.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:2] == ["time_s", "eyeBlink_L"] and len(rows) == 1 + 30
    assert float(rows[-1].split(",")[1]) == pytest.approx(1.0)


def test_bake_writes_rig_presets_and_refuses_unknown_ones(tmp_path, capsys):
    import soundfile as sf

    from vasa_bridge.phones.espeak import synthesize

    speech = synthesize("Oh, you know.", voice="en-us")
    wav = tmp_path / "line.wav"
    sf.write(wav, speech.audio, speech.sample_rate_hz)
    assert main(["bake", str(wav), "--text", "Oh, you know.", "-o", str(tmp_path / "c.json"),
                 "--preset", "vrm0"]) == 0
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["rigs"]["vrm0"]["names"][0] == "A" and len(doc["visemes"]["frames"]) == len(doc["frames"])
    spoken = {OCULUS_VISEMES[int(np.argmax(f))] for f in doc["visemes"]["frames"]}
    assert {"sil", "O", "U"} <= spoken, spoken
    capsys.readouterr()
    assert main(["bake", str(wav), "--text", "Oh.", "-o", str(tmp_path / "d.csv"), "--preset", "vrm9"]) != 0
    assert "unknown rig preset 'vrm9'" in capsys.readouterr().err
    assert not (tmp_path / "d.csv").exists()


# ---- the engines ----------------------------------------------------------------------------------------------
def test_godot_addon_indexes_sources_in_our_arkit_order():
    """rig_preset.gd resolves each source name with VasaProtocol.ARKIT_NAMES.find(): that list must hold every
    name the table uses (and is our layout's order, which the Godot frame decoder relies on too)."""
    protocol = (GODOT_ADDON / "protocol.gd").read_text()
    block = re.search(r"const ARKIT_NAMES: PackedStringArray = \[(.*?)\]", protocol, re.S).group(1)
    assert tuple(re.findall(r'"(\w+)"', block)) == layout.ARKIT_NAMES
    code = (GODOT_ADDON / "rig_preset.gd").read_text()
    assert 'TABLE_PATH: String = "res://addons/vasa_bridge/rig_presets.json"' in code
    assert "ARKIT_NAMES.find(" in code


@pytest.mark.skipif(shutil.which("mcs") is None or shutil.which("mono") is None,
                    reason="needs Debian mono-mcs and mono-runtime (scripts/install_system.sh installs them)")
def test_csharp_core_applies_every_preset_like_python(tmp_path):
    exe = tmp_path / "presets.exe"
    sources = sorted(str(p) for p in (PACKAGE / "Runtime" / "Core").rglob("*.cs"))
    sources.append(str(PACKAGE / "Tests~" / "Presets" / "PresetHarness.cs"))
    build = subprocess.run(["mcs", "-langversion:7.2", "-warnaserror", "-r:System.Core.dll", f"-out:{exe}",
                            *sources], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    # Session-ordered frames (our 60 channels): random faces plus every teacher viseme pose.
    rng = np.random.default_rng(7)
    frames = MotionClip.neutral(8).frames
    frames[:, layout.BLENDSHAPE_SLICE] = rng.uniform(0, 1, (8, 52)) ** 2
    poses = MotionClip.neutral(len(VISEME_POSES)).frames
    for i, pose in enumerate(VISEME_POSES.values()):
        for name, v in pose.pose.items():
            poses[i, layout.channel(name)] = v
    frames = np.concatenate([frames, poses]).astype(np.float32)
    frames_path = tmp_path / "frames.json"
    frames_path.write_text(json.dumps({"channels": list(layout.CHANNEL_NAMES), "frames": frames.tolist()}))
    shapes_path = tmp_path / "shapes.txt"
    shapes_path.write_text("".join(f"{p} {shape}\n" for p, shape, _ in SHAPES))
    copy = PACKAGE / "Runtime" / "Resources" / "vasa_rig_presets.json"
    run = subprocess.run(["mono", str(exe), str(copy), str(frames_path), str(shapes_path)], capture_output=True,
                         text=True, timeout=60)
    lines = run.stdout.splitlines()
    assert run.returncode == 0 and "FAIL" not in run.stdout, run.stdout[-2000:] + run.stderr
    matches = [tuple(line.split()[1:]) for line in lines if line.startswith("MATCH")]
    assert matches == [(p, shape, str(get_preset(p).match_shape(shape))) for p, shape, _ in SHAPES]
    got = {(p, t, int(i)): float(v) for p, t, i, v in (line.split()[1:] for line in lines if line.startswith("VALUE"))}
    expected = {(p.name, target, i): float(w[k]) for p in load_presets().values()
                for i, w in enumerate(p.apply(frames[:, layout.BLENDSHAPE_SLICE]))
                for k, target in enumerate(p.targets)}
    assert got.keys() == expected.keys()
    worst = max(abs(got[key] - expected[key]) for key in expected)
    assert worst < 1e-5, worst
    assert PRESETS_PATH.read_bytes() == copy.read_bytes()
