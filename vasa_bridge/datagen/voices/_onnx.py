"""onnxruntime sessions for the neural voices: one per model per process, on few threads.

The builder runs one worker process per core, so each session gets one intra-op thread by default: two workers
with two threads each would fight over the two cores. `VASA_VOICE_THREADS` overrides it (e.g. for a one-process
benchmark).
"""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=4)
def session(model_path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("VASA_VOICE_THREADS", "1"))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


def english_ipa(text: str) -> str:
    """US-English IPA with stress marks, as both neural voices were fed in training (espeak-ng's phonemizer)."""
    from vasa_bridge.phones import espeak

    return " ".join(espeak.ipa(text, "en-us").split())
