"""The motion latent, the denoiser's contract, the weights file and a short training run."""

import dataclasses

import numpy as np
import pytest
import torch

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.conditioning import LOOKAHEAD_MS, controls_vector, features_needed, frame_spans
from vasa_bridge.model.denoiser import ModelConfig
from vasa_bridge.model.inputs import CONTEXT, NEW, PAD
from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.model.untrained import untrained_model
from vasa_bridge.model.weights import DEFAULT_WEIGHTS, load_weights, save_weights
from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls


@pytest.fixture(scope="module")
def pairs():
    from vasa_bridge.train.data import synth_pairs

    return synth_pairs(6, seed=5)


@pytest.fixture(scope="module")
def frames(pairs):
    return np.concatenate([p.frames for p in pairs])


def test_latent_keeps_the_teacher_motion_and_is_whitened(frames):
    latent = PcaLatent.fit(frames, 32)
    z = latent.encode(frames)
    assert z.shape == (len(frames), 32)
    np.testing.assert_allclose(z.std(axis=0)[:20], 1.0, atol=0.05)     # σ_data = 1 for the diffusion model
    assert latent.explained_variance(frames) > 0.999
    np.testing.assert_allclose(latent.decode(z), frames, atol=0.02)


def test_latent_decode_keeps_blendshapes_in_range(frames):
    latent = PcaLatent.fit(frames, 16)
    out = latent.decode(np.random.default_rng(0).standard_normal((50, 16)) * 5)
    assert out[:, layout.BLENDSHAPE_SLICE].min() >= 0 and out[:, layout.BLENDSHAPE_SLICE].max() <= 1


def test_frame_spans_read_silence_outside_the_audio_and_see_only_the_lookahead():
    feats = np.arange(40 * 33, dtype=np.float32).reshape(40, 33)
    silence = np.full(33, -7.0, np.float32)
    spans = frame_spans(feats, first_frame=-2, n_frames=4, silence_row=silence)
    assert spans.shape == (4, 18, 33)
    assert np.all(spans[0] == silence)                 # frame −2: all silence
    last = frame_spans(feats, first_frame=2, n_frames=1, silence_row=silence)[0]
    assert last[-1, 0] == feats[features_needed(2) - 1, 0]   # newest feature = lookahead edge
    # 60 ms of spans past the frame's time + the 40 ms the front end's student hears past each row
    assert LOOKAHEAD_MS == 100.0


def test_controls_vector_encodes_each_control():
    free = controls_vector(Controls())
    fixed = controls_vector(Controls(emotion="happy", emotion_intensity=0.5, gaze_yaw_rad=0.3, gaze_pitch_rad=0.0,
                                     head_distance_m=1.5))
    assert free[0] == 1.0 and free[7] == 1.0
    assert fixed[1] == 0.5 and fixed[5] == pytest.approx(0.5) and fixed[7] == 0.0 and fixed[8] == pytest.approx(1.0)


def _inputs(config, batch=3, seed=0):
    """Inputs of `forward`: the denoiser's example inputs with raw audio spans in place of the embedding."""
    from vasa_bridge.export.onnx import example_audio, example_inputs

    inputs = example_inputs(config, batch, seed)._asdict()
    spans = example_audio(config, batch * config.window_frames, seed)
    inputs["audio_emb"] = spans.reshape(batch, config.window_frames, *spans.shape[1:])
    return {("audio" if k == "audio_emb" else k): torch.from_numpy(v) for k, v in inputs.items()}


def test_denoiser_leaves_context_and_pad_tokens_untouched_and_changes_new_ones(frames):
    net = untrained_model(frames).network
    inp = _inputs(net.config)
    with torch.no_grad():
        out = net(*inp.values())
    fixed = inp["kind"] != NEW
    assert torch.equal(out[fixed], inp["x"][fixed])
    assert not torch.allclose(out[~fixed], inp["x"][~fixed])
    assert torch.isfinite(out).all()
    assert {PAD, CONTEXT, NEW} == set(inp["kind"].unique().tolist())


