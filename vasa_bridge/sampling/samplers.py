"""Deterministic few-step samplers with one signature (k-diffusion's):

    sampler(model, x, sigmas, extra_args=None, callback=None, generator=None) -> x0

`model(x, sigma, **extra_args)` is a denoiser returning the x0 estimate, `sigma` a (B,) array; `x` starts at
noise level sigmas[0]; `sigmas` ends in 0. Both samplers draw no noise (η = 0), so a seed only enters through the
initial x; `generator` is accepted for samplers that would.

The samplers only do arithmetic on `x`, so they run on torch tensors and on numpy arrays alike: the onnxruntime
path never imports torch (cold start). Wrap torch models in `torch.no_grad()` yourself.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

Array = Any  # torch.Tensor or np.ndarray
Denoiser = Callable[..., Array]


def _sigma_batch(sigma: float, x: Array) -> Array:
    if isinstance(x, np.ndarray):
        return np.full(x.shape[0], sigma, x.dtype)
    return x.new_full((x.shape[0],), sigma)


def sample_ddim(model: Denoiser, x: Array, sigmas: Array, extra_args: dict | None = None,
                callback: Callable[[dict], None] | None = None, generator: Any = None) -> Array:
    """DDIM with η = 0, which in σ-parameterisation is Euler's method on the probability-flow ODE."""
    extra_args = extra_args or {}
    sigmas = [float(s) for s in sigmas]
    for i in range(len(sigmas) - 1):
        denoised = model(x, _sigma_batch(sigmas[i], x), **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        d = (x - denoised) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


def sample_dpmpp_2m(model: Denoiser, x: Array, sigmas: Array, extra_args: dict | None = None,
                    callback: Callable[[dict], None] | None = None, generator: Any = None) -> Array:
    """DPM-Solver++(2M) (Lu et al. 2022): second order multistep in log-σ, one model call per step."""
    extra_args = extra_args or {}
    sigmas = [float(s) for s in sigmas]
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _sigma_batch(sigmas[i], x), **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        if sigmas[i + 1] == 0:          # last step: jump to the estimate
            x = denoised
            break
        t, t_next = -math.log(sigmas[i]), -math.log(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None:
            d = denoised
        else:
            r = (t - (-math.log(sigmas[i - 1]))) / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sigmas[i + 1] / sigmas[i]) * x - math.expm1(-h) * d
        old_denoised = denoised
    return x


SAMPLERS: dict[str, Callable[..., Array]] = {"ddim": sample_ddim, "dpmpp_2m": sample_dpmpp_2m}


def guided(model: Denoiser, guidance_scale: np.ndarray | float) -> Denoiser:
    """Classifier-free guidance on the audio around a numpy denoiser that takes `audio_keep` / `controls_keep`:
    one batched call evaluates the conditional window and the same window with null audio (controls kept); the
    result is D_u + s·(D_c − D_u), with s per window (B,) or one float. The controls sit in both halves, so they
    act at their trained strength: guiding them too (null controls in D_u) doubled the smile and the gaze offset
    of the teacher at s = 2 once the model had learnt them. Where every s is 1 this is the plain conditional model
    at the cost of one evaluation."""
    scale = np.asarray(guidance_scale, np.float32).reshape(-1)
    if np.all(scale == 1.0):
        return model

    def wrapper(x: np.ndarray, sigma: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        b = x.shape[0]
        doubled = {k: np.concatenate([v, v]) for k, v in extra.items()}
        doubled["audio_keep"] = np.concatenate([extra["audio_keep"], np.zeros_like(extra["audio_keep"])])
        both = model(np.concatenate([x, x]), np.concatenate([sigma, sigma]), **doubled)
        cond, uncond = both[:b], both[b:]
        return uncond + scale.reshape(-1, *([1] * (x.ndim - 1))) * (cond - uncond)

    return wrapper
