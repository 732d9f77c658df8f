"""Write the avatar as binary glTF 2.0 (.glb) and as a simple mesh JSON, by hand (no glTF library).

The .glb: one buffer, a node tree `vasa_head` (root, the head-pose pivot) -> `head`, `eyeLeft`, `eyeRight` (the
eye nodes sit at the eye centres, so rotating them turns the eyes). Each mesh has one triangle primitive with
POSITION, NORMAL, COLOR_0 (linear RGBA floats, as glTF requires) and indices, plus morph targets with POSITION
deltas. Morph-target accessors are *sparse* (only the vertices a shape moves are stored; core glTF 2.0), which keeps
the file small; `dense_targets=True` writes plain accessors instead for a reader that lacks sparse support. Target
names ride in `mesh.extras.targetNames` (read by Godot, Blender, three.js); default weights are all zero.

The mesh JSON (`vasa_bridge.avatar` format) is documented in docs/avatar.md.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from vasa_bridge.avatar.head import AvatarMesh
from vasa_bridge.motion.layout import MOTION_LAYOUT_VERSION

GLB_MAGIC = 0x46546C67  # "glTF"
CHUNK_JSON = 0x4E4F534A  # "JSON"
CHUNK_BIN = 0x004E4942  # "BIN\0"
FLOAT, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
MESH_JSON_FORMAT = "vasa_bridge.avatar"
MESH_JSON_DECIMALS = 6  # micrometres: far below anything visible, keeps the JSON compact
ROOT_NODE_NAME = "vasa_head"


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


class _BufferBuilder:
    """Accumulates bufferViews in one binary buffer, each 4-byte aligned."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, raw: bytes, target: int | None = None) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.data += raw
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None, with_bounds: bool) -> int:
        """A dense accessor over a (count, k) float32 or (count,) uint array."""
        component = {np.dtype(np.float32): FLOAT, np.dtype(np.uint32): UNSIGNED_INT,
                     np.dtype(np.uint16): UNSIGNED_SHORT}[array.dtype]
        acc = {"bufferView": self.view(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes(),
                                       target),
               "componentType": component, "count": int(array.shape[0]), "type": kind}
        if with_bounds:
            acc.update(_bounds(array))
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_vec3(self, deltas: np.ndarray, with_bounds: bool = True) -> int:
        """A VEC3 float accessor of len(deltas) that stores only its non-zero rows (no base bufferView: zeros)."""
        nonzero = np.nonzero(np.any(deltas != 0.0, axis=1))[0]
        acc: dict = {"componentType": FLOAT, "count": int(len(deltas)), "type": "VEC3"}
        if with_bounds:
            acc.update(_bounds(deltas))
        if len(nonzero):
            index_type, index_dtype = ((UNSIGNED_SHORT, "<u2") if len(deltas) <= 65535 else (UNSIGNED_INT, "<u4"))
            indices = self.view(nonzero.astype(index_dtype).tobytes())
            values = self.view(deltas[nonzero].astype("<f4").tobytes())
            acc["sparse"] = {"count": int(len(nonzero)),
                             "indices": {"bufferView": indices, "componentType": index_type},
                             "values": {"bufferView": values}}
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _bounds(array: np.ndarray) -> dict:
    a = array.reshape(array.shape[0], -1).astype(np.float64)
    # float32 values written through float(): the JSON bounds equal the stored floats exactly
    return {"min": [float(np.float32(v)) for v in a.min(axis=0)], "max": [float(np.float32(v)) for v in a.max(axis=0)]}


