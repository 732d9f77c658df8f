"""The head's parts besides the skin, and the assembly: eyeballs, eyelids, ears, the mouth interior (cavity, teeth,
tongue), and `build_head`, which puts them together with the skin of `head.py` (landmarks, colours and the mesh
helpers live there)."""

from __future__ import annotations

import numpy as np

from vasa_bridge.avatar.head import (AvatarMesh, CAVITY, EAR, EYE_PROTRUSION_M, EYE_RADIUS_M, EYE_X_M, EYE_Y_M,
                                     HeadModel, HeadRig, IRIS_RGB, LASH_RGB, LID, LID_CORNER_AZIMUTH_RAD,
                                     LID_EDGE_ELEVATION_RAD, LID_GAP_M, LID_RGB, LIMBUS_RGB, LOWER_LID_OPEN_RAD,
                                     MOUTH_RGB, MOUTH_Y_M, PUPIL_RGB, SCLERA_RGB, SKIN, SKIN_RGB, TEETH_LOWER,
                                     TEETH_RGB, TEETH_UPPER, TONGUE, TONGUE_RGB, UPPER_LID_OPEN_RAD, build_skin,
                                     front_surface_z, mix_rgb, rgb, slice_points, smoothstep, sphere, vertex_normals)


# ---- eyes and lids ---------------------------------------------------------------------------------------------
def _eye_mesh(name: str, center: np.ndarray) -> AvatarMesh:
    """An eyeball around the origin (the node sits at `center`): pupil, iris with a dark rim, sclera. Rings are
    doubled at each colour edge so vertex-colour interpolation keeps the iris crisp."""
    edges = np.deg2rad([10.0, 11.0, 29.0, 30.5, 33.0, 34.0])
    polar = np.concatenate([np.deg2rad([5.0]), edges, np.deg2rad(np.arange(45.0, 180.0, 15.0))])
    unit, tris, polar_of = sphere(np.sort(polar), 28)
    # the cornea bulges a little over the iris
    bulge = 1.0 + 0.06 * np.cos(np.clip(polar_of / np.deg2rad(34.0), 0, 1) * np.pi / 2) ** 2
    vertices = unit * (EYE_RADIUS_M * bulge)[:, None]
    deg = np.rad2deg(polar_of)
    col = np.tile(rgb(SCLERA_RGB), (len(unit), 1))
    col[deg < 33.5] = LIMBUS_RGB
    col[deg < 30.0] = IRIS_RGB
    col[deg < 20.0] = np.asarray(IRIS_RGB) * 0.75  # a darker inner iris reads as depth
    col[deg < 10.5] = PUPIL_RGB
    colors = np.concatenate([col, np.ones((len(unit), 1))], axis=1)
    return AvatarMesh(name=name, vertices=vertices.astype(np.float32),
                      normals=vertex_normals(vertices, tris).astype(np.float32), colors=colors.astype(np.float32),
                      triangles=tris.astype(np.uint32), pivot=np.asarray(center, dtype=np.float32))


def lid_point(center: np.ndarray, radius: float, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """A point on an eyelid shell around an eye centre (azimuth around Y, + toward +X; elevation + up)."""
    return np.asarray(center) + radius * np.stack(
        [np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)], axis=1)


def lid_margin_elevation(azimuth: np.ndarray, upper: bool) -> np.ndarray:
    """Rest elevation of the lid margin: widest over the pupil, meeting the other lid at the eye corners."""
    q = np.clip(np.abs(azimuth) / LID_CORNER_AZIMUTH_RAD, 0.0, 1.0)
    shape = np.cos(q * np.pi / 2) ** 0.7
    return (UPPER_LID_OPEN_RAD if upper else LOWER_LID_OPEN_RAD) * shape


def _lid_edge_elevation(azimuth: np.ndarray, upper: bool) -> np.ndarray:
    q = np.clip(np.abs(azimuth) / LID_CORNER_AZIMUTH_RAD, 0.0, 1.0)
    edge = LID_EDGE_ELEVATION_RAD * (0.35 + 0.65 * np.cos(q * np.pi / 2) ** 0.5)
    return edge if upper else -edge