def test_forward_is_the_denoiser_on_embedded_audio_and_embedding_is_per_frame(frames):
    net = untrained_model(frames).network
    inp = _inputs(net.config)
    with torch.no_grad():
        embedded = net.embed_audio(inp["audio"])                                   # (B, W, D)
        one_frame = net.embed_audio(inp["audio"][1, 5])                             # (D,)
        assert torch.allclose(net(*inp.values()), net.denoise(*{**inp, "audio": embedded}.values()))
    assert embedded.shape == (3, net.config.window_frames, net.config.d_model)
    assert torch.allclose(one_frame, embedded[1, 5], atol=1e-6)   # a span's embedding ignores its neighbours


def test_denoiser_inputs_name_the_onnx_inputs_and_the_denoise_parameters(tmp_path, frames):
    import inspect

    import onnx

    from vasa_bridge.export.onnx import export_onnx
    from vasa_bridge.model.denoiser import MotionDenoiser
    from vasa_bridge.model.inputs import DENOISER_INPUT_NAMES

    assert tuple(inspect.signature(MotionDenoiser.denoise).parameters)[1:] == DENOISER_INPUT_NAMES
    path = export_onnx(untrained_model(frames, d_model=32, n_layers=1, n_heads=2), tmp_path / "m.onnx")
    assert tuple(i.name for i in onnx.load(str(path)).graph.input) == DENOISER_INPUT_NAMES


@pytest.mark.parametrize("sigma_data", [1.0, 0.5])
def test_edm_scalings_follow_sigma_data(sigma_data):
    """At σ = 0 the denoiser returns its input; the loss weight is 1 / c_out², whatever σ_data is."""
    from vasa_bridge.model.edm import edm_loss_weight, edm_scalings

    sigma = torch.tensor([0.0, 0.3, 2.0, 40.0])
    c_skip, c_out, c_in = edm_scalings(sigma, sigma_data)
    assert c_skip[0] == 1.0 and c_out[0] == 0.0
    torch.testing.assert_close(c_in, 1.0 / torch.sqrt(sigma ** 2 + sigma_data ** 2))
    torch.testing.assert_close(edm_loss_weight(sigma[1:], sigma_data), 1.0 / c_out[1:] ** 2)
    torch.testing.assert_close(c_skip + c_out ** 2 / sigma_data ** 2, torch.ones(4))   # unit-variance target


def test_dropping_audio_or_controls_changes_the_prediction(frames):
    net = untrained_model(frames).network
    inp = _inputs(net.config)
    with torch.no_grad():
        full = net(*inp.values())
        no_audio = net(*{**inp, "audio_keep": torch.zeros(3)}.values())
        no_controls = net(*{**inp, "controls_keep": torch.zeros(3)}.values())
    assert not torch.allclose(full, no_audio) and not torch.allclose(full, no_controls)


def test_weights_round_trip_with_config_and_version_inside(tmp_path, frames):
    model = untrained_model(frames, d_model=64, n_layers=2)
    path = tmp_path / "w.pt"
    save_weights(path, model.network, model.latent, {"note": "x"})
    loaded = load_weights(path)
    assert loaded.network.config == model.network.config
    inp = _inputs(model.network.config)
    with torch.no_grad():
        assert torch.equal(loaded.network(*inp.values()), model.network(*inp.values()))
    np.testing.assert_array_equal(loaded.latent.components, model.latent.components)


def test_weights_of_another_layout_or_format_are_refused(tmp_path, frames):
    model = untrained_model(frames, d_model=64, n_layers=2)
    path = tmp_path / "w.pt"
    save_weights(path, model.network, model.latent)
    blob = torch.load(path, weights_only=False)
    for key in ("motion_layout_version", "model_format_version"):
        torch.save({**blob, key: 999}, tmp_path / "old.pt")
        with pytest.raises(ModelVersionError, match="v999"):
            load_weights(tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a weights file")
    with pytest.raises(ModelVersionError):
        load_weights(tmp_path / "junk.pt")


@pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="no shipped weights in this checkout")
def test_shipped_weights_are_small_and_load():
    assert DEFAULT_WEIGHTS.stat().st_size <= 20e6
    model = load_weights(DEFAULT_WEIGHTS)
    assert model.info.get("complete") and model.network.config == ModelConfig(**model.network.config.to_dict())


