"""Where someone is speaking, for the speech/silence evaluation: Silero VAD (PyPI `silero-vad`, MIT; trained on real
speech in many languages, its ONNX model ships in the wheel), run with onnxruntime.

An energy threshold was the first reference; on a quiet recording it called room noise speech (78 % of the
Hungarian klettres clip, where Silero hears 16 %), so it scored a mouth that rests in noise as wrong."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.errors import VasaBridgeError

CHUNK_SAMPLES = 512            # what the 16 kHz model takes per call (32 ms)
CONTEXT_SAMPLES = 64           # the end of the previous chunk, prepended (as silero-vad's own wrapper does)
SPEECH_ABOVE = 0.5             # silero-vad's default threshold


@lru_cache(maxsize=1)
def _session():
    import importlib.resources

    import onnxruntime as ort

    try:
        model = importlib.resources.files("silero_vad") / "data" / "silero_vad.onnx"
    except ModuleNotFoundError:
        raise VasaBridgeError("the speech/silence evaluation needs silero-vad: pip install silero-vad==6.2.3 "
                              "(or `pip install -e .[test]`)") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    return ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


def speech_probability(audio_16k: np.ndarray) -> np.ndarray:
    """(ceil(N / 512),) probability that each 32 ms chunk is speech; the model's state runs through the clip."""
    session = _session()
    n = -(-len(audio_16k) // CHUNK_SAMPLES)
    audio = np.pad(np.asarray(audio_16k, np.float32), (CONTEXT_SAMPLES, n * CHUNK_SAMPLES - len(audio_16k)))
    state = np.zeros((2, 1, 128), np.float32)
    rate = np.array(MODEL_SAMPLE_RATE_HZ, np.int64)
    out = np.empty(n, np.float32)
    for i in range(n):
        window = audio[i * CHUNK_SAMPLES: (i + 1) * CHUNK_SAMPLES + CONTEXT_SAMPLES][None]
        prob, state = session.run(None, {"input": window, "state": state, "sr": rate})
        out[i] = prob[0, 0]
    return out


def speech_samples(audio_16k: np.ndarray) -> np.ndarray:
    """(N,) bool: the sample lies in a chunk Silero calls speech."""
    return np.repeat(speech_probability(audio_16k) > SPEECH_ABOVE, CHUNK_SAMPLES)[: len(audio_16k)]
