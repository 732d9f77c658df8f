"""What a viewer notices on the portraits users bring (issue 20), measured on the rendered pixels with the face
mesh where it can be: framing without invented pixels, head distance as a small smooth zoom, lips that close at
zero aperture on a smiling photo and open linearly with it, colour matched to the photo, clear messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.render import measure
from vasa_bridge.render.errors import PortraitError
from vasa_bridge.render.portrait import Portrait
from vasa_bridge.render.renderer import HEAD_SCALE_STEP, Renderer

SIZE = 256
ASTRONAUT = skimage.data.astronaut()
TIGHT = ASTRONAUT[50:200, 160:290]          # the face fills the photo: less room than a head-and-shoulders crop


def _frames(n: int, **channels: "float | np.ndarray") -> np.ndarray:
    clip = MotionClip.neutral(n)
    for name, value in channels.items():
        clip.frames[:, layout.channel(name)] = value
    return clip.frames


@pytest.fixture(scope="module")
def astronaut() -> Portrait:
    return Portrait.prepare(ASTRONAUT, SIZE)


# ---- 1. framing ------------------------------------------------------------------------------------------------
def test_tight_crop_is_framed_without_replicated_edge_streaks() -> None:
    portrait = Portrait.prepare(TIGHT, SIZE)
    # Edge replication streaked 20% of this frame; the photo's own framing plus a plain fill streaks none of it.
    assert measure.replicated_edge_fraction(portrait.image) < 0.02
    assert portrait.filled_fraction < 0.25
    assert any("cropped close" in n for n in portrait.notes)


def test_roomy_photo_is_cropped_from_real_pixels_only(astronaut: Portrait) -> None:
    assert astronaut.filled_fraction == 0.0 and not astronaut.notes
    assert measure.replicated_edge_fraction(astronaut.image) < 0.002


def test_face_cut_off_by_the_photo_edge_is_reported() -> None:
    portrait = Portrait.prepare(ASTRONAUT[90:, 60:460], SIZE)       # the forehead is cut by the top edge
    assert any("cut off" in n and "top" in n for n in portrait.notes)


# ---- 2. head distance ------------------------------------------------------------------------------------------
HEAD_Z_JUMPS = [0.6, 0.6, 0.5, 0.5, 0.7, 0.45, 0.6, 0.8, 0.8, 0.5, 0.5, 0.5]


def test_head_distance_is_a_small_smooth_scale_on_the_pixels(astronaut: Portrait) -> None:
    renderer = Renderer(astronaut)
    out = renderer.render(_frames(len(HEAD_Z_JUMPS), headZ=np.array(HEAD_Z_JUMPS)), renderer.new_stream())
    heights = np.array([measure.face_height_px(f, astronaut.points) for f in out])
    steps = np.abs(np.diff(heights)) / heights[:-1]
    # Unsmoothed, these 10-20 cm jumps scaled the face by 9-20% between frames. The mesh's own jitter on a
    # still face is ~0.5%, hence 2% here; the exact per-frame bound is checked on the geometry below.
    assert steps.max() < 0.02
    assert heights.max() / heights.min() < 1.05


def test_head_scale_steps_stay_under_one_percent_and_move_the_hair_with_the_face(astronaut: Portrait) -> None:
    renderer = Renderer(astronaut)
    frames = torch.tensor(_frames(len(HEAD_Z_JUMPS), headZ=np.array(HEAD_Z_JUMPS)))
    pos = renderer.vertex_positions(frames, renderer.new_stream()).numpy()       # (T, V, 2)
    origin = renderer.rig.origin_px
    n_mesh = astronaut.points.shape[0]
    face = np.linalg.norm(pos[:, :n_mesh] - origin, axis=2).mean(1)
    assert (np.abs(np.diff(face)) / face[:-1]).max() <= HEAD_SCALE_STEP + 1e-4
    assert face.max() / face.min() < 1.05
    # The ring around the face (hair, ears) scales exactly like the face: the head does not swell inside it.
    ring = slice(n_mesh, n_mesh + 36)
    rest = renderer.rig.vertices_px
    face_ratio = np.linalg.norm(pos[:, :n_mesh] - origin, axis=2).mean(1) / np.linalg.norm(
        rest[:n_mesh] - origin, axis=1).mean()
    ring_ratio = np.linalg.norm(pos[:, ring] - origin, axis=2).mean(1) / np.linalg.norm(
        rest[ring] - origin, axis=1).mean()
    assert np.abs(face_ratio - ring_ratio).max() < 0.003


def test_without_a_stream_head_scale_is_a_pure_function_under_one_percent_a_frame(astronaut: Portrait) -> None:
    """A renderer shared by sidecar sessions gets no stream: each frame's scale depends on its own headZ only, and
    the shipped model's frame-to-frame headZ jitter (up to 0.095 in d0/d) moves it by under 1 %."""
    renderer = Renderer(astronaut)
    d0 = layout.DEFAULT_HEAD_DISTANCE_M
    ratio = 1.0 + 0.095 * np.array([0, 1, 0, -1, 0, 1, 2, 1, 0])               # d0/d, jittering by 0.095
    frames = torch.tensor(_frames(len(ratio), headZ=d0 / ratio))
    pos = renderer.vertex_positions(frames).numpy()
    face = np.linalg.norm(pos[:, :468] - renderer.rig.origin_px, axis=2).mean(1)
    assert (np.abs(np.diff(face)) / face[:-1]).max() < 0.01
    assert np.array_equal(renderer.vertex_positions(frames[4:5]).numpy()[0], pos[4])   # no state between calls