def build_gltf(meshes: tuple[AvatarMesh, ...] | list[AvatarMesh], dense_targets: bool = False) -> tuple[dict, bytes]:
    """The glTF JSON document and its binary buffer (without the GLB container)."""
    buf = _BufferBuilder()
    gl_meshes, nodes = [], [{"name": ROOT_NODE_NAME, "children": []}]
    material = {"name": "vertex_colour_skin", "pbrMetallicRoughness": {
        "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.75}}
    for mesh in meshes:
        colors = mesh.colors.astype(np.float64).copy()
        colors[:, :3] = srgb_to_linear(colors[:, :3])
        attributes = {
            "POSITION": buf.accessor(mesh.vertices.astype(np.float32), "VEC3", ARRAY_BUFFER, True),
            "NORMAL": buf.accessor(mesh.normals.astype(np.float32), "VEC3", ARRAY_BUFFER, False),
            "COLOR_0": buf.accessor(colors.astype(np.float32), "VEC4", ARRAY_BUFFER, False),
        }
        index_dtype = np.uint16 if len(mesh.vertices) <= 65535 else np.uint32
        indices = buf.accessor(mesh.triangles.reshape(-1).astype(index_dtype), "SCALAR", ELEMENT_ARRAY_BUFFER, False)
        primitive: dict = {"attributes": attributes, "indices": indices, "mode": 4, "material": 0}
        names = list(mesh.blendshapes)
        gl_mesh: dict = {"name": mesh.name, "primitives": [primitive]}
        if names:
            targets = []
            for name in names:
                d = mesh.blendshapes[name].astype(np.float32)
                acc = (buf.accessor(d, "VEC3", ARRAY_BUFFER, True) if dense_targets else buf.sparse_vec3(d))
                target = {"POSITION": acc}
                if name in mesh.blendshape_normals:
                    nd = mesh.blendshape_normals[name].astype(np.float32)
                    target["NORMAL"] = (buf.accessor(nd, "VEC3", ARRAY_BUFFER, False) if dense_targets
                                        else buf.sparse_vec3(nd, with_bounds=False))
                targets.append(target)
            primitive["targets"] = targets
            gl_mesh["weights"] = [0.0] * len(names)
            gl_mesh["extras"] = {"targetNames": names}
        gl_meshes.append(gl_mesh)
        node = {"name": mesh.name, "mesh": len(gl_meshes) - 1}
        if np.any(mesh.pivot != 0):
            node["translation"] = [float(v) for v in mesh.pivot]
        nodes.append(node)
        nodes[0]["children"].append(len(nodes) - 1)
    while len(buf.data) % 4:
        buf.data.append(0)
    doc = {
        "asset": {"version": "2.0", "generator": "vasa_bridge.avatar (procedural head)"},
        "scene": 0,
        "scenes": [{"name": "vasa_head", "nodes": [0]}],
        "nodes": nodes,
        "meshes": gl_meshes,
        "materials": [material],
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": len(buf.data)}],
        "extras": {"motion_layout_version": MOTION_LAYOUT_VERSION},
    }
    return doc, bytes(buf.data)


def glb_bytes(meshes, dense_targets: bool = False) -> bytes:
    """The complete .glb file: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    doc, binary = build_gltf(meshes, dense_targets)
    json_raw = json.dumps(doc, separators=(",", ":"), sort_keys=False).encode("utf-8")
    json_raw += b" " * (-len(json_raw) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(json_raw) + 8 + len(binary)
    return (struct.pack("<III", GLB_MAGIC, 2, total) + struct.pack("<II", len(json_raw), CHUNK_JSON) + json_raw
            + struct.pack("<II", len(binary), CHUNK_BIN) + binary)


def _rounded(a: np.ndarray) -> list:
    """Flat list of floats rounded to MESH_JSON_DECIMALS (and -0.0 turned into 0.0 so output is canonical)."""
    r = np.round(a.astype(np.float64).reshape(-1), MESH_JSON_DECIMALS) + 0.0
    return [0 if v == 0.0 else float(v) for v in r.tolist()]


def mesh_json_document(meshes) -> dict:
    out = []
    for mesh in meshes:
        out.append({
            "name": mesh.name,
            "pivot": _rounded(mesh.pivot),
            "vertices": _rounded(mesh.vertices),
            "normals": _rounded(mesh.normals),
            "colors": [round(float(v), 4) for v in mesh.colors.reshape(-1).tolist()],
            "triangles": [int(i) for i in mesh.triangles.reshape(-1).tolist()],
            "blendshapes": {name: _rounded(d) for name, d in mesh.blendshapes.items()},
        })
    return {"format": MESH_JSON_FORMAT, "motion_layout_version": MOTION_LAYOUT_VERSION, "units": "metres",
            "axes": "+Y up, face looks +Z, +X is the subject's left (glTF); Unity: negate x",
            "color_space": "sRGB", "winding": "counter-clockwise seen from outside", "meshes": out}


def write_avatar(meshes, out_dir: Path, dense_targets: bool = False) -> tuple[Path, Path]:
    """Write DIR/vasa_head.glb and DIR/vasa_head.mesh.json; returns their paths."""
    from vasa_bridge.avatar import AvatarError  # noqa: PLC0415 (avoid an import cycle at module load)

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        glb_path = out_dir / "vasa_head.glb"
        json_path = out_dir / "vasa_head.mesh.json"
        glb_path.write_bytes(glb_bytes(meshes, dense_targets))
        json_path.write_text(json.dumps(mesh_json_document(meshes), separators=(",", ":")) + "\n", encoding="utf-8")
    except OSError as e:
        raise AvatarError(f"cannot write the avatar to {out_dir}: {e.strerror or e}; pass a writable -o DIR") from e
    return glb_path, json_path


def read_mesh_json(path: Path) -> list[AvatarMesh]:
    """Load a mesh JSON back into AvatarMesh objects (for tests and tools)."""
    from vasa_bridge.avatar import AvatarError  # noqa: PLC0415

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AvatarError(f"cannot read avatar mesh JSON {path}: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != MESH_JSON_FORMAT:
        raise AvatarError(f"{path} is not a {MESH_JSON_FORMAT} mesh JSON (missing or wrong 'format')")
    meshes = []
    for m in doc["meshes"]:
        n = len(m["vertices"]) // 3
        meshes.append(AvatarMesh(
            name=m["name"],
            vertices=np.asarray(m["vertices"], dtype=np.float32).reshape(n, 3),
            normals=np.asarray(m["normals"], dtype=np.float32).reshape(n, 3),
            colors=np.asarray(m["colors"], dtype=np.float32).reshape(n, 4),
            triangles=np.asarray(m["triangles"], dtype=np.uint32).reshape(-1, 3),
            pivot=np.asarray(m["pivot"], dtype=np.float32),
            blendshapes={k: np.asarray(v, dtype=np.float32).reshape(n, 3) for k, v in m["blendshapes"].items()},
        ))
    return meshes
