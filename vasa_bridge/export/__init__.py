"""Export of the motion denoiser: ONNX (onnxruntime on CPU) and TensorRT engines built from it."""