def test_a_one_clip_renderer_smooths_head_distance_across_its_batches(astronaut: Portrait) -> None:
    """What `animate` uses: RenderOptions(smooth_head_distance=True) carries the smoothing between render calls."""
    from vasa_bridge.render.renderer import RenderOptions
    renderer = Renderer(astronaut, options=RenderOptions(smooth_head_distance=True))
    frames = torch.tensor(_frames(len(HEAD_Z_JUMPS), headZ=np.array(HEAD_Z_JUMPS)))
    pos = np.concatenate([renderer.vertex_positions(frames[i:i + 3]).numpy() for i in range(0, len(frames), 3)])
    face = np.linalg.norm(pos[:, :468] - renderer.rig.origin_px, axis=2).mean(1)
    assert (np.abs(np.diff(face)) / face[:-1]).max() <= HEAD_SCALE_STEP + 1e-4


def test_sessions_sharing_a_renderer_keep_their_own_head_scale(astronaut: Portrait) -> None:
    renderer = Renderer(astronaut)
    near, level = renderer.new_stream(), renderer.new_stream()
    for _ in range(3):       # interleaved calls, as a sidecar serving two sessions on one portrait makes them
        renderer.render(_frames(4, headZ=0.4), stream=near)
        out = renderer.render(_frames(1), stream=level)
    assert near.scale > 1.02 and level.scale == 1.0
    assert np.array_equal(out[0], Renderer(astronaut).render(_frames(1))[0])


# ---- 3./4. lips: the photo's smile is the rest pose; the gap follows the aperture ------------------------------
def test_smiling_photo_closes_its_lips_at_zero_aperture_without_flicker(astronaut: Portrait) -> None:
    """The astronaut smiles with her teeth showing (lip gap 0.15 IOD in the photo). A p/b/m run of frames at
    aperture <= 0.02 must show closed lips on every frame, not the grin coming back a frame later."""
    jaw = np.array([0.3, 0.05, 0.0, 0.01, 0.0, 0.02, 0.0, 0.05, 0.3])
    close = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.0, 0.0, 0.0])
    out = Renderer(astronaut).render(_frames(len(jaw), jawOpen=jaw, mouthClose=close))
    gaps = np.array([m.lip_gap_iod for m in measure.measure_frames(out, astronaut.points)])
    closed = gaps[jaw - close <= 0.02]
    assert closed.max() < 0.075                        # the mesh reads 0.05 on sealed lips, 0.15 on the grin
    assert closed.max() - closed.min() < 0.02
    assert gaps[0] > closed.max() + 0.05


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_lip_gap_is_linear_in_aperture_over_the_speech_range(name: str) -> None:
    if name == "astronaut":
        portrait = Portrait.prepare(ASTRONAUT, SIZE)
    else:
        import matplotlib.cbook
        portrait = Portrait.prepare(np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))), SIZE)
    report = measure.aperture_sweep(portrait, Renderer(portrait))
    assert report.r >= 0.9
    # Linear through closed lips: the fitted line meets aperture 0 near the sealed-lip reading (~0.05 IOD),
    # not at the photo's own opening, and it climbs visibly (the gap saturated at 0.1-0.35 before).
    assert report.gap_at_zero_iod < 0.08
    assert report.slope_iod_per_aperture > 0.25


