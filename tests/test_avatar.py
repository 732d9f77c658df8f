"""The procedural demo head: its .glb is valid glTF 2.0 with the 52 ARKit targets, the shapes do what their names
say (on the right side), the mesh JSON round-trips, and the export is reproducible."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vasa_bridge.avatar import AvatarError, build_avatar
from vasa_bridge.avatar import head as H
from vasa_bridge.avatar.parts import build_head
from vasa_bridge.avatar.gltf import glb_bytes, read_mesh_json, write_avatar
from vasa_bridge.motion.layout import ARKIT_NAMES

COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
COMPONENT_DTYPE = {5121: "<u1", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@pytest.fixture(scope="module")
def avatar():
    return build_avatar()


@pytest.fixture(scope="module")
def rig():
    return build_head().rig


@pytest.fixture(scope="module")
def exported(avatar, tmp_path_factory):
    out = tmp_path_factory.mktemp("avatar")
    return write_avatar(avatar, out)


def _shape(avatar, name: str) -> np.ndarray:
    return avatar[0].blendshapes[name].astype(np.float64)


# ---- a strict little GLB reader ---------------------------------------------------------------------------
class Glb:
    def __init__(self, raw: bytes) -> None:
        magic, version, length = struct.unpack_from("<III", raw, 0)
        assert magic == 0x46546C67, "bad magic"
        assert version == 2
        assert length == len(raw), "header length != file size"
        json_len, json_type = struct.unpack_from("<II", raw, 12)
        assert json_type == 0x4E4F534A and json_len % 4 == 0
        self.doc = json.loads(raw[20:20 + json_len].decode("utf-8"))
        bin_at = 20 + json_len
        bin_len, bin_type = struct.unpack_from("<II", raw, bin_at)
        assert bin_type == 0x004E4942 and bin_len % 4 == 0
        assert bin_at + 8 + bin_len == len(raw), "chunks do not fill the file exactly"
        self.bin = raw[bin_at + 8:bin_at + 8 + bin_len]
        buffer_len = self.doc["buffers"][0]["byteLength"]
        assert buffer_len <= bin_len < buffer_len + 4, "BIN chunk must hold the buffer, padded to 4 bytes"
        self._check_views()

    def _check_views(self) -> None:
        for view in self.doc["bufferViews"]:
            assert view["buffer"] == 0
            assert view["byteOffset"] % 4 == 0, "bufferViews should start 4-byte aligned"
            assert view["byteOffset"] + view["byteLength"] <= self.doc["buffers"][0]["byteLength"]

    def _view_bytes(self, view_index: int, offset: int, nbytes: int) -> bytes:
        view = self.doc["bufferViews"][view_index]
        assert offset + nbytes <= view["byteLength"], "accessor overruns its bufferView"
        start = view["byteOffset"] + offset
        return self.bin[start:start + nbytes]

    def accessor(self, index: int) -> np.ndarray:
        acc = self.doc["accessors"][index]
        k = TYPE_COMPONENTS[acc["type"]]
        size = COMPONENT_BYTES[acc["componentType"]]
        assert acc.get("byteOffset", 0) % size == 0, "accessor offset not aligned to its component"
        count = acc["count"]
        dtype = COMPONENT_DTYPE[acc["componentType"]]
        if "bufferView" in acc:
            raw = self._view_bytes(acc["bufferView"], acc.get("byteOffset", 0), count * k * size)
            data = np.frombuffer(raw, dtype=dtype).reshape(count, k).astype(np.float64)
        else:
            data = np.zeros((count, k))
        if "sparse" in acc:
            sp = acc["sparse"]
            n = sp["count"]
            isize = COMPONENT_BYTES[sp["indices"]["componentType"]]
            idx = np.frombuffer(self._view_bytes(sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0),
                                                 n * isize), dtype=COMPONENT_DTYPE[sp["indices"]["componentType"]])
            assert np.all(np.diff(idx.astype(np.int64)) > 0), "sparse indices must strictly increase"
            assert idx.max() < count
            vals = np.frombuffer(self._view_bytes(sp["values"]["bufferView"], sp["values"].get("byteOffset", 0),
                                                  n * k * size), dtype=dtype).reshape(n, k)
            data[idx.astype(np.int64)] = vals
        if "min" in acc:
            assert np.all(data >= np.asarray(acc["min"]) - 1e-9) and np.all(data <= np.asarray(acc["max"]) + 1e-9)
            assert np.allclose(data.min(axis=0), acc["min"]) and np.allclose(data.max(axis=0), acc["max"])
        return data


def test_glb_is_valid_gltf_with_52_named_arkit_targets(exported, avatar):
    glb = Glb(exported[0].read_bytes())
    doc = glb.doc
    assert doc["asset"]["version"] == "2.0"
    meshes = {m["name"]: m for m in doc["meshes"]}
    assert list(meshes) == ["head", "eyeLeft", "eyeRight"]
    head = meshes["head"]
    assert head["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert head["weights"] == [0.0] * 52
    for mesh, source in zip(doc["meshes"], avatar):
        (prim,) = mesh["primitives"]
        positions = glb.accessor(prim["attributes"]["POSITION"])
        normals = glb.accessor(prim["attributes"]["NORMAL"])
        colors = glb.accessor(prim["attributes"]["COLOR_0"])
        indices = glb.accessor(prim["indices"])
        n = len(positions)
        assert "min" in doc["accessors"][prim["attributes"]["POSITION"]]
        assert len(normals) == len(colors) == n == len(source.vertices)
        assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
        assert np.all((colors >= 0) & (colors <= 1))
        assert len(indices) % 3 == 0 and indices.max() < n
        np.testing.assert_allclose(positions, source.vertices, atol=1e-7)
        names = mesh.get("extras", {}).get("targetNames", [])
        assert len(prim.get("targets", [])) == len(names) == len(mesh.get("weights", []))
        for target, name in zip(prim.get("targets", []), names):
            assert doc["accessors"][target["POSITION"]]["min"] is not None
            np.testing.assert_allclose(glb.accessor(target["POSITION"]), source.blendshapes[name], atol=1e-7)
            np.testing.assert_allclose(glb.accessor(target["NORMAL"]), source.blendshape_normals[name], atol=1e-7)
    # eye nodes sit at the eye centres so an engine can rotate them for gaze
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["eyeLeft"]["translation"][0] > 0 > nodes["eyeRight"]["translation"][0]
    assert set(nodes["vasa_head"]["children"]) == {1, 2, 3}
    assert exported[0].stat().st_size < 2 * 1024 * 1024


def test_dense_targets_hold_the_same_deltas(avatar):
    glb = Glb(glb_bytes(avatar[:1], dense_targets=True))
    prim = glb.doc["meshes"][0]["primitives"][0]
    jaw = glb.accessor(prim["targets"][ARKIT_NAMES.index("jawOpen")]["POSITION"])
    np.testing.assert_allclose(jaw, avatar[0].blendshapes["jawOpen"], atol=1e-7)


def test_jaw_open_drops_the_chin_and_leaves_the_skull_still(avatar, rig):
    v = avatar[0].vertices
    d = _shape(avatar, "jawOpen")
    skin = rig.part == H.SKIN
    chin = skin & (np.abs(v[:, 0]) < 0.01) & (v[:, 1] < H.MOUTH_Y_M - 0.03) & (v[:, 1] > -0.06) & (v[:, 2] > 0.06)
    assert chin.sum() >= 3
    assert np.all(d[chin, 1] < -0.01), "chin should drop more than 1 cm"
    top = v[:, 1] > 0.10
    assert np.all(d[top] == 0.0)
    upper_teeth = rig.part == H.TEETH_UPPER
    assert np.all(d[upper_teeth] == 0.0)
    assert np.all(d[rig.part == H.TEETH_LOWER, 1] < -0.005)


def test_jaw_open_normal_deltas_turn_the_chin_normals_with_the_jaw(avatar, rig):
    from vasa_bridge.avatar.shapes import JAW_OPEN_RAD

    head = avatar[0]
    v = head.vertices
    chin = np.nonzero((rig.part == H.SKIN) & (np.abs(v[:, 0]) < 0.006) & (v[:, 1] < -0.035) & (v[:, 1] > -0.05)
                      & (v[:, 2] > 0.06))[0]
    assert len(chin) >= 2
    c, s = np.cos(JAW_OPEN_RAD), np.sin(JAW_OPEN_RAD)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    posed = head.normals[chin] + head.blendshape_normals["jawOpen"][chin]
    np.testing.assert_allclose(posed, head.normals[chin] @ rot.T, atol=0.03)


def test_eye_blink_left_closes_only_the_left_upper_lid(avatar, rig):
    d = _shape(avatar, "eyeBlinkLeft")
    v = avatar[0].vertices
    lid = rig.part == H.LID
    left_upper_margin = lid & (rig.side > 0) & rig.lid_upper & (rig.lid_u == 0.0) & (np.abs(rig.lid_azimuth) < 0.5)
    assert left_upper_margin.sum() >= 3
    assert np.all(d[left_upper_margin, 1] < -0.005), "the left upper lid margin should come down over the eye"
    # closed: the upper margin ends below the rest lower margin at the same azimuth
    closed = v[left_upper_margin] + d[left_upper_margin]
    assert np.all(closed[:, 1] < rig.eye_centers[0][1] - 0.004)
    assert np.all(d[lid & (rig.side < 0)] == 0.0)
    assert np.all(d[v[:, 0] < 0] == 0.0), "nothing on the subject's right may move"


def test_mouth_smile_left_raises_the_left_corner_only(avatar):
    v = avatar[0].vertices
    d = _shape(avatar, "mouthSmileLeft")
    on_mouth_line = np.nonzero((np.abs(v[:, 1] - H.MOUTH_Y_M) < 1e-6) & (v[:, 2] > 0.06))[0]
    left_corner = on_mouth_line[np.argmin(np.abs(v[on_mouth_line, 0] - H.MOUTH_CORNER_X_M))]
    right_corner = on_mouth_line[np.argmin(np.abs(v[on_mouth_line, 0] + H.MOUTH_CORNER_X_M))]
    assert v[left_corner, 0] > 0.015 and v[right_corner, 0] < -0.015
    assert d[left_corner, 1] > 0.004
    assert abs(d[right_corner, 1]) < 0.0005


def test_every_shape_moves_something_and_left_right_follow_the_subject(avatar):
    head = avatar[0]
    v = head.vertices
    for name in ARKIT_NAMES:
        d = head.blendshapes[name]
        moved = np.linalg.norm(d, axis=1)
        assert moved.max() > 0.001, f"{name} barely moves (max {moved.max():.5f} m)"
        if name in ("jawLeft", "jawRight", "mouthLeft", "mouthRight"):  # the whole jaw/mouth moves sideways
            mean_dx = float(d[moved > 0, 0].mean())
            assert mean_dx * (1.0 if name.endswith("Left") else -1.0) > 0.002, f"{name} moves the wrong way"
        elif name.endswith(("Left", "Right")):
            centroid_x = float((v[:, 0] * moved).sum() / moved.sum())
            want = 1.0 if name.endswith("Left") else -1.0
            assert centroid_x * want > 0.005, f"{name} moves the wrong side (weighted x {centroid_x:.4f} m)"


def test_eye_look_shapes_turn_the_eyeballs_the_right_way(avatar):
    _, eye_left, eye_right = avatar
    front_l = np.argmax(eye_left.vertices[:, 2])  # the pupil centre
    front_r = np.argmax(eye_right.vertices[:, 2])
    assert eye_left.blendshapes["eyeLookInLeft"][front_l, 0] < -0.003  # toward the nose: -X for the left eye
    assert eye_left.blendshapes["eyeLookOutLeft"][front_l, 0] > 0.003
    assert eye_right.blendshapes["eyeLookInRight"][front_r, 0] > 0.003
    assert eye_left.blendshapes["eyeLookUpLeft"][front_l, 1] > 0.003
    assert eye_right.blendshapes["eyeLookDownRight"][front_r, 1] < -0.003
    # a turn, not a shrink: every vertex keeps its distance from the eye centre
    turned = eye_left.vertices + eye_left.blendshapes["eyeLookOutLeft"]
    np.testing.assert_allclose(np.linalg.norm(turned, axis=1), np.linalg.norm(eye_left.vertices, axis=1), atol=1e-6)


def test_tongue_out_slides_the_tongue_forward(avatar, rig):
    d = _shape(avatar, "tongueOut")
    assert np.all(d[rig.part == H.TONGUE, 2] > 0.01)
    assert np.all(d[rig.part != H.TONGUE] == 0.0)


def test_surfaces_face_outward(avatar, rig):
    head = avatar[0]
    v = head.vertices.astype(np.float64)
    t = head.triangles.astype(np.int64)
    normal = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    centroid = v[t].mean(axis=1)
    skin_tris = rig.part[t[:, 0]] == H.SKIN
    out = np.einsum("ij,ij->i", normal, centroid - [0.0, 0.03, 0.0])
    assert (out[skin_tris] > 0).mean() > 0.97
    eye = avatar[1]
    et = eye.triangles.astype(np.int64)
    en = np.cross(eye.vertices[et[:, 1]] - eye.vertices[et[:, 0]], eye.vertices[et[:, 2]] - eye.vertices[et[:, 0]])
    assert np.all(np.einsum("ij,ij->i", en, eye.vertices[et].mean(axis=1)) > 0)


def test_mesh_json_round_trips(exported, avatar):
    meshes = read_mesh_json(exported[1])
    doc = json.loads(exported[1].read_text())
    assert doc["format"] == "vasa_bridge.avatar" and doc["motion_layout_version"] == 1
    assert list(doc["meshes"][0]["blendshapes"]) == list(ARKIT_NAMES)
    for got, want in zip(meshes, avatar):
        assert got.name == want.name
        np.testing.assert_array_equal(got.triangles, want.triangles)
        np.testing.assert_allclose(got.vertices, want.vertices, atol=1e-6)
        np.testing.assert_allclose(got.normals, want.normals, atol=1e-6)
        np.testing.assert_allclose(got.pivot, want.pivot, atol=1e-6)
        np.testing.assert_allclose(got.colors, want.colors, atol=1e-4)
        assert list(got.blendshapes) == list(want.blendshapes)
        for name in want.blendshapes:
            np.testing.assert_allclose(got.blendshapes[name], want.blendshapes[name], atol=1e-6)


def test_export_is_byte_identical_across_runs(exported, tmp_path):
    # a second, separate process: no state shared with the first export
    code = ("import sys\nfrom vasa_bridge.avatar import build_avatar\nfrom vasa_bridge.avatar.gltf import write_avatar\n"
            "write_avatar(build_avatar(), sys.argv[1])")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120, env=env)
    assert (tmp_path / "vasa_head.glb").read_bytes() == exported[0].read_bytes()
    assert (tmp_path / "vasa_head.mesh.json").read_bytes() == exported[1].read_bytes()


def test_preview_shows_an_open_mouth(avatar):
    from vasa_bridge.avatar.preview import render_avatar

    size = 120
    neutral = render_avatar(list(avatar), {}, size_px=size)
    open_ = render_avatar(list(avatar), {"jawOpen": 1.0}, size_px=size)
    assert neutral.std() > 0.05  # something was drawn
    rows = slice(int(size * 0.6), int(size * 0.85))
    cols = slice(int(size * 0.4), int(size * 0.6))
    dark = lambda img: (img[rows, cols].mean(axis=2) < 0.2).sum()  # noqa: E731
    assert dark(open_) > dark(neutral) + 10, "an open jaw should show the dark mouth cavity"


def test_command_writes_files_and_reports_bad_paths(tmp_path, capsys):
    from vasa_bridge.commands import avatar as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args(["export", "-o", str(tmp_path / "out")])) == 0
    assert (tmp_path / "out" / "vasa_head.glb").stat().st_size > 100_000
    assert "vasa_head.mesh.json" in capsys.readouterr().out
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AvatarError, match="writable"):
        command.run(parser.parse_args(["export", "-o", str(blocker)]))
    with pytest.raises(AvatarError, match="png"):
        command.run(parser.parse_args(["preview", "-o", str(tmp_path / "head.jpg")]))


@pytest.mark.skipif(shutil.which("node") is None or not os.environ.get("GLTF_VALIDATOR_DIR"),
                    reason="set GLTF_VALIDATOR_DIR to a folder holding node_modules/gltf-validator (npm) to run "
                           "Khronos' glTF validator")
def test_khronos_validator_finds_no_issues(exported):
    script = ("const v=require('gltf-validator');const fs=require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r=>console.log(JSON.stringify(r.issues)))")
    result = subprocess.run(["node", "-e", script, str(exported[0])], cwd=os.environ["GLTF_VALIDATOR_DIR"],
                            capture_output=True, text=True, timeout=60, check=True)
    issues = json.loads(result.stdout)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:5]
