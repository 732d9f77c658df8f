"""ONNX export of the motion denoiser as two graphs, batch dimension dynamic in both:

- `motion_dit.onnx`, the denoiser: one call = one evaluation D(x; σ) with the EDM preconditioning inside, on
  audio that is already embedded (`audio_emb`);
- `motion_dit.audio.onnx`, the audio encoder: raw feature spans (with their normalisation) → embeddings. The
  runtime calls it once per motion frame, the denoiser once per window and sampling step.

The files are self-contained for the runtime: the model config, the PCA latent, the motion-layout, model-format
and export-format versions and the source weights' hash ride in the metadata of both, so the onnxruntime backend
never needs torch (fast cold start) and can tell a half-finished re-export."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.inputs import CONTEXT, DENOISER_INPUT_NAMES, NEW, PAD, DenoiserInputs
from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.model.weights import MODEL_FORMAT_VERSION, LoadedModel
from vasa_bridge.motion.layout import MOTION_LAYOUT_VERSION

OUTPUT_NAME = "denoised"
AUDIO_INPUT_NAME, AUDIO_OUTPUT_NAME = "audio", "audio_emb"
OPSET = 17
# Bump when the exported graphs' inputs or split change (2: audio encoder split out of the denoiser).
EXPORT_FORMAT_VERSION = 2


def audio_encoder_path(denoiser_path: str | Path) -> Path:
    """Where the audio encoder lives next to a denoiser file: motion_dit.onnx → motion_dit.audio.onnx."""
    path = Path(denoiser_path)
    return path.with_name(path.stem + ".audio" + path.suffix)


def example_audio(config, n: int = 20, seed: int = 0) -> np.ndarray:
    """(n, SPAN, F) random feature spans in the range of the speech front end's rows."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, config.span_features, config.n_features)) * 2).astype(np.float32)


def example_inputs(config, batch: int = 2, seed: int = 0) -> DenoiserInputs:
    """Random but valid denoiser inputs (used for tracing and parity checks)."""
    rng = np.random.default_rng(seed)
    w = config.window_frames
    kind = np.full((batch, w), CONTEXT, np.int64)
    kind[:, -config.max_new_frames:] = NEW
    kind[0, :3] = PAD
    return DenoiserInputs(x=rng.standard_normal((batch, w, config.latent_dim)).astype(np.float32),
                          sigma=np.exp(rng.uniform(-3, 2, batch)).astype(np.float32),
                          kind=kind,
                          audio_emb=rng.standard_normal((batch, w, config.d_model)).astype(np.float32),
                          controls=rng.uniform(-1, 1, (batch, config.n_controls)).astype(np.float32),
                          audio_keep=np.ones(batch, np.float32), controls_keep=np.ones(batch, np.float32))


def _traceable(network, method: str):
    """A module whose forward is `network.<method>`, for tracing one of the two graphs (torch is imported here:
    the runtime reads this module's metadata helpers without torch)."""
    import torch

    class Method(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return getattr(self.network, method)(*inputs)

    return Method()


def export_onnx(model: LoadedModel, path: str | Path, weights_sha256: str = "") -> Path:
    """Write the denoiser to `path` and the audio encoder to `audio_encoder_path(path)`; returns `path`."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = model.network.eval()
    meta = {"motion_layout_version": str(MOTION_LAYOUT_VERSION), "model_format_version": str(MODEL_FORMAT_VERSION),
            "export_format_version": str(EXPORT_FORMAT_VERSION), "config": json.dumps(net.config.to_dict()),
            "latent": json.dumps({k: np.asarray(v).tolist() for k, v in model.latent.to_dict().items()}),
            "weights_sha256": weights_sha256, "frontend_sha256": str(model.info.get("frontend_sha256", ""))}
    graphs = [(_traceable(net, "denoise"), tuple(example_inputs(net.config)), DENOISER_INPUT_NAMES, OUTPUT_NAME,
               path),
              (_traceable(net, "embed_audio"), (example_audio(net.config),), (AUDIO_INPUT_NAME,), AUDIO_OUTPUT_NAME,
               audio_encoder_path(path))]
    for module, inputs, input_names, output_name, out in graphs:
        dynamic = {name: {0: "batch"} for name in (*input_names, output_name)}
        with torch.no_grad():
            torch.onnx.export(module, tuple(torch.from_numpy(v) for v in inputs), str(out),
                              input_names=list(input_names), output_names=[output_name], dynamic_axes=dynamic,
                              opset_version=OPSET, dynamo=False)
        graph = onnx.load(str(out))
        for key, value in meta.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(graph, str(out))
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
    if int(meta.get("export_format_version", 1)) != EXPORT_FORMAT_VERSION:
        raise ModelVersionError(f"{path} has export format v{meta.get('export_format_version', 1)}, this build "
                                f"reads v{EXPORT_FORMAT_VERSION}: re-export with `vasa-bridge export`")
    try:
        config = json.loads(meta["config"])
        latent = PcaLatent.from_dict({k: np.array(v) for k, v in json.loads(meta["latent"]).items()})
    except (KeyError, ValueError) as e:
        raise VasaBridgeError(f"{path}: damaged model metadata ({e})") from None
    return config, latent