# ---- 5. colour ---------------------------------------------------------------------------------------------------
def test_greyscale_portrait_renders_greyscale_mouth_and_eyes() -> None:
    grey = np.repeat(ASTRONAUT.mean(-1, keepdims=True).astype(np.uint8), 3, axis=2)
    portrait = Portrait.prepare(grey, SIZE)
    out = Renderer(portrait).render(_frames(3, jawOpen=np.array([0.2, 0.4, 1.0]), eyeBlinkLeft=1.0,
                                            eyeBlinkRight=1.0))
    y, x = Renderer(portrait).mark.top_left
    out[:, y:, x:] = out[:, y:, x:].mean(-1, keepdims=True).astype(np.uint8)     # the mark is coloured on purpose
    assert all(measure.is_greyscale(f) for f in out)


# ---- 7./8. pose range, several faces, messages ------------------------------------------------------------------
def test_several_faces_choose_with_face_and_say_which(tmp_path: Path) -> None:
    small = np.asarray(Image.fromarray(ASTRONAUT).resize((410, 410)))
    canvas = np.full((512, 1024, 3), 200, np.uint8)
    canvas[:, :512] = ASTRONAUT
    canvas[102:, 563:973] = small
    default = Portrait.prepare(canvas, SIZE)
    assert any("animating face 1, the largest" in n for n in default.notes)
    second = Portrait.prepare(canvas, SIZE, face=2)
    assert any("animating face 2" in n for n in second.notes)
    assert second.interocular_px == pytest.approx(default.interocular_px, rel=0.1)
    assert not np.array_equal(second.image, default.image)
    with pytest.raises(PortraitError, match="shows 2 faces"):
        Portrait.prepare(canvas, SIZE, face=3)


