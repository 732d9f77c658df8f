"""An untrained model written out the way `make train` + `vasa-bridge export` write a real one: what tests and
benchmarks of the runtime use when the behaviour under test does not depend on training. (It lives in export/, not
model/, because it exports: model/ never imports export/.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.export.onnx import export_onnx, file_sha256
from vasa_bridge.model.untrained import untrained_model
from vasa_bridge.model.weights import save_weights


def write_untrained(folder: str | Path, frames: np.ndarray, seed: int = 0, **config_overrides) -> Path:
    """Write `folder/motion_dit.pt`, its ONNX export and an untrained speech front end beside them; returns the
    .pt path."""
    from vasa_bridge.audio.frontend import FrontEndConfig, save_frontend, untrained_params

    frontend_config = FrontEndConfig(channels=32)
    sha = save_frontend(Path(folder) / "speech_frontend.npz", frontend_config,
                        untrained_params(frontend_config, seed), {"untrained": True})
    model = untrained_model(frames, seed, n_features=frontend_config.n_features, **config_overrides)
    model.info["frontend_sha256"] = sha
    path = Path(folder) / "motion_dit.pt"
    save_weights(path, model.network, model.latent, model.info)
    export_onnx(model, path.with_suffix(".onnx"), file_sha256(path))
    return path
