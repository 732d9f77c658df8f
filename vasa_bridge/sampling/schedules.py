"""Noise schedules as small pure functions: number of steps in, decreasing σ levels (ending in 0) out."""

from __future__ import annotations

import torch

# The motion latent is whitened (σ_data = 1): σ = 10 already drowns it, and few-step sampling wastes less of its
# budget at absurd noise levels than with image-model defaults (σ_max = 80).
SIGMA_MIN = 0.02
SIGMA_MAX = 10.0
RHO = 7.0


def karras_sigmas(n_steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                  rho: float = RHO) -> torch.Tensor:
    """(n_steps + 1,) Karras et al. (2022) σ levels, spaced evenly in σ^(1/ρ), followed by a final 0."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
    inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sigmas = (inv_max + ramp * (inv_min - inv_max)) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).to(torch.float32)


def loglinear_sigmas(n_steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX) -> torch.Tensor:
    """(n_steps + 1,) σ levels spaced evenly in log σ, then 0."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    sigmas = torch.exp(torch.linspace(torch.log(torch.tensor(sigma_max)), torch.log(torch.tensor(sigma_min)),
                                      n_steps))
    return torch.cat([sigmas, torch.zeros(1)]).to(torch.float32)
