"""Rendered frames on the stream (protocol 1.1): portrait upload in `open`, render batches paired with motion
batches by seq, the exact pixels of the offline renderer, and clear errors for portraits that cannot be used."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
import pytest

from vasa_bridge import protocol as m
from vasa_bridge.audio.synthetic import syllable_bursts
from vasa_bridge.client import MotionBatch, RenderBatch, ServerError
from vasa_bridge.motion import layout
from vasa_bridge.render.portrait import DEFAULT_PORTRAIT_NAME, Portrait
from vasa_bridge.render.renderer import Renderer, RenderOptions
from vasa_bridge.transport.rendering import RenderConfig, RenderService
from vasa_bridge.transport.runner import BackgroundServer
from vasa_bridge.transport.config import ServerConfig

from sidecar_helpers import connect

pytestmark = pytest.mark.timeout(120)
BINDINGS = ("zmq", "ws")


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut_png() -> bytes:
    import skimage.data

    return _png(skimage.data.astronaut())


@pytest.fixture(scope="module")
def server():
    # Rendering on a small shared CPU is slower than real time: admission control would refuse the third
    # session, and these tests are about content, not timing.
    config = ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0, max_load=math.inf)
    with BackgroundServer(config, renderer=RenderService(RenderConfig())) as s:
        yield s


def run_session(client, audio: np.ndarray, **open_kwargs) -> tuple[dict, list]:
    session = client.open(sample_rate_hz=16000, **open_kwargs)
    for start in range(0, len(audio), 1600):
        session.push(audio[start:start + 1600])
    session.end_audio()
    return session.info, list(session.batches(timeout_s=30))


def code_of(fn) -> tuple[str, str]:
    with pytest.raises(ServerError) as e:
        fn()
    return e.value.code, str(e.value)


def test_hello_describes_the_renderer(server):
    with connect(server, "ws") as client:
        info = client.hello
    assert {"frames_jpeg", "frames_rgba"} <= set(info["outputs"])
    assert info["render"]["sizes"] == [256, 512] and info["render"]["default_portrait"] is True
    assert m.check_message(info) is None


@pytest.mark.parametrize("binding", BINDINGS)
def test_uploaded_portrait_streams_the_offline_renderers_pixels_paired_with_motion(server, binding, astronaut_png):
    with connect(server, binding) as client:
        info, batches = run_session(client, syllable_bursts(1.2, noise=0.0), outputs=["motion", "frames_rgba"],
                                    portrait=astronaut_png, render={"size": 256, "mark_position": "top-left"})
    assert info["render"] == {"format": "rgba", "width": 256, "height": 256, "jpeg_quality": 0,
                              "mark_position": "top-left", "portrait": "uploaded", "notes": []}
    motion = [b for b in batches if isinstance(b, MotionBatch)]
    render = [b for b in batches if isinstance(b, RenderBatch)]
    assert len(motion) == len(render) > 0
    for mb, rb in zip(motion, render):          # each render batch follows its motion batch, same frames
        assert batches.index(rb) == batches.index(mb) + 1
        assert (rb.seq, rb.pts_ms, len(rb.images)) == (mb.seq, mb.pts_ms, len(mb.frames))
        assert all(len(img) == 256 * 256 * 4 for img in rb.images)
    frames = np.concatenate([b.frames for b in motion])
    assert len(frames) == 30                    # 1.2 s at 25 fps
    streamed = np.stack([rb.decode(i) for rb in render for i in range(len(rb.images))])
    renderer = Renderer(Portrait.prepare(astronaut_png, 256), "cpu", RenderOptions("top-left"))
    offline = renderer.render(frames, renderer.new_stream())
    assert np.array_equal(streamed, offline)
    # The mouth moves with the speech: the lower-face box differs between the most and least open frames.
    jaw = frames[:, layout.channel("jawOpen")]
    lo, hi = int(np.argmin(jaw)), int(np.argmax(jaw))
    assert np.abs(streamed[hi, 150:220, 90:170].astype(int) - streamed[lo, 150:220, 90:170]).mean() > 2.0


def test_sessions_sharing_a_portrait_each_smooth_their_own_head_distance(server, astronaut_png):
    """Issue 20: head-scale smoothing is state across frames; two sessions showing the same face share the
    server's renderer but not that state. The near one glides into its size as the offline renderer does with
    its own stream; the far one, interleaved with it, is not pulled along."""
    audio = syllable_bursts(0.6, noise=0.0)
    with connect(server, "zmq") as client:
        options = {"sample_rate_hz": 16000, "outputs": ["motion", "frames_rgba"], "portrait": astronaut_png}
        near = client.open(**options, controls={"head_distance_m": 0.3})
        far = client.open(**options)
        for start in range(0, len(audio), 1600):      # the two sessions' batches alternate in the worker
            for session in (near, far):
                session.push(audio[start:start + 1600])
        for session in (near, far):
            session.end_audio()
        near_batches, far_batches = list(near.batches(timeout_s=30)), list(far.batches(timeout_s=30))
    renderer = Renderer(Portrait.prepare(astronaut_png, 256), "cpu")

    def same_images(a: np.ndarray, b: np.ndarray) -> bool:
        # The worker renders whatever batches timing gives it; other batch shapes round a few pixels (4e-6 of
        # them, measured) one level differently, so "equal" allows one level.
        return a.shape == b.shape and int(np.abs(a.astype(int) - b).max()) <= 1

    for batches in (near_batches, far_batches):
        frames = np.concatenate([b.frames for b in batches if isinstance(b, MotionBatch)])
        streamed = np.stack([rb.decode(i) for rb in batches if isinstance(rb, RenderBatch)
                             for i in range(len(rb.images))])
        assert len(streamed) == len(frames) == 15
        assert same_images(streamed, renderer.render(frames, renderer.new_stream()))
        unsmoothed = renderer.render(frames)
        if batches is near_batches:   # from the neutral size towards the near one: it starts off and closes in
            diff = np.abs(streamed.astype(int) - unsmoothed).mean(axis=(1, 2, 3))   # (15,)
            assert diff[0] > 1.0 and diff[-1] < diff[0] / 4, diff
        else:
            assert same_images(streamed, unsmoothed)


def test_open_reply_passes_on_what_the_portrait_prep_noticed(server, astronaut_png):
    from PIL import Image

    astronaut = np.asarray(Image.open(io.BytesIO(astronaut_png)).convert("RGB"))
    two_faces = np.concatenate([astronaut, astronaut], axis=1)         # (512, 1024, 3)
    with connect(server, "ws") as client:
        info = client.open(sample_rate_hz=16000, outputs=["motion", "frames_jpeg"], portrait=_png(two_faces)).info
    notes = info["render"]["notes"]
    assert len(notes) == 1 and notes[0].startswith("2 faces found in the portrait")
    assert "open.portrait_landmarks" in notes[0] and "--face" not in notes[0]   # what a protocol client can do
    assert m.check_message(info) is None


@pytest.mark.parametrize("binding", BINDINGS)
def test_jpeg_frames_with_the_default_portrait(server, binding):
    with connect(server, binding) as client:
        info, batches = run_session(client, syllable_bursts(0.6, noise=0.0), outputs=["motion", "frames_jpeg"],
                                    render={"jpeg_quality": 70})
    assert info["render"]["portrait"] == DEFAULT_PORTRAIT_NAME and info["render"]["jpeg_quality"] == 70
    render = [b for b in batches if isinstance(b, RenderBatch)]
    images = [rb.decode(i) for rb in render for i in range(len(rb.images))]
    assert len(images) == 15 and all(img.shape == (256, 256, 3) for img in images)
    assert all(rb.images[0][:2] == b"\xff\xd8" for rb in render)


def test_motion_only_sessions_get_no_render_batches_beside_a_rendering_one(server):
    with connect(server, "zmq") as a, connect(server, "ws") as b:
        plain = b.open(sample_rate_hz=16000)
        rendering = a.open(sample_rate_hz=16000, outputs=["motion", "frames_jpeg"])
        audio = syllable_bursts(0.8, noise=0.0)
        for s in (plain, rendering):
            s.push(audio)
            s.end_audio()
        plain_batches = list(plain.batches(timeout_s=30))
        rendering_batches = list(rendering.batches(timeout_s=30))
    assert all(isinstance(x, MotionBatch) for x in plain_batches)
    assert sum(len(x.frames) for x in plain_batches) == 20
    assert sum(len(x.images) for x in rendering_batches if isinstance(x, RenderBatch)) == 20


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height pixels (no pixel data): a decompression bomb's first bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("binding", BINDINGS)
def test_unusable_portraits_get_clear_errors_and_the_server_keeps_serving(server, binding, astronaut_png):
    grey = np.full((300, 300, 3), 128, np.uint8)
    frames = ["motion", "frames_jpeg"]
    with connect(server, binding) as client:
        def open_with(**kw):
            return lambda: client.open(sample_rate_hz=16000, **{"outputs": frames, **kw})

        code, text = code_of(open_with(portrait=b"definitely not an image"))
        assert code == "invalid_portrait" and "not an image" in text
        code, text = code_of(open_with(portrait=_png(grey)))
        assert code == "invalid_portrait" and "portrait_landmarks" in text      # says what to do
        code, text = code_of(open_with(portrait=_png_header_only(7000, 7000)))
        assert code == "invalid_portrait" and "7000x7000" in text
        code, text = code_of(open_with(portrait=_png(grey[:40, :40])))
        assert code == "invalid_portrait" and "64" in text
        code, _ = code_of(open_with(portrait=_png(grey), portrait_landmarks={"keypoints": {"nose_tip": "x"}}))
        assert code == "invalid_portrait"
        assert code_of(open_with(render={"size": 384}))[0] == "bad_request"
        assert code_of(open_with(render={"jpeg_quality": 0}))[0] == "bad_request"
        assert code_of(open_with(outputs=["motion", "frames_jpeg", "frames_rgba"]))[0] == "bad_request"
        assert code_of(open_with(outputs=["motion"], portrait=astronaut_png))[0] == "bad_request"
        assert code_of(open_with(render={"mark_position": "nowhere"}))[0] == "bad_request"
        info, batches = run_session(client, syllable_bursts(0.4, noise=0.0), outputs=frames, portrait=astronaut_png)
    assert sum(len(b.images) for b in batches if isinstance(b, RenderBatch)) == 10


def test_zmq_open_takes_at_most_one_trailing_frame():
    header = m.encode({"type": "open", "id": 1, "audio": {"format": "f32", "sample_rate_hz": 16000}})
    assert m.from_zmq_frames([header, b"png"], 1 << 20)["portrait"] == b"png"
    assert "portrait" not in m.from_zmq_frames([header], 1 << 20)
    with pytest.raises(m.ProtocolError) as e:
        m.from_zmq_frames([header, b"a", b"b"], 1 << 20)
    assert e.value.code == "bad_message"


def test_a_server_without_renderer_refuses_frames_and_says_how_to_enable_them():
    with BackgroundServer(ServerConfig(zmq_port=None, zmq_stream_port=None, ws_port=0)) as plain:
        with connect(plain, "ws") as client:
            assert "render" not in client.hello
            code, text = code_of(lambda: client.open(sample_rate_hz=16000, outputs=["motion", "frames_jpeg"]))
    assert code == "unsupported_output" and "--render" in text


class _RenderServiceFailingTopRight(RenderService):
    """The real service, except that sessions with the mark top-right fail on their first render."""

    def open_session(self, request, portrait, landmarks):
        session = super().open_session(request, portrait, landmarks)
        if session.mark_position == "top-right":
            def fail(frames):
                raise RuntimeError("simulated renderer failure")
            session.render = fail
        return session


def test_a_failing_render_ends_only_its_own_session():
    config = ServerConfig(zmq_port=None, zmq_stream_port=None, ws_port=0, max_load=math.inf)
    with BackgroundServer(config, renderer=_RenderServiceFailingTopRight(RenderConfig())) as s:
        with connect(s, "ws") as client:
            bad = client.open(sample_rate_hz=16000, outputs=["motion", "frames_jpeg"],
                              render={"mark_position": "top-right"})
            good = client.open(sample_rate_hz=16000, outputs=["motion", "frames_jpeg"])
            audio = syllable_bursts(0.8, noise=0.0)
            for session in (bad, good):
                session.push(audio)
                session.end_audio()
            with pytest.raises(ServerError, match="simulated renderer failure"):
                list(bad.batches(timeout_s=30))
            good_batches = list(good.batches(timeout_s=30))
            assert good.end["reason"] == "end_of_audio"
            assert sum(len(b.images) for b in good_batches if isinstance(b, RenderBatch)) == 20
            assert client.status()["sessions"] >= 1      # the server is still there



def test_stream_command_writes_the_streamed_images_as_an_mp4(tmp_path, capsys):
    import soundfile as sf

    from vasa_bridge.cli import main
    from vasa_bridge.render.video import probe_mp4

    wav = tmp_path / "line.wav"
    sf.write(wav, syllable_bursts(1.0, rate_hz=22050, noise=0.0), 22050)
    mp4, csv = tmp_path / "stream.mp4", tmp_path / "stream.csv"
    assert main(["stream", str(wav), "--local", "--speed", "0", "--video", str(mp4), "--out", str(csv)]) == 0
    assert "25 rendered frames" in capsys.readouterr().out
    info = probe_mp4(mp4)
    assert info["video_frames"] == 25 and info["has_audio"] == 1.0
    assert abs(info["audio_duration_s"] - 1.0) < 0.05
