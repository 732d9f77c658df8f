"""ONNX export of the motion denoiser: one graph call = one denoiser evaluation D(x; σ) with the EDM
preconditioning and feature normalisation inside, batch dimension dynamic.

The file is self-contained for the runtime: the model config, the PCA latent, the motion-layout version and the
model-format version ride in its metadata, so the onnxruntime backend never needs torch (fast cold start)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.model.weights import MODEL_FORMAT_VERSION, LoadedModel
from vasa_bridge.motion.layout import MOTION_LAYOUT_VERSION

INPUT_NAMES = ("x", "sigma", "kind", "audio", "controls", "audio_keep", "controls_keep")
OUTPUT_NAME = "denoised"
OPSET = 17


def example_inputs(config, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Random but valid inputs (used for tracing and parity checks)."""
    rng = np.random.default_rng(seed)
    w = config.window_frames
    kind = np.ones((batch, w), np.int64)
    kind[:, -config.max_new_frames:] = 2
    kind[0, :3] = 0
    return {"x": rng.standard_normal((batch, w, config.latent_dim)).astype(np.float32),
            "sigma": np.exp(rng.uniform(-3, 2, batch)).astype(np.float32),
            "kind": kind,
            "audio": (rng.standard_normal((batch, w, config.span_features, config.n_features)) * 3 - 6
                      ).astype(np.float32),
            "controls": rng.uniform(-1, 1, (batch, config.n_controls)).astype(np.float32),
            "audio_keep": np.ones(batch, np.float32), "controls_keep": np.ones(batch, np.float32)}


def export_onnx(model: LoadedModel, path: str | Path, weights_sha256: str = "") -> Path:
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = model.network.eval()
    inputs = tuple(torch.from_numpy(v) for v in example_inputs(net.config).values())
    dynamic = {name: {0: "batch"} for name in INPUT_NAMES} | {OUTPUT_NAME: {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(net, inputs, str(path), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    graph = onnx.load(str(path))
    meta = {"motion_layout_version": str(MOTION_LAYOUT_VERSION), "model_format_version": str(MODEL_FORMAT_VERSION),
            "config": json.dumps(net.config.to_dict()),
            "latent": json.dumps({k: np.asarray(v).tolist() for k, v in model.latent.to_dict().items()}),
            "weights_sha256": weights_sha256}
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))
    return path


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_onnx_metadata(meta: dict[str, str], path: str | Path) -> tuple[dict, PcaLatent]:
    """(config dict, latent) from an exported model's metadata; ModelVersionError for another version."""
    if "motion_layout_version" not in meta:
        raise ModelVersionError(f"{path} is not a vasa_bridge motion model (no motion_layout_version metadata)")
    if int(meta["motion_layout_version"]) != MOTION_LAYOUT_VERSION:
        raise ModelVersionError(f"{path} was exported for motion layout v{meta['motion_layout_version']}, this "
                                f"build uses v{MOTION_LAYOUT_VERSION}: re-export with `vasa-bridge export`")
    if int(meta.get("model_format_version", -1)) != MODEL_FORMAT_VERSION:
        raise ModelVersionError(f"{path} has model format v{meta.get('model_format_version')}, this build reads "
                                f"v{MODEL_FORMAT_VERSION}: re-export with `vasa-bridge export`")
    try:
        config = json.loads(meta["config"])
        latent = PcaLatent.from_dict({k: np.array(v) for k, v in json.loads(meta["latent"]).items()})
    except (KeyError, ValueError) as e:
        raise VasaBridgeError(f"{path}: damaged model metadata ({e})") from None
    return config, latent
