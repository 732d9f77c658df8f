"""The diffusion MotionBackend: streaming contract, batching, determinism, torch ↔ onnxruntime (↔ TensorRT)
parity, bad input, versioned files. Plumbing runs on an untrained model; lip sync runs on the shipped weights."""

import numpy as np
import pytest

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls
from vasa_bridge.runtime.backend import SessionControls
from vasa_bridge.runtime.diffusion import SAMPLES_PER_FRAME, DiffusionBackend, generate_clip, generate_clips


@pytest.fixture(scope="module")
def line():
    from vasa_bridge.train.data import synth_pairs

    return synth_pairs(1, seed=11, voices="heldout-voice", corrupt=False, controls=Controls())[0]


@pytest.fixture(scope="module")
def weights(tmp_path_factory, line):
    from vasa_bridge.export.untrained import write_untrained

    return write_untrained(tmp_path_factory.mktemp("model"), line.frames, d_model=64, n_layers=2)


@pytest.fixture(scope="module")
def ort(weights):
    return DiffusionBackend("onnxruntime", weights=weights, steps=3)


def stream_all(backend, audio, chunk, seed=0, controls=SessionControls()):
    s = backend.new_stream(controls, seed)
    frames = []
    for i in range(0, len(audio), chunk):
        s.push(audio[i:i + chunk])
        frames.append(backend.step([s])[s].frames)
    s.flush()
    frames.append(backend.step([s])[s].frames)
    return np.concatenate(frames)


