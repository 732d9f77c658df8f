"""Noise schedules (pure functions) and samplers sharing k-diffusion's signature
`sampler(model, x, sigmas, extra_args=None, callback=None, generator=None) -> x0`."""

from vasa_bridge.sampling.samplers import SAMPLERS, sample_ddim, sample_dpmpp_2m
from vasa_bridge.sampling.schedules import karras_sigmas

__all__ = ["SAMPLERS", "karras_sigmas", "sample_ddim", "sample_dpmpp_2m"]
