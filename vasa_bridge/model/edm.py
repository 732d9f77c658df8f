"""The denoiser's EDM contract (Karras et al. 2022, table 1), one home for training and the network.

D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)), trained with the loss weight λ(σ) = 1 / c_out(σ)²,
all from σ_data, the standard deviation of the clean latent (1 here: the PCA latent is whitened). Torch tensors in,
torch tensors out (σ broadcast by the caller).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# σ is clamped before its log so a σ of 0 (a sampler's last step) gives a finite c_noise.
SIGMA_LOG_FLOOR = 1e-5


class EdmScalings(NamedTuple):
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_in: torch.Tensor


def edm_scalings(sigma: torch.Tensor, sigma_data: float) -> EdmScalings:
    """c_skip, c_out, c_in for noise levels `sigma` (any shape)."""
    sd2 = sigma_data ** 2
    return EdmScalings(c_skip=sd2 / (sigma ** 2 + sd2),
                       c_out=sigma * sigma_data / torch.sqrt(sigma ** 2 + sd2),
                       c_in=1.0 / torch.sqrt(sigma ** 2 + sd2))


def edm_c_noise(sigma: torch.Tensor) -> torch.Tensor:
    """The noise level as the network hears it: log(σ) / 4."""
    return torch.log(sigma.clamp_min(SIGMA_LOG_FLOOR)) / 4.0


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """λ(σ) = (σ² + σ_data²) / (σ·σ_data)², which makes the weighted x0 error the network's own error F − F*."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
