"""Noise schedules as small pure functions: number of steps in, decreasing σ levels (ending in 0) out."""

from __future__ import annotations

import numpy as np

# The motion latent is whitened (σ_data = 1): σ = 10 already drowns it, and few-step sampling wastes less of its
# budget at absurd noise levels than with image-model defaults (σ_max = 80).
SIGMA_MIN = 0.02
SIGMA_MAX = 10.0
RHO = 7.0


def karras_sigmas(n_steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                  rho: float = RHO) -> np.ndarray:
    """(n_steps + 1,) Karras et al. (2022) σ levels, spaced evenly in σ^(1/ρ), followed by a final 0."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = np.linspace(0.0, 1.0, n_steps)
    inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sigmas = (inv_max + ramp * (inv_min - inv_max)) ** rho
    return np.append(sigmas, 0.0).astype(np.float32)


def loglinear_sigmas(n_steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX) -> np.ndarray:
    """(n_steps + 1,) σ levels spaced evenly in log σ, then 0."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return np.append(np.exp(np.linspace(np.log(sigma_max), np.log(sigma_min), n_steps)), 0.0).astype(np.float32)
