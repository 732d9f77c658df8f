"""An untrained model with a real latent: what tests and benchmarks of the plumbing use when the behaviour under
test does not depend on training (shapes, streaming contract, parity, determinism, speed)."""

from __future__ import annotations

from pathlib import Path

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


def write_untrained(folder: str | Path, frames: np.ndarray, seed: int = 0, **config_overrides) -> Path:
    """Write `folder/motion_dit.pt`, its ONNX export and an untrained speech front end beside them; returns the
    .pt path."""
    from vasa_bridge.audio.frontend import FrontEndConfig, save_frontend, untrained_params
    from vasa_bridge.export.onnx import export_onnx, file_sha256
    from vasa_bridge.model.weights import save_weights

    frontend_config = FrontEndConfig(channels=32)
    sha = save_frontend(Path(folder) / "speech_frontend.npz", frontend_config,
                        untrained_params(frontend_config, seed), {"untrained": True})
    model = untrained_model(frames, seed, n_features=frontend_config.n_features, **config_overrides)
    model.info["frontend_sha256"] = sha
    path = Path(folder) / "motion_dit.pt"
    save_weights(path, model.network, model.latent, model.info)
    export_onnx(model, path.with_suffix(".onnx"), file_sha256(path))
    return path
