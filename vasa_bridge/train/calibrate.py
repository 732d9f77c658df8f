"""Eyelid calibration, the last stage of training.

A blink's timing is barely predictable from audio, so the denoiser's x0 estimate averages it into a half closure
(median peak 0.6–0.7 where the teacher closes fully). The model still decides *when* and *how long*; this stage
decides *how far*: a monotone curve maps the model's eyelid values to the teacher's, quantile for quantile, measured
on training lines (never on evaluation data). It is applied per frame at decode (model/latent.py), so offline and
streamed output get the same curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.motion.measures import eye_closure, lip_aperture

QUANTILES = np.array([0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995, 0.999, 1.0])


def fit_eyelid_curve(model_frames: list[np.ndarray], teacher_frames: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(knots_in, knots_out): the model's eyelid quantiles → the teacher's, knots_in strictly increasing."""
    model = np.concatenate([eye_closure(f) for f in model_frames])
    teacher = np.concatenate([eye_closure(f) for f in teacher_frames])
    knots_in = np.maximum.accumulate(np.quantile(model, QUANTILES))
    knots_in = knots_in + 1e-4 * np.arange(len(knots_in))          # strictly increasing for np.interp
    knots_out = np.clip(np.maximum.accumulate(np.quantile(teacher, QUANTILES)), 0.0, 1.0)
    return knots_in.astype(np.float32), knots_out.astype(np.float32)


def fit_lip_curve(model_frames: list[np.ndarray], teacher_frames: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(knots_in, knots_out): the model's lip-aperture quantiles → the teacher's, over the lower half only (the
    closures); above it the curve is the identity, so open mouths are untouched."""
    model = np.concatenate([lip_aperture(f) for f in model_frames])
    teacher = np.concatenate([lip_aperture(f) for f in teacher_frames])
    levels = np.linspace(0.0, 0.5, 11)
    knots_in = np.maximum.accumulate(np.quantile(model, levels)) + 1e-4 * np.arange(len(levels))
    knots_out = np.minimum(np.maximum.accumulate(np.quantile(teacher, levels)), knots_in)
    knots_out[-1] = knots_in[-1]                                    # the knee maps to itself: identity above it
    return (np.append(knots_in, knots_in[-1] + 1.0).astype(np.float32),
            np.append(knots_out, knots_in[-1] + 1.0).astype(np.float32))


def calibrate_weights(weights_path: Path, pairs, lines: int = 160, seed: int = 0, seal_lips: bool = True) -> dict:
    """Bake `lines` training lines with the uncalibrated model, fit the curves, write them into the weights file."""
    import torch

    from vasa_bridge.model.weights import load_weights, save_weights
    from vasa_bridge.runtime.diffusion import DiffusionBackend, generate_clips

    rng = np.random.default_rng(seed)
    speech = [p for p in pairs if p.voice != "non-speech"]
    chosen = [speech[i] for i in rng.choice(len(speech), min(lines, len(speech)), replace=False)]
    backend = DiffusionBackend("torch", weights=weights_path)
    empty = np.zeros(0, np.float32)                  # fit on the model's own output, not a previous calibration's
    backend.latent = backend.latent.with_curves(eyelid_in=empty, eyelid_out=empty, lips_in=empty, lips_out=empty)
    backend.articulation = None                      # the curves calibrate the denoiser; the head comes after them
    baked = generate_clips(backend, [p.audio_16k for p in chosen], [p.controls for p in chosen],
                           [seed + i for i in range(len(chosen))])
    model, teacher = [c.frames for c in baked], [p.frames for p in chosen]
    eyelid_in, eyelid_out = fit_eyelid_curve(model, teacher)
    curves = {"eyelid_in": eyelid_in, "eyelid_out": eyelid_out}
    if seal_lips:
        curves["lips_in"], curves["lips_out"] = fit_lip_curve(model, teacher)
    loaded = load_weights(weights_path)
    blob = torch.load(weights_path, map_location="cpu", weights_only=False)
    info = {**blob.get("info", {}), "calibration": {"lines": len(chosen),
                                                     **{k: v.tolist() for k, v in curves.items()}}}
    save_weights(weights_path, loaded.network, loaded.latent.with_curves(**curves), info)
    return info["calibration"]
