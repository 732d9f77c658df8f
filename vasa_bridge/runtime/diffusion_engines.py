"""Denoiser evaluators behind one interface, numpy in and out (shapes: model/denoiser.py):

    engine.embed_audio(spans) -> audio_emb          (N, SPAN, F) -> (N, D), once per motion frame
    engine(inputs: DenoiserInputs) -> denoised      (B, W, L), one evaluation (model/inputs.py)

`TorchEngine` runs the network itself, `OrtEngine` the two exported ONNX graphs with onnxruntime (the CPU default;
it never imports torch), `TensorRtEngine` TensorRT engines built from the same ONNX (CUDA machines only). Each has
`config` (dict) and `latent` (PcaLatent) so the stream code does not care which one it drives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.export.onnx import AUDIO_INPUT_NAME, audio_encoder_path, read_onnx_metadata
from vasa_bridge.model.inputs import DenoiserInputs
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
        self.frontend_sha256: str = model.info.get("frontend_sha256", "")

    def embed_audio(self, spans: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.network.embed_audio(torch.from_numpy(np.ascontiguousarray(spans))).numpy()

    def __call__(self, inputs: DenoiserInputs) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.network.denoise(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        return out.numpy()


class OrtEngine:
    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int = DEFAULT_ORT_THREADS,
                 providers: list[str] | None = None) -> None:
        path = Path(onnx_path)
        self.session = _ort_session(path, threads, providers)
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.config, self.latent = read_onnx_metadata(self.metadata, path)
        self.frontend_sha256: str = self.metadata.get("frontend_sha256", "")
        self.audio_session = _ort_session(audio_encoder_path(path), threads, providers)
        audio_meta = dict(self.audio_session.get_modelmeta().custom_metadata_map)
        read_onnx_metadata(audio_meta, audio_encoder_path(path))
        if audio_meta.get("weights_sha256") != self.metadata.get("weights_sha256"):
            raise VasaBridgeError(f"{path} and {audio_encoder_path(path)} come from different exports: run "
                                  "`vasa-bridge export` again")

    def embed_audio(self, spans: np.ndarray) -> np.ndarray:
        return self.audio_session.run(None, {AUDIO_INPUT_NAME: spans})[0]

    def __call__(self, inputs: DenoiserInputs) -> np.ndarray:
        return self.session.run(None, inputs._asdict())[0]


def _ort_session(path: Path, threads: int, providers: list[str] | None):
    import onnxruntime as ort

    if not path.exists():
        raise VasaBridgeError(f"no ONNX motion model at {path}: write it with `vasa-bridge export`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a damaged file
        raise VasaBridgeError(f"{path} is not a loadable ONNX model ({type(e).__name__}: {e})") from None


class TensorRtEngine:
    """TensorRT engines built from the two exported graphs (denoiser: batch 1..max_batch windows; audio encoder:
    1..max_batch × window frames), run through torch CUDA buffers."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, max_batch: int = 64, fp16: bool = False) -> None:
        try:
            import tensorrt  # noqa: F401
            import torch
        except ImportError as e:
            raise VasaBridgeError(f"the TensorRT backend needs `tensorrt` and CUDA torch ({e}); "
                                  "use the onnxruntime backend on this machine") from None
        if not torch.cuda.is_available():
            raise VasaBridgeError("the TensorRT backend needs a CUDA GPU; use the onnxruntime backend")
        import onnx

        path = Path(onnx_path)
        graph = onnx.load(str(path))
        metadata = {p.key: p.value for p in graph.metadata_props}
        self.config, self.latent = read_onnx_metadata(metadata, path)
        self.frontend_sha256: str = metadata.get("frontend_sha256", "")
        self.stream = torch.cuda.Stream()
        self.denoiser = _TrtGraph(path, max_batch, fp16)
        self.audio_encoder = _TrtGraph(audio_encoder_path(path), max_batch * int(self.config["window_frames"]), fp16)

    def embed_audio(self, spans: np.ndarray) -> np.ndarray:
        return self.audio_encoder.run({AUDIO_INPUT_NAME: spans}, self.stream)

    def __call__(self, inputs: DenoiserInputs) -> np.ndarray:
        return self.denoiser.run(inputs._asdict(), self.stream)


class _TrtGraph:
    """One ONNX graph as a TensorRT engine with a dynamic batch dimension (1..max_batch) and one float output."""

    def __init__(self, path: Path, max_batch: int, fp16: bool) -> None:
        import tensorrt as trt

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
        self.output_name = network.get_output(0).name

    def run(self, arrays: dict[str, np.ndarray], stream) -> np.ndarray:
        import torch

        buffers = {}
        for name, a in arrays.items():
            buffers[name] = torch.from_numpy(np.ascontiguousarray(a)).cuda()
            self.context.set_input_shape(name, tuple(a.shape))
            self.context.set_tensor_address(name, buffers[name].data_ptr())
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=torch.float32,
                          device="cuda")
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        with torch.cuda.stream(stream):
            self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return out.cpu().numpy()
