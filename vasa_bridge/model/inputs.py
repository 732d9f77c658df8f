"""What one denoiser evaluation takes, defined once: the token kinds and `DenoiserInputs`.

Torch-free, so the runtime (which never imports torch on the onnxruntime path) and training share it. The field
names of `DenoiserInputs` are also the ONNX denoiser's input names (export/onnx.py) and the parameter names of
`MotionDenoiser.denoise`; a test holds the three together.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# Token kinds of a window (the `kind` input): padding before the stream's first frame (or before a controls
# change), context (frames already committed, clean) and new (being generated, noisy).
PAD, CONTEXT, NEW = 0, 1, 2
N_TOKEN_KINDS = 3


class DenoiserInputs(NamedTuple):
    """One batched evaluation D(x; σ), numpy arrays in the runtime or torch tensors in the model."""

    x: Any              # (B, W, L) float32 latent window: clean context, noisy new tokens
    sigma: Any          # (B,) float32 noise level of the new tokens
    kind: Any           # (B, W) int64 token kinds (PAD / CONTEXT / NEW)
    audio_emb: Any      # (B, W, D) float32 audio embeddings (MotionDenoiser.embed_audio)
    controls: Any       # (B, N_CONTROLS) float32 performance controls (model/conditioning.py)
    audio_keep: Any     # (B,) float32 1 = use the audio, 0 = the learned null (classifier-free guidance)
    controls_keep: Any  # (B,) float32 1 = use the controls, 0 = the learned null


DENOISER_INPUT_NAMES: tuple[str, ...] = DenoiserInputs._fields
