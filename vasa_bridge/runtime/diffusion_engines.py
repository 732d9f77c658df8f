"""Denoiser evaluators behind one call signature, numpy in and out:

    engine(x, sigma, kind, audio, controls, audio_keep, controls_keep) -> denoised   (shapes: model/denoiser.py)

`TorchEngine` runs the network itself, `OrtEngine` the exported ONNX graph with onnxruntime (the CPU default; it
never imports torch), `TensorRtEngine` a TensorRT engine built from the same ONNX (CUDA machines only). Each has
`config` (dict) and `latent` (PcaLatent) so the stream code does not care which one it drives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.export.onnx import INPUT_NAMES, read_onnx_metadata
from vasa_bridge.model.latent import PcaLatent

# One thread: on this 2-core machine (shared) two intra-op threads ran the small per-window graphs 2× slower.
DEFAULT_ORT_THREADS = 1


class TorchEngine:
    name = "torch"

    def __init__(self, weights_path: str | Path | None = None, loaded=None) -> None:
        from vasa_bridge.model.weights import DEFAULT_WEIGHTS, load_weights

        model = loaded if loaded is not None else load_weights(weights_path or DEFAULT_WEIGHTS)
        self.network = model.network.eval()
        self.latent: PcaLatent = model.latent
        self.config: dict = self.network.config.to_dict()

    def __call__(self, x: np.ndarray, sigma: np.ndarray, kind: np.ndarray, audio: np.ndarray,
                 controls: np.ndarray, audio_keep: np.ndarray, controls_keep: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.network(*(torch.from_numpy(np.ascontiguousarray(a)) for a in
                                 (x, sigma, kind, audio, controls, audio_keep, controls_keep)))
        return out.numpy()


class OrtEngine:
    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int = DEFAULT_ORT_THREADS,
                 providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        path = Path(onnx_path)
        if not path.exists():
            raise VasaBridgeError(f"no ONNX motion model at {path}: write it with `vasa-bridge export`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a damaged file
            raise VasaBridgeError(f"{path} is not a loadable ONNX model ({type(e).__name__}: {e})") from None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.config, self.latent = read_onnx_metadata(self.metadata, path)

    def __call__(self, x: np.ndarray, sigma: np.ndarray, kind: np.ndarray, audio: np.ndarray,
                 controls: np.ndarray, audio_keep: np.ndarray, controls_keep: np.ndarray) -> np.ndarray:
        feeds = dict(zip(INPUT_NAMES, (x, sigma, kind, audio, controls, audio_keep, controls_keep)))
        return self.session.run(None, feeds)[0]


class TensorRtEngine:
    """A TensorRT engine built from the exported ONNX, batch 1..max_batch, run through torch CUDA buffers."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, max_batch: int = 64, fp16: bool = False) -> None:
        try:
            import tensorrt as trt
            import torch
        except ImportError as e:
            raise VasaBridgeError(f"the TensorRT backend needs `tensorrt` and CUDA torch ({e}); "
                                  "use the onnxruntime backend on this machine") from None
        if not torch.cuda.is_available():
            raise VasaBridgeError("the TensorRT backend needs a CUDA GPU; use the onnxruntime backend")
        import onnx

        path = Path(onnx_path)
        graph = onnx.load(str(path))
        self.config, self.latent = read_onnx_metadata({p.key: p.value for p in graph.metadata_props}, path)
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(path.read_bytes()):
            raise VasaBridgeError(f"TensorRT could not parse {path}: {parser.get_error(0)}")
        build = builder.create_builder_config()
        if fp16:
            build.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = list(tensor.shape)[1:]
            profile.set_shape(tensor.name, [1, *shape], [min(16, max_batch), *shape], [max_batch, *shape])
        build.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, build)
        if serialized is None:
            raise VasaBridgeError(f"TensorRT failed to build an engine from {path}")
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
        self.context = self.engine.create_execution_context()
        self._torch = torch
        self.stream = torch.cuda.Stream()

    def __call__(self, x: np.ndarray, sigma: np.ndarray, kind: np.ndarray, audio: np.ndarray,
                 controls: np.ndarray, audio_keep: np.ndarray, controls_keep: np.ndarray) -> np.ndarray:
        torch = self._torch
        arrays = dict(zip(INPUT_NAMES, (x, sigma, kind, audio, controls, audio_keep, controls_keep)))
        buffers = {}
        for name, a in arrays.items():
            buffers[name] = torch.from_numpy(np.ascontiguousarray(a)).cuda()
            self.context.set_input_shape(name, tuple(a.shape))
            self.context.set_tensor_address(name, buffers[name].data_ptr())
        out = torch.empty(x.shape, dtype=torch.float32, device="cuda")
        self.context.set_tensor_address("denoised", out.data_ptr())
        with torch.cuda.stream(self.stream):
            self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        return out.cpu().numpy()
