"""Deterministic few-step samplers with one signature (k-diffusion's):

    sampler(model, x, sigmas, extra_args=None, callback=None, generator=None) -> x0

`model(x, sigma, **extra_args)` is a denoiser returning the x0 estimate, `sigma` a (B,) tensor; `x` starts at
noise level sigmas[0]; `sigmas` ends in 0. Both samplers draw no noise (η = 0), so a seed only enters through the
initial x; `generator` is accepted for samplers that would.
"""

from __future__ import annotations

from typing import Callable

import torch

Denoiser = Callable[..., torch.Tensor]


def _sigma_batch(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.to(x.dtype).expand(x.shape[0])


@torch.no_grad()
def sample_ddim(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                callback: Callable[[dict], None] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """DDIM with η = 0, which in σ-parameterisation is Euler's method on the probability-flow ODE."""
    extra_args = extra_args or {}
    for i in range(len(sigmas) - 1):
        denoised = model(x, _sigma_batch(sigmas[i], x), **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        d = (x - denoised) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


@torch.no_grad()
def sample_dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callable[[dict], None] | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): second order multistep in log-σ, one model call per step."""
    extra_args = extra_args or {}
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _sigma_batch(sigmas[i], x), **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "denoised": denoised})
        if sigmas[i + 1] == 0:          # last step: jump to the estimate
            x = denoised
            break
        t, t_next = -torch.log(sigmas[i]), -torch.log(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None:
            d = denoised
        else:
            r = (t - (-torch.log(sigmas[i - 1]))) / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * d
        old_denoised = denoised
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"ddim": sample_ddim, "dpmpp_2m": sample_dpmpp_2m}


def guided(model: Denoiser, guidance_scale: float) -> Denoiser:
    """Classifier-free guidance around a denoiser that takes `audio_keep` / `controls_keep`: one batched call
    evaluates the conditional and the unconditional (null audio, null controls) window; the result is
    D_u + s·(D_c − D_u). With s = 1 this is the plain conditional model and costs one evaluation."""
    if guidance_scale == 1.0:
        return model

    def wrapper(x: torch.Tensor, sigma: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        doubled = {k: torch.cat([v, v]) for k, v in extra.items()}
        doubled["audio_keep"] = torch.cat([extra["audio_keep"], torch.zeros_like(extra["audio_keep"])])
        doubled["controls_keep"] = torch.cat([extra["controls_keep"], torch.zeros_like(extra["controls_keep"])])
        both = model(torch.cat([x, x]), torch.cat([sigma, sigma]), **doubled)
        cond, uncond = both[:b], both[b:]
        return uncond + guidance_scale * (cond - uncond)

    return wrapper
