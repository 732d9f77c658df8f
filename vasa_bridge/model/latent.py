"""The expression latent: whitened PCA of the 60-channel motion frame, fitted on training frames.

Channels live on different scales (blendshapes in [0, 1], head rotation in radians, head distance in metres), so
each channel is first divided by its spread (floored, so channels that never move do not blow up), then projected
on the top principal components and whitened (unit variance per latent dim, which is what the diffusion model's
σ_data = 1 assumes). Encoder and decoder are linear, so the training loss can be taken in frame space for free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_bridge.motion import layout

CHANNEL_SCALE_FLOOR = 0.01  # below this spread a channel is treated as (almost) constant


@dataclass(frozen=True)
class PcaLatent:
    mean: np.ndarray          # (N_CHANNELS,) frame mean
    channel_scale: np.ndarray  # (N_CHANNELS,) per-channel spread used before the PCA
    components: np.ndarray    # (latent_dim, N_CHANNELS) orthonormal rows in scaled-channel space
    stddev: np.ndarray        # (latent_dim,) spread of each component (whitening divides by it)

    @property
    def latent_dim(self) -> int:
        return int(self.components.shape[0])

    @staticmethod
    def fit(frames: np.ndarray, latent_dim: int) -> "PcaLatent":
        frames = np.asarray(frames, np.float64)                      # (N, C)
        mean = frames.mean(axis=0)
        scale = np.maximum(frames.std(axis=0), CHANNEL_SCALE_FLOOR)
        z = (frames - mean) / scale                                  # (N, C)
        _, s, vt = np.linalg.svd(z, full_matrices=False)             # z = U S Vt
        stddev = s[:latent_dim] / np.sqrt(len(frames))
        return PcaLatent(mean.astype(np.float32), scale.astype(np.float32), vt[:latent_dim].astype(np.float32),
                         np.maximum(stddev, 1e-6).astype(np.float32))

    @property
    def encode_matrix(self) -> np.ndarray:
        """(C, L): latent = (frame - mean) @ encode_matrix."""
        return (self.components / self.stddev[:, None] / self.channel_scale[None, :]).T

    @property
    def decode_matrix(self) -> np.ndarray:
        """(L, C): frame = latent @ decode_matrix + mean."""
        return self.components * self.stddev[:, None] * self.channel_scale[None, :]

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(..., C) frames → (..., L) latent."""
        return ((np.asarray(frames, np.float32) - self.mean) @ self.encode_matrix).astype(np.float32)

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """(..., L) latent → (..., C) frames, blendshapes clipped to their valid [0, 1] range."""
        frames = np.asarray(latent, np.float32) @ self.decode_matrix + self.mean
        frames[..., layout.BLENDSHAPE_SLICE] = np.clip(frames[..., layout.BLENDSHAPE_SLICE], 0.0, 1.0)
        return frames.astype(np.float32)

    def explained_variance(self, frames: np.ndarray) -> float:
        """Share of the scaled-channel variance the latent keeps on `frames` (1.0 = lossless)."""
        z = (np.asarray(frames, np.float64) - self.mean) / self.channel_scale
        z_hat = (z @ self.components.T) @ self.components
        return float(1.0 - np.sum((z - z_hat) ** 2) / np.sum((z - z.mean(0)) ** 2))

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "channel_scale": self.channel_scale, "components": self.components,
                "stddev": self.stddev}

    @staticmethod
    def from_dict(d: dict) -> "PcaLatent":
        return PcaLatent(*(np.asarray(d[k], np.float32) for k in ("mean", "channel_scale", "components", "stddev")))