def _build_lid(center: np.ndarray, side: float, upper: bool) -> dict[str, np.ndarray]:
    """One eyelid: a band of a sphere shell from its margin (row 0) to a hidden edge under the skin."""
    n_az, n_u = 21, 8
    az = np.linspace(-LID_CORNER_AZIMUTH_RAD, LID_CORNER_AZIMUTH_RAD, n_az)
    u = np.linspace(0.0, 1.0, n_u) ** 1.3  # denser toward the margin, where it bends most
    A, U = np.meshgrid(az, u)  # (n_u, n_az)
    A, U = A.ravel(), U.ravel()
    margin = lid_margin_elevation(A, upper)
    edge = _lid_edge_elevation(A, upper)
    elev = margin + (edge - margin) * U
    radius = EYE_RADIUS_M + LID_GAP_M
    verts = lid_point(center, radius, A, elev)
    tris = []
    for r in range(n_u - 1):
        for c in range(n_az - 1):
            a, b, cc, d = r * n_az + c, r * n_az + c + 1, (r + 1) * n_az + c + 1, (r + 1) * n_az + c
            # rows run away from the margin: upward for the upper lid, downward for the lower one; keep CCW
            tris += [(a, b, cc), (a, cc, d)] if upper else [(a, cc, b), (a, d, cc)]
    col = np.tile(rgb(LID_RGB), (len(verts), 1))
    margin_t = smoothstep(0.12, 0.0, U)
    col = mix_rgb(col, LASH_RGB if upper else (0.85, 0.55, 0.50), margin_t * (1.0 if upper else 0.8))
    return {"vertices": verts, "triangles": np.asarray(tris, dtype=np.int64), "colors": col,
            "u": U, "azimuth": A, "margin": margin, "edge": edge, "side": np.full(len(verts), side),
            "upper": np.full(len(verts), upper)}


# ---- mouth interior, ears --------------------------------------------------------------------------------------
def _ellipsoid(center, radii, n_rings: int, n_seg: int, inward: bool = False):
    polar = np.linspace(0.0, np.pi, n_rings + 2)[1:-1]
    unit, tris, _ = sphere(polar, n_seg)
    verts = unit * np.asarray(radii) + np.asarray(center)
    if inward:
        tris = tris[:, ::-1]
    return verts, tris


