"""Renderer inputs and outputs: awkward portraits, landmark files, mp4 muxing and A/V sync, marking, JPEG, CLI."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import soundfile as sf
from PIL import Image

from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.motion import layout
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.clip_io import write_clip
from vasa_bridge.render import topology as topo
from vasa_bridge.render.errors import PortraitError
from vasa_bridge.render.marking import MARK_TEXT, SyntheticMark
from vasa_bridge.render.portrait import Portrait, load_image
from vasa_bridge.render.renderer import Renderer, RenderOptions
from vasa_bridge.render.video import encode_jpeg, encode_rgba, probe_mp4

SIZE = 256
ASTRONAUT = skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_portrait() -> Portrait:
    return Portrait.prepare(ASTRONAUT, SIZE)


def _save(tmp_path: Path, name: str, im: Image.Image, **kwargs: object) -> Path:
    path = tmp_path / name
    im.save(path, **kwargs)
    return path


# ---- awkward portraits ---------------------------------------------------------------------------------------
def test_no_face_names_the_landmarks_option(tmp_path: Path) -> None:
    path = _save(tmp_path, "wall.png", Image.new("RGB", (320, 320), (180, 170, 160)))
    with pytest.raises(PortraitError, match="--landmarks"):
        Portrait.prepare(path, SIZE)


def test_tiny_image_is_refused_clearly(tmp_path: Path) -> None:
    path = _save(tmp_path, "tiny.png", Image.fromarray(ASTRONAUT).resize((40, 40)))
    with pytest.raises(PortraitError, match="at least"):
        Portrait.prepare(path, SIZE)


def test_corrupt_and_missing_files_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" + bytes(range(200)))
    with pytest.raises(PortraitError, match="corrupt|not an image"):
        Portrait.prepare(bad, SIZE)
    with pytest.raises(PortraitError, match="does not exist"):
        Portrait.prepare(tmp_path / "nope.png", SIZE)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK"])
def test_grayscale_rgba_and_cmyk_files_are_converted(tmp_path: Path, mode: str) -> None:
    im = Image.fromarray(ASTRONAUT).convert(mode)
    path = _save(tmp_path, f"astronaut_{mode}.{'jpg' if mode == 'CMYK' else 'png'}", im)
    rgb, _ = load_image(path)
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    portrait = Portrait.prepare(path, SIZE)
    assert portrait.image.shape == (SIZE, SIZE, 3)


def test_exif_rotated_photo_is_turned_upright(tmp_path: Path, astronaut_portrait: Portrait) -> None:
    # Stored sideways with EXIF orientation 6 ("rotate 90 CW to display"), as phones write portraits.
    sideways = Image.fromarray(ASTRONAUT).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path, "phone.jpg", sideways, exif=exif, quality=95)
    rgb, _ = load_image(path)
    assert rgb.shape[:2] == ASTRONAUT.shape[:2]
    portrait = Portrait.prepare(path, SIZE)
    # Same face, upright: eyes level and near where they are in the upright original.
    assert abs(portrait.iris[0, 0, 1] - portrait.iris[1, 0, 1]) < 0.05 * SIZE
    assert np.abs(portrait.iris[:, 0] - astronaut_portrait.iris[:, 0]).max() < 0.05 * SIZE


def test_uploaded_bytes_prepare_like_a_file(astronaut_portrait: Portrait) -> None:
    """The sidecar receives the portrait as bytes in the open request."""
    buf = io.BytesIO()
    Image.fromarray(ASTRONAUT).save(buf, format="PNG")
    portrait = Portrait.prepare(buf.getvalue(), SIZE)
    assert np.array_equal(portrait.image, astronaut_portrait.image)
    with pytest.raises(PortraitError):
        Portrait.prepare(b"GIF89a-garbage", SIZE)


def test_huge_photo_is_downscaled_not_refused(tmp_path: Path) -> None:
    big = np.asarray(Image.fromarray(ASTRONAUT).resize((8000, 8000), Image.BILINEAR))
    portrait = Portrait.prepare(big, SIZE)
    assert portrait.image.shape == (SIZE, SIZE, 3)
    assert 0.12 * SIZE < portrait.interocular_px < 0.3 * SIZE


def test_several_faces_animate_the_largest_and_say_so(astronaut_portrait: Portrait) -> None:
    small = np.asarray(Image.fromarray(ASTRONAUT).resize((410, 410)))     # a second, smaller astronaut
    canvas = np.full((512, 1024, 3), 200, np.uint8)
    canvas[:, :512] = ASTRONAUT
    canvas[102:, 563:973] = small
    portrait = Portrait.prepare(canvas, SIZE)
    assert any("faces found" in n for n in portrait.notes)
    assert abs(portrait.interocular_px - astronaut_portrait.interocular_px) < 0.1 * astronaut_portrait.interocular_px


# ---- landmark files --------------------------------------------------------------------------------------------
def test_keypoint_landmarks_rig_a_face_the_detector_cannot_see(tmp_path: Path) -> None:
    """An 'artwork' the detector misses (the astronaut as a colour negative), rigged from five clicked points."""
    sketch = 255 - ASTRONAUT
    path = _save(tmp_path, "negative.png", Image.fromarray(sketch))
    with pytest.raises(PortraitError, match="--landmarks"):
        Portrait.prepare(path, SIZE)
    mesh = topo.reference_mesh()   # the astronaut's own mesh: the true positions of the clicked points
    eye = lambda e: mesh[list(e.upper + e.lower), :2].mean(0).tolist()  # noqa: E731
    keypoints = {"right_eye": eye(topo.EYE_IMAGE_LEFT), "left_eye": eye(topo.EYE_IMAGE_RIGHT),
                 "nose_tip": mesh[topo.NOSE_TIP, :2].tolist(),
                 "mouth_right": mesh[topo.MOUTH_CORNER_IMAGE_LEFT, :2].tolist(),
                 "mouth_left": mesh[topo.MOUTH_CORNER_IMAGE_RIGHT, :2].tolist()}
    lm = tmp_path / "sketch.json"
    lm.write_text(json.dumps({"keypoints": keypoints}))
    portrait = Portrait.prepare(path, SIZE, landmarks_json=lm)
    frames = MotionClip.neutral(2).frames
    frames[1, layout.channel("jawOpen")] = 0.8
    renderer = Renderer(portrait)
    out = renderer.render(frames).astype(np.int16)
    mouth = portrait.points[[13, 14], :2].mean(0).astype(int)
    x, y = mouth
    opened = np.abs(out[1] - out[0]).max(axis=-1)
    assert opened[y + 3:y + 12, x - 4:x + 4].mean() > 40              # the jaw opened where the mouth is
    from vasa_bridge.render.measure import outside_mask
    assert opened[outside_mask(renderer)].max() <= 2                  # and nothing moved outside the face


def test_bad_landmark_files_say_what_is_wrong(tmp_path: Path) -> None:
    lm = tmp_path / "bad.json"
    lm.write_text(json.dumps({"points": [[1, 2]] * 10}))
    with pytest.raises(PortraitError, match="468"):
        Portrait.prepare(ASTRONAUT, SIZE, landmarks_json=lm)
    lm.write_text(json.dumps({"keypoints": {"right_eye": [1, 2]}}))
    with pytest.raises(PortraitError, match="missing"):
        Portrait.prepare(ASTRONAUT, SIZE, landmarks_json=lm)
    lm.write_text("{not json")
    with pytest.raises(PortraitError, match="cannot read"):
        Portrait.prepare(ASTRONAUT, SIZE, landmarks_json=lm)


# ---- marking, JPEG -------------------------------------------------------------------------------------------
def test_every_frame_carries_the_synthetic_mark_where_asked(astronaut_portrait: Portrait) -> None:
    frames = MotionClip.neutral(3).frames
    frames[:, layout.channel("jawOpen")] = [0.0, 0.5, 1.0]
    for position in ("bottom-right", "top-left"):
        renderer = Renderer(astronaut_portrait, options=RenderOptions(mark_position=position))
        out = renderer.render(frames)
        y, x = renderer.mark.top_left
        h, w = renderer.mark.rgba.shape[:2]
        assert (y < SIZE / 2) == position.startswith("top")
        photo = astronaut_portrait.image[y:y + h, x:x + w].astype(np.int16)
        for f in out:
            changed = np.abs(f[y:y + h, x:x + w].astype(np.int16) - photo).max(axis=-1) > 40
            assert changed.mean() > 0.1       # the label's pixels are there, on every frame
    with pytest.raises(ValueError, match="mark position"):
        SyntheticMark(SIZE, "nowhere")
    assert MARK_TEXT == "synthetic"


def test_jpeg_round_trip_and_quality(astronaut_portrait: Portrait) -> None:
    rgb = Renderer(astronaut_portrait).render(MotionClip.neutral(1).frames)[0]
    small, large = encode_jpeg(rgb, 30), encode_jpeg(rgb, 95)
    assert len(small) < len(large)
    back = np.asarray(Image.open(io.BytesIO(large)))
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb.astype(int)).mean() < 4
    with pytest.raises(ValueError):
        encode_jpeg(rgb, 0)
    raw = np.frombuffer(encode_rgba(rgb), np.uint8).reshape(SIZE, SIZE, 4)
    assert (raw[..., :3] == rgb).all() and (raw[..., 3] == 255).all()


# ---- mp4 and the CLI -------------------------------------------------------------------------------------------
def _animate(argv: list[str]) -> int:
    from vasa_bridge.commands import animate
    parser = argparse.ArgumentParser()
    animate.add_arguments(parser)
    return animate.run(parser.parse_args(argv))


def test_mp4_has_video_and_audio_of_the_right_length_and_in_sync(tmp_path: Path) -> None:
    """Audio: silence with a tone burst from 1.00 s. Motion: the jaw opens at frame 25 (1.00 s). In the decoded
    file the mouth must open within one frame of the burst."""
    import av
    rate = 16000
    t = np.arange(int(2.4 * rate)) / rate
    audio = np.where(t >= 1.0, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    wav = tmp_path / "burst.wav"
    sf.write(wav, audio, rate)
    clip = MotionClip.neutral(60)
    clip.frames[25:, layout.channel("jawOpen")] = 1.0
    clip_path = tmp_path / "clip.json"
    write_clip(clip, clip_path)
    out = tmp_path / "out.mp4"
    strip = tmp_path / "strip.png"
    assert _animate(["--audio", str(wav), "--clip", str(clip_path), "-o", str(out), "--size", str(SIZE),
                     "--strip", str(strip)]) == 0
    info = probe_mp4(out)
    assert info["has_video"] and info["has_audio"]
    assert info["video_frames"] == 60                                  # 2.4 s at 25 fps
    assert abs(info["video_duration_s"] - 2.4) < 1 / 25
    assert abs(info["audio_duration_s"] - 2.4) < 1 / 25
    with av.open(str(out)) as c:
        assert "AI-generated" in c.metadata.get("comment", "")
        video = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        samples, times = [], []
        for f in c.decode(audio=0):
            x = f.to_ndarray().reshape(-1)
            samples.append(x)
            times.append(float(f.pts * f.time_base) + np.arange(len(x)) / f.sample_rate)
    samples, times = np.concatenate(samples), np.concatenate(times)
    audio_onset_s = times[np.argmax(np.abs(samples) > 0.1)]
    portrait = Portrait.prepare(ASTRONAUT, SIZE)
    cx, cy = portrait.points[[13, 14], :2].mean(0).astype(int)
    # How much the mouth differs from the first frame's (closed) mouth: jumps when the jaw opens.
    change = np.array([np.abs(f[cy - 4:cy + 10, cx - 8:cx + 8].astype(np.float32)
                              - video[0][cy - 4:cy + 10, cx - 8:cx + 8]).mean() for f in video])
    video_onset_s = int(np.argmax(change > change.max() / 2)) / 25
    assert abs(video_onset_s - audio_onset_s) <= 1 / 25 + 1e-6
    assert Image.open(strip).text.get("comment", "").startswith("AI-generated")


def test_animate_reports_bad_requests_clearly(tmp_path: Path) -> None:
    with pytest.raises(VasaBridgeError, match="--audio|--clip"):
        _animate(["-o", str(tmp_path / "x.mp4"), "--size", str(SIZE)])
    with pytest.raises(VasaBridgeError, match="mp4"):
        _animate(["-o", str(tmp_path / "x.avi")])


def test_animate_face_option_names_the_faces_there_are(tmp_path: Path) -> None:
    with pytest.raises(VasaBridgeError, match="--face 2: .* shows 1 face"):
        _animate(["-o", str(tmp_path / "x.mp4"), "--size", str(SIZE), "--face", "2", "--clip", "none.json"])


def test_eval_render_set_prints_the_table_and_writes_the_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from vasa_bridge.commands import eval_render
    from vasa_bridge.render import portrait_set
    monkeypatch.setattr(portrait_set, "fetch_portrait_set", lambda cache: {"astronaut": ASTRONAUT})  # offline
    parser = argparse.ArgumentParser()
    eval_render.add_arguments(parser)
    sheet, strip = tmp_path / "sheet.png", tmp_path / "strip.png"
    code = eval_render.run(parser.parse_args(["--set", "--sheet", str(sheet), "--strip", str(strip)]))
    out = capsys.readouterr().out
    assert "| astronaut | photo, woman, smile showing teeth |" in out and "median lip r" in out
    assert code == 0                  # the one frontal photo passes every goal
    assert sheet.exists() and strip.exists()


def test_eval_render_prints_the_measured_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from vasa_bridge.commands import eval_render
    parser = argparse.ArgumentParser()
    eval_render.add_arguments(parser)
    assert eval_render.run(parser.parse_args(["--size", str(SIZE), "--json"])) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["jaw_lip_correlation"] >= 0.85      # 0-1 sweep: the mesh flattens above ~0.5 (test_render.py)
    assert figures["speech_lip_r"] >= 0.9 and figures["speech_gap_at_zero_iod"] < 0.08
    assert figures["eye_open_blink"] < figures["eye_open_rest"]
    assert figures["outside_mask_max_abs"] <= 2