@pytest.mark.parametrize("chunk", [1, 320, 3200, 160_000])
def test_any_chunk_size_yields_one_frame_per_40_ms(ort, line, chunk):
    audio = line.audio_16k[: 16000 if chunk == 1 else None]    # 1-sample chunks: one second is plenty
    frames = stream_all(ort, audio, chunk)
    assert len(frames) == -(-len(audio) // SAMPLES_PER_FRAME)
    assert np.isfinite(frames).all()


@pytest.mark.parametrize("min_new_frames,lookahead_ms", [(1, 60.0), (3, 140.0)])
def test_frames_wait_only_for_the_documented_lookahead(weights, line, min_new_frames, lookahead_ms):
    backend = DiffusionBackend("onnxruntime", weights=weights, steps=2, min_new_frames=min_new_frames)
    assert backend.lookahead_ms == pytest.approx(lookahead_ms)
    s = backend.new_stream(SessionControls(), 0)
    total = 0
    for n_samples in range(1600, 16001, 1600):          # 100 ms chunks
        s.push(line.audio_16k[n_samples - 1600:n_samples])
        total += len(backend.step([s])[s].frames)
        # frame k ends at (k+1)·40 ms; 60 ms past it the model has all it hears of it; it waits no longer than
        # lookahead_ms, and emits nothing whose span is incomplete.
        ready = int((n_samples / 16 - 60.0) // 40)
        assert ready - (min_new_frames - 1) <= total <= ready


def test_batched_streams_match_streams_run_alone_and_seeds_matter(ort, line):
    audio = line.audio_16k
    alone = [generate_clip(ort, audio, seed=s).frames for s in (1, 2)]
    before = ort.evaluations
    together = generate_clips(ort, [audio, audio], [Controls(), Controls()], [1, 2])
    n_windows = -(-len(alone[0]) // ort.max_new_frames)
    assert ort.evaluations - before == n_windows * (len(ort.sigmas) - 1)   # one call per step for both
    for a, t in zip(alone, together):
        np.testing.assert_allclose(a, t.frames, atol=1e-4)
    assert np.abs(alone[0] - alone[1]).max() > 1e-3
    np.testing.assert_array_equal(alone[0], generate_clip(ort, audio, seed=1).frames)


def test_torch_and_onnxruntime_agree(weights, line):
    from vasa_bridge.export.onnx import example_audio, example_inputs
    from vasa_bridge.runtime.diffusion_engines import OrtEngine, TorchEngine

    t, o = TorchEngine(weights), OrtEngine(weights.with_suffix(".onnx"))
    inputs = example_inputs(t.network.config, batch=5, seed=3)
    np.testing.assert_allclose(o(inputs), t(inputs), atol=1e-4)
    spans = example_audio(t.network.config, n=37, seed=3)
    np.testing.assert_allclose(o.embed_audio(spans), t.embed_audio(spans), atol=1e-4)
    a = generate_clip(DiffusionBackend("torch", weights=weights, steps=3), line.audio_16k[:32000], seed=4)
    b = generate_clip(DiffusionBackend("onnxruntime", weights=weights, steps=3), line.audio_16k[:32000], seed=4)
    np.testing.assert_allclose(a.frames, b.frames, atol=1e-3)


def _bad_audio():
    rng = np.random.default_rng(0)
    speechy = np.sin(np.linspace(0, 600, 24000)).astype(np.float32) * 0.3
    return {"silent": np.zeros(24000, np.float32), "clipped": np.clip(speechy * 20, -1, 1),
            "very loud": speechy * 300, "dc offset": speechy + 0.8, "noise only": rng.standard_normal(24000) * 0.5,
            "nan and inf": np.where(rng.random(24000) < 0.01, np.nan, speechy).astype(np.float32) + np.append(
                np.inf, np.zeros(23999))}


@pytest.mark.parametrize("kind", list(_bad_audio()))
def test_bad_audio_gives_valid_frames(ort, kind):
    frames = generate_clip(ort, _bad_audio()[kind].astype(np.float32), seed=0).frames
    assert frames.shape == (-(-24000 // SAMPLES_PER_FRAME), layout.N_CHANNELS)
    assert np.isfinite(frames).all()
    assert frames[:, layout.BLENDSHAPE_SLICE].min() >= 0 and frames[:, layout.BLENDSHAPE_SLICE].max() <= 1


def test_controls_and_guidance_can_change_mid_stream(ort, line):
    s = ort.new_stream(SessionControls(), 0)
    s.push(line.audio_16k[:16000])
    first = ort.step([s])[s].frames
    s.set_controls(SessionControls(Controls(emotion="happy", head_distance_m=1.2), guidance_scale=2.0))
    s.push(line.audio_16k[16000:32000])
    s.flush()
    second = ort.step([s])[s].frames
    # espeak-ng's line length varies by a few ms between runs: expect whatever 2 s of it (or less) makes.
    pushed = min(32000, len(line.audio_16k))
    assert len(first) + len(second) == -(-pushed // SAMPLES_PER_FRAME) and np.isfinite(second).all()


def test_files_of_another_version_are_refused_cleanly(tmp_path, weights):
    import onnx

    graph = onnx.load(str(weights.with_suffix(".onnx")))
    for p in graph.metadata_props:
        if p.key == "motion_layout_version":
            p.value = "999"
    onnx.save(graph, str(tmp_path / "old.onnx"))
    with pytest.raises(ModelVersionError, match="v999"):
        DiffusionBackend("onnxruntime", onnx_path=tmp_path / "old.onnx")
    with pytest.raises(VasaBridgeError, match="vasa-bridge export"):
        DiffusionBackend("onnxruntime", onnx_path=tmp_path / "missing.onnx")
    with pytest.raises(VasaBridgeError, match="unknown engine"):
        DiffusionBackend("tpu", weights=weights)
    from vasa_bridge.export.onnx import audio_encoder_path

    (tmp_path / "lone.onnx").write_bytes(weights.with_suffix(".onnx").read_bytes())
    with pytest.raises(VasaBridgeError, match="lone.audio.onnx"):          # the audio encoder is missing
        DiffusionBackend("onnxruntime", onnx_path=tmp_path / "lone.onnx")
    audio = onnx.load(str(audio_encoder_path(weights.with_suffix(".onnx"))))
    for p in audio.metadata_props:
        if p.key == "weights_sha256":
            p.value = "0" * 64
    onnx.save(audio, str(tmp_path / "lone.audio.onnx"))
    with pytest.raises(VasaBridgeError, match="different exports"):
        DiffusionBackend("onnxruntime", onnx_path=tmp_path / "lone.onnx")
    stale = tmp_path / "stale.pt"
    stale.write_bytes(weights.read_bytes() + b"changed")
    for source in (weights.with_suffix(".onnx"), audio_encoder_path(weights.with_suffix(".onnx"))):
        (tmp_path / source.name.replace("motion_dit", "stale")).write_bytes(source.read_bytes())
    with pytest.raises(ModelVersionError, match="vasa-bridge export --weights"):
        DiffusionBackend("onnxruntime", weights=stale)


@pytest.mark.gpu
def test_tensorrt_engine_matches_onnxruntime(weights):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT parity needs a CUDA GPU")
    pytest.importorskip("tensorrt")
    from vasa_bridge.export.onnx import example_audio, example_inputs
    from vasa_bridge.model.denoiser import ModelConfig
    from vasa_bridge.runtime.diffusion_engines import OrtEngine, TensorRtEngine

    onnx_path = weights.with_suffix(".onnx")
    trt_engine, ort_engine = TensorRtEngine(onnx_path, max_batch=8), OrtEngine(onnx_path)
    config = ModelConfig(**ort_engine.config)
    inputs = example_inputs(config, batch=8, seed=5)
    np.testing.assert_allclose(trt_engine(inputs), ort_engine(inputs), atol=1e-3)
    spans = example_audio(config, n=8 * config.window_frames, seed=5)
    np.testing.assert_allclose(trt_engine.embed_audio(spans), ort_engine.embed_audio(spans), atol=1e-3)


@pytest.mark.skipif(not __import__("vasa_bridge.model.weights", fromlist=["x"]).DEFAULT_WEIGHTS.exists(),
                    reason="no shipped weights in this checkout")
def test_shipped_model_moves_the_lips_with_a_held_out_voice(line):
    from vasa_bridge.motion.measures import lip_aperture
    from vasa_bridge.train.evaluate import pearson

    backend = DiffusionBackend("onnxruntime")
    clip = generate_clip(backend, line.audio_16k, seed=0)
    assert pearson(lip_aperture(clip.frames), lip_aperture(line.frames[: len(clip.frames)])) > 0.5
    far = generate_clip(backend, line.audio_16k, Controls(head_distance_m=1.2), seed=0).frames
    near = generate_clip(backend, line.audio_16k, Controls(head_distance_m=0.4), seed=0).frames
    z = layout.channel("headZ")
    # The teacher moves headZ by the full 0.8 m; the shipped model follows most of it (docs/model.md).
    assert far[:, z].mean() - near[:, z].mean() > 0.4


@pytest.mark.skipif(not __import__("vasa_bridge.model.weights", fromlist=["x"]).DEFAULT_WEIGHTS.exists(),
                    reason="no shipped weights in this checkout")
def test_a_gaze_change_mid_stream_moves_the_eyes_without_a_head_jump(line):
    """NPC looks at the player mid-line: 1 s in, the gaze target flips from −0.3 to +0.3 rad. How far the eyes follow
    varies with the seed (one seed of the 4 Dec weights barely moved them), so three seeds are averaged."""
    backend = DiffusionBackend("onnxruntime", min_new_frames=2)
    left, right = Controls(gaze_yaw_rad=-0.3, gaze_pitch_rad=0.0), Controls(gaze_yaw_rad=0.3, gaze_pitch_rad=0.0)
    gaze, yaw = layout.channel("gazeYaw"), layout.channel("headYaw")
    moved = []
    for seed in (3, 4, 5):
        runs = []
        for switch in (False, True):
            s = backend.new_stream(SessionControls(left, 2.0), seed)
            frames = []
            for i in range(0, len(line.audio_16k), 320):
                if switch and i == 16000:
                    s.set_controls(SessionControls(right, 2.0))
                    at = sum(len(f) for f in frames)
                s.push(line.audio_16k[i:i + 320])
                frames.append(backend.step([s])[s].frames)
            s.flush()
            runs.append(np.concatenate([*frames, backend.step([s])[s].frames]))
        kept, switched = runs
        np.testing.assert_array_equal(kept[:at], switched[:at])             # the past is not rewritten
        after = slice(at + 10, at + 35)                                     # 0.4–1.4 s after the change
        moved.append(switched[after, gaze].mean() - kept[after, gaze].mean())
        # The new performance is glided into: no head-pose step larger than the line's own largest ones.
        step = np.abs(np.diff(switched[:, yaw]))
        assert step[at - 1: at + 4].max() <= 2.5 * np.percentile(np.abs(np.diff(kept[:, yaw])), 95)
    assert np.mean(moved) > 0.2 and min(moved) > 0.1


@pytest.mark.skipif(not __import__("vasa_bridge.model.weights", fromlist=["x"]).DEFAULT_WEIGHTS.exists(),
                    reason="no shipped weights in this checkout")
def test_bake_without_a_transcript_uses_the_model_with_controls_and_seed(tmp_path, line, capsys):
    import soundfile as sf

    from vasa_bridge.cli import main
    from vasa_bridge.motion.clip_io import read_clip

    wav = tmp_path / "speech.wav"
    sf.write(wav, line.audio_16k, 16000)
    args = [str(wav), "--emotion", "happy", "--gaze", "0.1,0", "--head-distance", "0.6"]
    assert main(["bake", *args, "-o", str(tmp_path / "a.csv"), "--seed", "3"]) == 0
    assert "audio-only motion model" in capsys.readouterr().out
    assert main(["bake", *args, "-o", str(tmp_path / "b.csv"), "--seed", "3"]) == 0
    assert main(["bake", *args, "-o", str(tmp_path / "c.csv"), "--seed", "4"]) == 0
    a, b, c = (read_clip(tmp_path / f"{n}.csv").frames for n in "abc")
    assert len(a) == -(-len(line.audio_16k) // SAMPLES_PER_FRAME)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.abs(a - c).max() > 1e-3
    (tmp_path / "old.pt").write_bytes(b"junk")
    assert main(["bake", str(wav), "-o", str(tmp_path / "d.csv"), "--weights", str(tmp_path / "old.pt")]) == 2
    assert "vasa-bridge export" in capsys.readouterr().err


def test_each_frame_is_embedded_once_from_its_complete_audio_span(weights, line):
    """Embeddings are cached per frame while streaming in 20 ms chunks; each must equal the embedding of the frame's
    span cut from the whole line's features."""
    from vasa_bridge.model.conditioning import frame_spans

    backend = DiffusionBackend("onnxruntime", weights=weights, steps=2)
    audio = line.audio_16k[:48000]
    features = backend.frontend.features(audio)
    calls = []
    embed = backend.engine.embed_audio
    backend.engine.embed_audio = lambda spans: calls.append(len(spans)) or embed(spans)
    s = backend.new_stream(SessionControls(), 0)
    checked, first_window_new = 0, 0
    for i in range(0, len(audio), 320):
        s.push(audio[i:i + 320])
        if i + 320 >= len(audio):
            s.flush()
        emitted = len(backend.step([s])[s].frames)
        first_window_new = first_window_new or emitted
        if s._emb_first is not None:
            expected = embed(frame_spans(features, s._emb_first, len(s._audio_emb), backend.frontend.silence_row))
            np.testing.assert_allclose(s._audio_emb, expected, atol=1e-5)
            checked += 1
    n_frames = -(-len(audio) // SAMPLES_PER_FRAME)
    assert checked > 50 and s.next_frame == n_frames
    # Every frame once; the first window also embeds the padding frames before the stream (W − its new frames).
    assert calls[0] == backend.window_frames
    assert sum(calls) == n_frames + backend.window_frames - first_window_new