def _teeth_row(arch_center_z: float, arch_radii: tuple[float, float], y_bottom: float, y_top: float):
    """A curved band of teeth along the dental arch: a front face and a back face (so it shows from inside too),
    with thin gaps darkened between teeth."""
    n = 25
    psi = np.linspace(-np.deg2rad(70), np.deg2rad(70), n)
    thickness = 0.0025

    def arch(rx: float, rz: float) -> np.ndarray:
        return np.stack([rx * np.sin(psi), np.zeros(n), arch_center_z + rz * np.cos(psi)], axis=1)

    outer = arch(arch_radii[0], arch_radii[1])
    inner = arch(arch_radii[0] - thickness, arch_radii[1] - thickness)
    verts = []
    for ring in (outer, inner):
        for yy in (y_bottom, y_top):
            r = ring.copy()
            r[:, 1] = yy
            verts.append(r)
    verts = np.concatenate(verts)  # outer-bottom, outer-top, inner-bottom, inner-top; n each
    ob, ot, ib, it = 0, n, 2 * n, 3 * n
    tris = []
    for c in range(n - 1):
        tris += [(ob + c, ob + c + 1, ot + c + 1), (ob + c, ot + c + 1, ot + c)]  # front, facing out
        tris += [(ib + c, it + c + 1, ib + c + 1), (ib + c, it + c, it + c + 1)]  # back, facing in
        tris += [(ob + c, ib + c + 1, ob + c + 1), (ob + c, ib + c, ib + c + 1)]  # bottom edge
        tris += [(ot + c, ot + c + 1, it + c + 1), (ot + c, it + c + 1, it + c)]  # top edge
    col = np.tile(rgb(TEETH_RGB), (len(verts), 1))
    gap = np.tile((np.arange(n) % 3 == 0) & (np.abs(np.arange(n) - n // 2) > 1), 4)
    col[gap] *= 0.8
    col[np.abs(psi[np.arange(len(verts)) % n]) > np.deg2rad(55)] *= 0.75  # back teeth in shadow
    return verts, np.asarray(tris, dtype=np.int64), col


def _build_interior() -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Mouth cavity (facing inward, so only its far walls show through the parted lips), teeth, tongue."""
    lip_z = front_surface_z(0.0, MOUTH_Y_M) + 0.006
    parts = []
    cav_v, cav_t = _ellipsoid((0.0, MOUTH_Y_M - 0.004, lip_z - 0.034), (0.027, 0.019, 0.036), 10, 20, inward=True)
    parts.append((CAVITY, cav_v, cav_t, np.tile(rgb(MOUTH_RGB), (len(cav_v), 1))))
    arch_z = lip_z - 0.027
    tv, tt, tc = _teeth_row(arch_z, (0.021, 0.0205), MOUTH_Y_M + 0.0005, MOUTH_Y_M + 0.0095)
    parts.append((TEETH_UPPER, tv, tt, tc))
    tv, tt, tc = _teeth_row(arch_z - 0.0015, (0.0195, 0.019), MOUTH_Y_M - 0.0085, MOUTH_Y_M - 0.0005)
    parts.append((TEETH_LOWER, tv, tt, tc))
    tg_v, tg_t = _ellipsoid((0.0, MOUTH_Y_M - 0.0085, lip_z - 0.032), (0.016, 0.0055, 0.022), 8, 16)
    tg_c = np.tile(rgb(TONGUE_RGB), (len(tg_v), 1))
    tg_c[:, :] *= (0.85 + 0.15 * smoothstep(-0.004, 0.004, tg_v[:, 1] - (MOUTH_Y_M - 0.0085)))[:, None]
    parts.append((TONGUE, tg_v, tg_t, tg_c))
    return parts


def _build_ears() -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    parts = []
    for sign in (1.0, -1.0):
        x_side = slice_points(0.035, np.array([sign * np.pi / 2]))[0, 0]
        v, t = _ellipsoid((0.0, 0.0, 0.0), (0.0065, 0.027, 0.015), 10, 16)
        tilt = np.deg2rad(-12.0)  # ears lean back a little
        rot = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
        v = v @ rot.T + np.array([x_side + sign * 0.002, 0.036, -0.012])
        col = np.tile(rgb(SKIN_RGB), (len(v), 1))
        col = mix_rgb(col, (0.86, 0.62, 0.54), 0.6 * smoothstep(0.2, 0.8, np.abs(v[:, 0] - x_side) / 0.01))
        parts.append((EAR, v, t, col))
    return parts


# ---- assembly ----------------------------------------------------------------------------------------------
def eye_centers() -> np.ndarray:
    """(2, 3): the subject's left eye (+X) then the right eye."""
    out = []
    for ex in (EYE_X_M, -EYE_X_M):
        z = front_surface_z(ex, EYE_Y_M) + EYE_PROTRUSION_M - EYE_RADIUS_M
        out.append([ex, EYE_Y_M, z])
    return np.asarray(out)


def build_head() -> HeadModel:
    """Build the neutral head (deterministic: no randomness anywhere)."""
    eyes = eye_centers()
    skin_v, skin_t, skin_c, skin_lip_side, mouth_row_vertices = build_skin(eyes)

    chunks_v, chunks_t, chunks_c, chunks_part = [skin_v], [skin_t], [skin_c[:, :3]], [np.full(len(skin_v), SKIN)]
    lip_side = [skin_lip_side]
    lid_field_names = ("side", "upper", "u", "azimuth", "margin", "edge")
    lid_fields: dict[str, list[np.ndarray]] = {k: [np.zeros(len(skin_v))] for k in lid_field_names}
    offset = len(skin_v)

    def add(part: int, v: np.ndarray, t: np.ndarray, c: np.ndarray, side_of_cut: np.ndarray,
            lid: dict[str, np.ndarray] | None = None) -> None:
        nonlocal offset
        chunks_v.append(v)
        chunks_t.append(t + offset)
        chunks_c.append(c)
        chunks_part.append(np.full(len(v), part))
        lip_side.append(side_of_cut)
        for k in lid_field_names:
            lid_fields[k].append(lid[k].astype(np.float64) if lid is not None else np.zeros(len(v)))
        offset += len(v)

    for center, side in ((eyes[0], 1.0), (eyes[1], -1.0)):
        for upper in (True, False):
            lid = _build_lid(center, side, upper)
            add(LID, lid["vertices"], lid["triangles"], lid["colors"], np.zeros(len(lid["vertices"])), lid)
    for part, v, t, c in _build_ears():
        add(part, v, t, c, np.zeros(len(v)))
    for part, v, t, c in _build_interior():
        if part == TEETH_UPPER:
            cut = np.ones(len(v))
        elif part in (TEETH_LOWER, TONGUE):
            cut = -np.ones(len(v))
        else:  # the cavity: its floor goes with the jaw (shapes.py uses a smooth weight there)
            cut = np.where(v[:, 1] < MOUTH_Y_M - 0.004, -1.0, 1.0)
        add(part, v, t, c, cut)

    vertices = np.concatenate(chunks_v)
    triangles = np.concatenate(chunks_t)
    colors = np.concatenate([np.concatenate(chunks_c), np.ones((len(vertices), 1))], axis=1)
    normals = vertex_normals(vertices, triangles)
    head = AvatarMesh(name="head", vertices=vertices.astype(np.float32), normals=normals.astype(np.float32),
                      colors=np.clip(colors, 0, 1).astype(np.float32), triangles=triangles.astype(np.uint32),
                      pivot=np.zeros(3, dtype=np.float32))
    rig = HeadRig(part=np.concatenate(chunks_part), lip_side=np.concatenate(lip_side),
                  side=np.concatenate(lid_fields["side"]), lid_upper=np.concatenate(lid_fields["upper"]) > 0.5,
                  lid_u=np.concatenate(lid_fields["u"]), lid_azimuth=np.concatenate(lid_fields["azimuth"]),
                  lid_margin=np.concatenate(lid_fields["margin"]), lid_edge=np.concatenate(lid_fields["edge"]),
                  eye_centers=eyes, lid_radius_m=EYE_RADIUS_M + LID_GAP_M, mouth_row_vertices=mouth_row_vertices)
    return HeadModel(head=head, eye_left=_eye_mesh("eyeLeft", eyes[0]), eye_right=_eye_mesh("eyeRight", eyes[1]),
                     rig=rig)