def test_cat_photo_is_told_plainly_that_it_has_no_human_face(tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    Image.fromarray(skimage.data.chelsea()).save(path)
    with pytest.raises(PortraitError, match="no human face found in cat.jpg") as e:
        Portrait.prepare(path, SIZE)
    assert "presence" not in str(e.value)


def test_face_turned_past_45_degrees_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "cameraman.png"
    Image.fromarray(skimage.data.camera()).save(path)                  # a profile-like view, ~48 degrees
    with pytest.raises(PortraitError, match="turned about .* degrees"):
        Portrait.prepare(path, SIZE)


# ---- 6. eyes -------------------------------------------------------------------------------------------------------
def test_full_blink_closes_the_eyes_on_the_pixels(astronaut: Portrait) -> None:
    out = Renderer(astronaut).render(_frames(2, eyeBlinkLeft=np.array([0.0, 1.0]), eyeBlinkRight=np.array([0.0, 1.0])))
    rest, blink = (np.mean(m.eye_open) for m in measure.measure_frames(out, astronaut.points))
    # Before, the photo's white showed below the closed lids as a crescent and the mesh read the eye as 0.37 of its
    # rest openness; closed lids drawn over the whole visible eye read 0.31 (the mesh never reads a closed eye as 0).
    assert blink < 0.345 * rest


def test_upper_lids_follow_the_gaze_and_still_meet_on_a_blink(astronaut: Portrait) -> None:
    """Checked on the geometry: the face mesh reads eye openness the same whether the iris looks up or down."""
    from vasa_bridge.render import topology as topo
    renderer = Renderer(astronaut)
    blink = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    frames = _frames(5, gazePitch=np.array([0.0, -0.5, 0.5, -0.5, 0.5]), eyeBlinkLeft=blink, eyeBlinkRight=blink)
    pos = renderer.vertex_positions(torch.tensor(frames)).numpy()
    eye = topo.EYE_IMAGE_LEFT
    top, bottom = eye.upper[4], eye.lower[4]                        # mid upper / lower lid
    opening = pos[:, bottom, 1] - pos[:, top, 1]
    assert pos[1, top, 1] > pos[0, top, 1] + 0.25 * opening[0]      # looking down lowers the upper lid
    assert pos[2, top, 1] < pos[0, top, 1] - 0.25 * opening[0]      # looking up raises it
    assert np.abs(opening[3:]).max() < 0.05 * opening[0]            # a blink still closes, whatever the gaze


# ---- 5. teeth -----------------------------------------------------------------------------------------------------
def test_synthesized_teeth_show_individual_teeth_not_a_flat_band() -> None:
    """Grace Hopper's photo shows no teeth: opened to aperture 0.4, the row under the upper lip must read as
    separate teeth (dark gaps between bright crowns), where a flat "mouthguard" band showed none."""
    import matplotlib.cbook
    from scipy.signal import find_peaks
    photo = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")))
    portrait = Portrait.prepare(photo, 512)
    renderer = Renderer(portrait)
    frame = renderer.render(_frames(1, jawOpen=0.4))[0].astype(np.float32).mean(-1)
    pos = renderer.vertex_positions(torch.tensor(_frames(1, jawOpen=0.4)))[0].numpy()
    iod = renderer.rig.iod_px
    row = int(round(pos[13, 1] + 0.05 * iod))                 # through the crowns, under the upper inner lip
    x0, x1 = int(pos[13, 0] - 0.3 * iod), int(pos[13, 0] + 0.3 * iod)
    profile = frame[row, x0:x1]
    gaps, _ = find_peaks(-profile, prominence=8.0)
    assert len(gaps) >= 3



# ---- 9. the portrait set and its evaluation --------------------------------------------------------------------
def test_portrait_set_names_a_package_file_for_each_portrait_and_covers_the_variety() -> None:
    from vasa_bridge.render.portrait_set import DERIVATIONS, PORTRAIT_SET
    assert len(PORTRAIT_SET) >= 12 and len({p.name for p in PORTRAIT_SET}) == len(PORTRAIT_SET)
    covers = " ".join(p.covers for p in PORTRAIT_SET)
    for kind in ("photo", "painting", "drawing", "greyscale", "glasses", "beard", "3/4", "tight", "small face",
                 "no human face"):
        assert kind in covers, kind
    assert all(p.origin.split(":")[0] in ("python", "deb") and p.path for p in PORTRAIT_SET)
    assert all(p.derive in DERIVATIONS for p in PORTRAIT_SET if p.derive)


def test_missing_debian_files_are_skipped_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vasa_bridge.render import portrait_set
    monkeypatch.setattr(portrait_set, "_extract_debs", lambda packages, cache, log: log("offline"))
    said: list[str] = []
    images = portrait_set.fetch_portrait_set(tmp_path, log=said.append)
    assert "astronaut" in images and "grace-hopper-grey" in images and "dwarf-explorer" not in images
    assert measure.is_greyscale(images["grace-hopper-grey"])
    assert any("skipping dwarf-explorer" in s for s in said)


def test_set_evaluation_passes_the_photos_refuses_the_cat_and_draws_a_contact_sheet(tmp_path: Path) -> None:
    from vasa_bridge.render import portrait_set, set_eval
    chosen = {"astronaut", "astronaut-tight", "cat"}
    images = {e.name: portrait_set.DERIVATIONS[e.derive](ASTRONAUT) if e.derive else
              (skimage.data.chelsea() if e.name == "cat" else ASTRONAUT)
              for e in portrait_set.PORTRAIT_SET if e.name in chosen}
    results = set_eval.evaluate_set(images, SIZE)
    by_name = {r.entry.name: r for r in results}
    assert by_name["cat"].passed and "no human face" in by_name["cat"].refusal
    for name in ("astronaut", "astronaut-tight"):
        f = by_name[name].figures
        assert by_name[name].passed, by_name[name].failures
        assert f["lip_r"] >= 0.9 and f["closed_gap"] <= set_eval.CLOSED_GAP_MAX_IOD
    lines = set_eval.table_lines(results)
    assert any(line.startswith("| astronaut-tight |") and line.endswith("| pass |") for line in lines)
    assert "median lip r" in lines[-1]
    sheet = tmp_path / "sheet.png"
    set_eval.save_contact_sheet(results, sheet)
    im = Image.open(sheet)
    assert im.width >= 10 * set_eval.SHEET_TILE_PX                   # two portraits x five tiles, two columns
    assert im.text.get("comment", "").startswith("AI-generated")


def test_line_drawing_gets_a_two_tone_mouth_interior() -> None:
    from vasa_bridge.render.portrait_set import DERIVATIONS
    drawing = DERIVATIONS["line_drawing"](ASTRONAUT)
    portrait = Portrait.prepare(drawing, SIZE)
    renderer = Renderer(portrait)
    frames = _frames(1, jawOpen=0.6)
    out = renderer.render(frames)[0].astype(np.float32).mean(-1)
    pos = renderer.vertex_positions(torch.tensor(frames))[0].numpy()
    from vasa_bridge.render import topology as topo
    from vasa_bridge.render.rig import polygon_mask
    inside = polygon_mask(pos[list(topo.inner_lip_polygon())], SIZE, SIZE)
    grey = out[inside]
    # Ink, paper and the drawing's own antialiased lines: 23 % mid-greys; the shaded interior of a photo had 45 %.
    assert len(grey) > 100
    assert np.mean((grey > 50) & (grey < 205)) < 0.3