@pytest.fixture(scope="module")
def frontend():
    from vasa_bridge.audio.frontend import FrontEndConfig, SpeechFrontEnd, StudentNet, untrained_params

    config = FrontEndConfig(channels=32)
    return SpeechFrontEnd(config, StudentNet(config, untrained_params(config)))


def test_short_training_lowers_the_loss_and_resumes(tmp_path, pairs, frontend):
    from vasa_bridge.train.data import PairSet
    from vasa_bridge.train.loop import TrainConfig, train

    torch.set_num_threads(1)
    packed = PairSet.pack(pairs, frontend)
    small = ModelConfig(d_model=64, n_layers=2, audio_hidden=64)
    cfg = TrainConfig(steps=150, batch_windows=32, warmup_steps=20, checkpoint_every=50)
    train(packed, tmp_path, dataclasses.replace(cfg, steps=100), small, progress=False)
    with pytest.raises(VasaBridgeError, match="another config"):
        train(packed, tmp_path, cfg, small, progress=False)   # the schedule changed: refuse to mix
    path = train(packed, tmp_path, dataclasses.replace(cfg, steps=100), small, progress=False)
    history = __import__("json").loads((tmp_path / "history.json").read_text())
    assert history[0][0] == 50 and history[-1][0] == 100          # resumed at 100, nothing re-run
    assert history[-1][1] < history[0][1]
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert load_weights(path).info["complete"]


def test_training_loss_weights_by_the_models_own_sigma_data(pairs, frames, frontend, monkeypatch):
    """Training and the denoiser share one σ_data (the loss used to hard-code 1 while the network read its config)."""
    import vasa_bridge.train.loop as loop
    from vasa_bridge.train.data import PairSet

    seen: list[float] = []
    weight = loop.edm_loss_weight

    def spy(sigma, sigma_data):
        seen.append(sigma_data)
        return weight(sigma, sigma_data)

    monkeypatch.setattr(loop, "edm_loss_weight", spy)
    config = ModelConfig(d_model=32, n_layers=1, n_heads=2, audio_hidden=32, sigma_data=0.5)
    net = loop.MotionDenoiser(config)
    latent = PcaLatent.fit(frames, config.latent_dim)
    batch = loop.WindowSampler(PairSet.pack(pairs, frontend), latent, config, seed=0).sample(4)
    gen = torch.Generator().manual_seed(0)
    loss = loop.denoising_loss(net, batch, torch.eye(config.latent_dim, 60), loop.TrainConfig(), gen)
    assert seen == [0.5] and torch.isfinite(loss)


@pytest.mark.parametrize("p_context_drop", [0.5, 1.0])
def test_training_windows_drop_their_context_at_the_configured_rate(pairs, frames, frontend, p_context_drop):
    """Dropped windows keep their new frames but show padding where the committed frames were, so the model has
    to take gaze, emotion and distance from the controls rather than copy them from the prefix."""
    from vasa_bridge.train.data import PairSet
    from vasa_bridge.train.loop import WindowSampler

    config, packed = ModelConfig(), PairSet.pack(pairs, frontend)
    latent = PcaLatent.fit(frames, config.latent_dim)
    kept, dropped = (WindowSampler(packed, latent, config, seed=1, p_context_drop=p).sample(2000)
                     for p in (0.0, p_context_drop))                        # same seed: the same windows
    np.testing.assert_array_equal(kept["kind"] == NEW, dropped["kind"] == NEW)
    np.testing.assert_array_equal(kept["x0"][dropped["kind"] == NEW], dropped["x0"][dropped["kind"] == NEW])
    had_context = (kept["kind"] == CONTEXT).any(dim=1)
    lost_context = had_context & ~(dropped["kind"] == CONTEXT).any(dim=1)
    rate = float(lost_context.sum() / had_context.sum())
    assert abs(rate - p_context_drop) < 0.04, rate
    assert torch.all(dropped["x0"][(dropped["kind"] == PAD)] == 0)
