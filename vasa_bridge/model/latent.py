"""The expression latent: whitened PCA of the 60-channel motion frame, fitted on training frames.

Channels live on different scales (blendshapes in [0, 1], head rotation in radians, head distance in metres), so
each channel is first divided by its spread (floored, so channels that never move do not blow up), then projected
on the top principal components and whitened (unit variance per latent dim, which is what the diffusion model's
σ_data = 1 assumes). Encoder and decoder are linear, so the training loss can be taken in frame space for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import EYELIDS

CHANNEL_SCALE_FLOOR = 0.01  # below this spread a channel is treated as (almost) constant
_EMPTY = np.zeros(0, np.float32)


@dataclass(frozen=True)
class PcaLatent:
    mean: np.ndarray          # (N_CHANNELS,) frame mean
    channel_scale: np.ndarray  # (N_CHANNELS,) per-channel spread used before the PCA
    components: np.ndarray    # (latent_dim, N_CHANNELS) orthonormal rows in scaled-channel space
    stddev: np.ndarray        # (latent_dim,) spread of each component (whitening divides by it)
    # Eyelid calibration (train/calibrate.py): the denoiser's x0 estimate averages a blink's uncertain timing into
    # a half closure, so decoded eyelids go through a monotone curve that maps the model's eyelid quantiles on its
    # training lines to the teacher's. Empty = identity.
    eyelid_in: np.ndarray = field(default_factory=lambda: _EMPTY)    # (K,) increasing
    eyelid_out: np.ndarray = field(default_factory=lambda: _EMPTY)   # (K,)
    # Lip seal (train/calibrate.py), the same idea for closures: the x0 estimate leaves lips that should meet a few
    # hundredths apart. Lip apertures are mapped through a monotone curve (never opened further); the lips close by
    # raising mouthClose (up to jawOpen), then by relaxing the lip raisers.
    lips_in: np.ndarray = field(default_factory=lambda: _EMPTY)
    lips_out: np.ndarray = field(default_factory=lambda: _EMPTY)

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
        if len(self.eyelid_in):
            for name in EYELIDS:
                c = layout.channel(name)
                frames[..., c] = np.interp(frames[..., c], self.eyelid_in, self.eyelid_out)
        if len(self.lips_in):
            frames = seal_lips(frames, self.lips_in, self.lips_out)
        return frames.astype(np.float32)

    def with_curves(self, **curves: np.ndarray) -> "PcaLatent":
        """A copy with calibration curves set: eyelid_in/out, lips_in/out."""
        from dataclasses import replace

        return replace(self, **{k: np.asarray(v, np.float32) for k, v in curves.items()})

    def explained_variance(self, frames: np.ndarray) -> float:
        """Share of the scaled-channel variance the latent keeps on `frames` (1.0 = lossless)."""
        z = (np.asarray(frames, np.float64) - self.mean) / self.channel_scale
        z_hat = (z @ self.components.T) @ self.components
        return float(1.0 - np.sum((z - z_hat) ** 2) / np.sum((z - z.mean(0)) ** 2))

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "channel_scale": self.channel_scale, "components": self.components,
                "stddev": self.stddev, "eyelid_in": self.eyelid_in, "eyelid_out": self.eyelid_out,
                "lips_in": self.lips_in, "lips_out": self.lips_out}

    @staticmethod
    def from_dict(d: dict) -> "PcaLatent":
        fields = ("mean", "channel_scale", "components", "stddev", "eyelid_in", "eyelid_out", "lips_in", "lips_out")
        return PcaLatent(*(np.asarray(d.get(k, _EMPTY), np.float32) for k in fields))


def seal_lips(frames: np.ndarray, knots_in: np.ndarray, knots_out: np.ndarray) -> np.ndarray:
    """(..., C) frames whose lip aperture (motion/measures.py) is mapped through the curve, closing only."""
    from vasa_bridge.model.articulation import set_lip_aperture
    from vasa_bridge.motion.measures import lip_aperture

    flat = frames.reshape(-1, frames.shape[-1])
    aperture = lip_aperture(flat)
    target = np.minimum(np.interp(aperture, knots_in, knots_out), aperture)
    return set_lip_aperture(flat, target).reshape(frames.shape)
