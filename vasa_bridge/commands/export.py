"""vasa-bridge export [--weights W] [-o model.onnx] [--check]: write the motion model as ONNX, the denoiser and
beside it its audio encoder (model.audio.onnx), self-contained (config, latent and versions in their metadata),
and optionally check onnxruntime against torch."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped one)")
    parser.add_argument("-o", "--output", default=None, help="ONNX path (default: next to the weights, .onnx)")
    parser.add_argument("--check", action="store_true", help="compare onnxruntime with torch on random inputs")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from vasa_bridge.export.onnx import audio_encoder_path, example_audio, example_inputs, export_onnx, file_sha256
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS, load_weights
    from vasa_bridge.runtime.diffusion import default_onnx_path

    weights = Path(args.weights or DEFAULT_WEIGHTS)
    model = load_weights(weights)
    out = Path(args.output) if args.output else default_onnx_path(weights)
    export_onnx(model, out, file_sha256(weights))
    for path in (out, audio_encoder_path(out)):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.check:
        from vasa_bridge.runtime.diffusion_engines import OrtEngine, TorchEngine

        ort_engine, torch_engine = OrtEngine(out), TorchEngine(loaded=model)
        inputs = example_inputs(model.network.config, batch=8, seed=1)
        spans = example_audio(model.network.config, n=40, seed=1)
        diff = max(float(np.max(np.abs(ort_engine(inputs) - torch_engine(inputs)))),
                   float(np.max(np.abs(ort_engine.embed_audio(spans) - torch_engine.embed_audio(spans)))))
        print(f"onnxruntime vs torch: max |Δ| = {diff:.2e}")
        if diff > 1e-4:
            return 1
    return 0
