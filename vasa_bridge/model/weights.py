"""The weights file: one torch file holding the network, its config, the PCA latent, the motion-layout version
and the model-format version, so loading needs nothing else and refuses a file made for another layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.motion.layout import MOTION_LAYOUT_VERSION

# Bump when the network's inputs, token layout or conditioning change meaning.
MODEL_FORMAT_VERSION = 2   # 2: inputs are the speech front end's rows (audio/frontend.py), not log-mel
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "weights" / "motion_dit.pt"


@dataclass
class LoadedModel:
    network: "object"                # MotionDenoiser in eval mode
    latent: PcaLatent
    info: dict = field(default_factory=dict)   # training summary (steps, data, metrics)


def save_weights(path: str | Path, network, latent: PcaLatent, info: dict | None = None) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_format_version": MODEL_FORMAT_VERSION, "motion_layout_version": MOTION_LAYOUT_VERSION,
                "config": network.config.to_dict(),
                "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
                "latent": {k: np.asarray(v) for k, v in latent.to_dict().items()},
                "info": info or {}}, path)


def load_weights(path: str | Path = DEFAULT_WEIGHTS) -> LoadedModel:
    import torch

    from vasa_bridge.model.denoiser import ModelConfig, MotionDenoiser

    path = Path(path)
    if not path.exists():
        raise VasaBridgeError(f"no motion-model weights at {path}: train them with `make train` "
                              f"(or `vasa-bridge train`), or pass --weights")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file: torch raises many types
        raise ModelVersionError(f"{path} is not a vasa_bridge weights file ({type(e).__name__}: {e})") from None
    if not isinstance(blob, dict) or "motion_layout_version" not in blob:
        raise ModelVersionError(f"{path} is not a vasa_bridge weights file (no motion_layout_version inside)")
    if blob["motion_layout_version"] != MOTION_LAYOUT_VERSION:
        raise ModelVersionError(f"{path} was trained for motion layout v{blob['motion_layout_version']}, this "
                                f"build uses v{MOTION_LAYOUT_VERSION}: retrain with `make train`")
    if blob.get("model_format_version") != MODEL_FORMAT_VERSION:
        raise ModelVersionError(f"{path} has model format v{blob.get('model_format_version')}, this build reads "
                                f"v{MODEL_FORMAT_VERSION}: retrain with `make train`")
    network = MotionDenoiser(ModelConfig(**blob["config"]))
    network.load_state_dict(blob["state_dict"])
    network.eval()
    return LoadedModel(network, PcaLatent.from_dict(blob["latent"]), dict(blob.get("info", {})))
