"""An untrained model with a real latent: what tests and benchmarks of the plumbing use when the behaviour under
test does not depend on training (shapes, streaming contract, parity, determinism, speed)."""

from __future__ import annotations

import numpy as np

from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.model.weights import LoadedModel


def untrained_model(frames: np.ndarray, seed: int = 0, **config_overrides) -> LoadedModel:
    """Random weights (output layer not zeroed, so inputs matter) and a PCA fitted on `frames` (T, 60)."""
    import torch

    from vasa_bridge.model.denoiser import ModelConfig, MotionDenoiser

    torch.manual_seed(seed)
    config = ModelConfig(**config_overrides)
    net = MotionDenoiser(config)
    torch.nn.init.normal_(net.out.weight, std=0.05)
    torch.nn.init.normal_(net.audio_null, std=0.5)
    torch.nn.init.normal_(net.controls_null, std=0.5)
    return LoadedModel(net.eval(), PcaLatent.fit(frames, config.latent_dim), {"untrained": True})
