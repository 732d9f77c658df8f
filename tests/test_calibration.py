"""Output calibration fitted at the end of training: eyelids reach the teacher's full closures, near-closed lips
seal, open mouths and the frame layout are left alone, and the curves travel inside the weights (and ONNX)."""

from __future__ import annotations

import numpy as np

from vasa_bridge.model.latent import PcaLatent, seal_lips
from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import blink_depth, eye_closure, lip_aperture
from vasa_bridge.train.calibrate import fit_eyelid_curve, fit_lip_curve


def blinking(peak: float, n: int = 500, seed: int = 0) -> np.ndarray:
    """Frames with a blink every ~4 s that closes to `peak`, and a mouth opening and closing."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, layout.N_CHANNELS), np.float32)
    lid = np.zeros(n)
    for start in range(20, n - 10, 100):
        lid[start: start + 5] = peak * np.array([0.4, 0.9, 1.0, 0.7, 0.3])
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        frames[:, layout.channel(name)] = lid + rng.uniform(0, 0.02, n)
    frames[:, layout.channel("jawOpen")] = 0.3 * np.abs(np.sin(np.arange(n) / 3.0))
    return frames


def test_eyelid_curve_turns_the_models_half_blinks_into_the_teachers_full_ones():
    model, teacher = blinking(0.6), blinking(1.0, seed=1)
    knots_in, knots_out = fit_eyelid_curve([model], [teacher])
    assert np.all(np.diff(knots_in) > 0)
    assert blink_depth(model) < 0.7
    latent = PcaLatent.fit(np.concatenate([model, teacher]), 32).with_curves(eyelid_in=knots_in, eyelid_out=knots_out)
    decoded = latent.decode(latent.encode(model))
    assert blink_depth(decoded) > 0.9
    np.testing.assert_allclose(decoded[:, layout.channel("jawOpen")], model[:, layout.channel("jawOpen")], atol=1e-3)


def test_lip_seal_closes_near_closures_and_never_opens_the_mouth():
    frames = np.zeros((4, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("jawOpen")] = [0.04, 0.3, 0.06, 0.0]
    frames[:, layout.channel("mouthUpperUpLeft")] = [0.05, 0.2, 0.0, 0.0]
    before = lip_aperture(frames)
    knots_in, knots_out = np.array([0.0, 0.06, 0.1, 1.1]), np.array([0.0, 0.0, 0.1, 1.1])
    sealed = seal_lips(frames.copy(), knots_in, knots_out)
    after = lip_aperture(sealed)
    assert after[0] < 1e-6 and after[2] < 1e-6               # near-closed lips meet
    assert abs(after[1] - before[1]) < 1e-6                  # an open mouth is untouched
    assert np.all(after <= before + 1e-6)
    mouth_close, jaw = sealed[:, layout.channel("mouthClose")], sealed[:, layout.channel("jawOpen")]
    assert np.all(mouth_close <= jaw + 1e-6)                 # a rig never sees lips closed past the jaw


def test_lip_curve_is_identity_above_the_closures():
    rng = np.random.default_rng(0)
    model = [np.zeros((300, layout.N_CHANNELS), np.float32)]
    model[0][:, layout.channel("jawOpen")] = rng.uniform(0.03, 0.5, 300)
    teacher = [model[0].copy()]
    teacher[0][:100, layout.channel("jawOpen")] = 0.0
    knots_in, knots_out = fit_lip_curve(model, teacher)
    assert np.all(knots_out <= knots_in) and knots_out[-1] == knots_in[-1]
    assert lip_aperture(seal_lips(model[0].copy(), knots_in, knots_out))[model[0][:, 0] >= 0].max() > 0.45


def test_curves_survive_the_weights_dict_and_default_to_identity():
    frames = blinking(0.6)
    latent = PcaLatent.fit(frames, 16)
    assert latent.lips_in.size == 0 and latent.eyelid_in.size == 0
    curved = latent.with_curves(eyelid_in=[0.0, 0.5, 1.0], eyelid_out=[0.0, 0.9, 1.0], lips_in=[0, 1], lips_out=[0, 1])
    back = PcaLatent.from_dict({k: np.asarray(v).tolist() for k, v in curved.to_dict().items()})
    np.testing.assert_allclose(back.eyelid_out, [0.0, 0.9, 1.0])
    old_style = {k: v for k, v in latent.to_dict().items() if not k.startswith(("eyelid", "lips"))}
    np.testing.assert_allclose(PcaLatent.from_dict(old_style).decode(latent.encode(frames)),
                               latent.decode(latent.encode(frames)))
    assert eye_closure(curved.decode(latent.encode(frames))).max() > eye_closure(frames).max()
