"""The speech front end: what the motion model hears. Log-mel → level normalisation → a small causal conv net
distilled from Whisper tiny.en's encoder → SPEECH_DIMS speech features + relative level, at 100 rows/s.

Why: a model fed raw log-mel learns the voices it was trained on (espeak-ng) and on real people does worse than a
loudness envelope. Whisper's encoder was trained on 680 k hours of real speech and maps any speaker, room and
microphone to nearly the same phonetic representation, but it is bidirectional and too costly to run on sliding
windows for 16 streams on 2 cores. So a causal student learns to predict (a PCA of) its output from log-mel, on
real and synthetic speech heard through augmented channels while the target is Whisper on the clean audio
(`vasa_bridge/train/frontend.py`). The student costs ~0.5 M multiply-adds per 10 ms row, needs no lookahead of its
own beyond DELAY_ROWS, and runs in numpy: no torch, no onnxruntime, no Whisper at run time.

Timing: row k describes the audio around feature frame k (ending at (k + 1) × 10 ms). The net is causal, so row k
is computed from input frames ≤ k + DELAY_ROWS: the stream emits row k once feature frame k + DELAY_ROWS exists, and
the offline function appends DELAY_ROWS frames of silence, as `FrontEndStream.flush` does. Every layer keeps its own
history in the stream, so streamed rows equal offline rows (to float rounding) for any chunking.

Level: log-mel is taken relative to a decaying peak hold of the frame energy (causal), so a line at −40 dBFS and
the same line at −3 dBFS give the same rows; the last feature is the energy under that peak, in dB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.activations import gelu
from vasa_bridge.audio.constants import N_MELS
from vasa_bridge.audio.features import FeatureStream, audio_features, log_mel_silence
from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.npz_file import arrays_sha256, read_npz, write_npz

FRONTEND_FORMAT_VERSION = 1
# Bumped when the same weights give other rows (cached training features are keyed on it): 2 = streams start from
# the histories a silence leaves, not zeros.
FEATURES_REVISION = 2
DEFAULT_FRONTEND = Path(__file__).resolve().parent.parent / "data" / "weights" / "speech_frontend.npz"
PEAK_DECAY_DB_PER_ROW = 0.05      # the level reference falls 5 dB/s after the last loud frame: a long pause
#                                   is not turned up into speech-level noise
LEVEL_FLOOR_DBFS = -75.0          # below this the reference stops falling (digital silence stays silence)
RELATIVE_LOG_FLOOR = -16.0        # log-mel more than this many nats under the reference reads as the floor
RELATIVE_DB_FLOOR = -45.0         # pauses read the same at any level (speech sits in the top 30 dB)
DB_TO_NATS_POWER = np.log(10.0) / 10.0   # a gain of g dB shifts log power by g × this


@dataclass(frozen=True)
class FrontEndConfig:
    n_in: int = N_MELS + 1                 # relative log-mel + relative energy
    channels: int = 160
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)
    speech_dims: int = 32                  # student outputs = whitened PCA of Whisper's encoder
    delay_rows: int = 4                    # the student sees 40 ms past the row it describes

    @property
    def receptive_rows(self) -> int:
        return 1 + (self.kernel - 1) * sum(self.dilations)

    @property
    def n_features(self) -> int:
        return self.speech_dims + 1        # + level (dB under the peak hold)

    def to_dict(self) -> dict:
        return {**asdict(self), "dilations": list(self.dilations)}

    @staticmethod
    def from_dict(d: dict) -> "FrontEndConfig":
        return FrontEndConfig(**{**d, "dilations": tuple(d["dilations"])})


class LevelNormaliser:
    """Causal peak hold of frame energy: ref_k = max(e_k, ref_{k-1} − decay, floor), written as a running max of
    (e_j + decay·j) so offline is one vectorised pass and a stream carries one number."""

    def __init__(self) -> None:
        self._best = -np.inf          # max over seen j of e_j + decay × j
        self._index = 0

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(T, N_MELS + 1) log-mel + dBFS rows → (T, N_MELS + 1) level-relative rows."""
        energy = features[:, N_MELS].astype(np.float64)
        k = self._index + np.arange(len(features))
        running = np.maximum.accumulate(np.concatenate([[self._best], energy + PEAK_DECAY_DB_PER_ROW * k]))[1:]
        if len(features):
            self._best, self._index = float(running[-1]), int(k[-1]) + 1
        ref_db = np.maximum(running - PEAK_DECAY_DB_PER_ROW * k, LEVEL_FLOOR_DBFS)               # (T,)
        log_mel = features[:, :N_MELS] - (ref_db * DB_TO_NATS_POWER)[:, None]
        out = np.empty_like(features, dtype=np.float32)
        out[:, :N_MELS] = np.maximum(log_mel, RELATIVE_LOG_FLOOR)
        out[:, N_MELS] = np.maximum(energy - ref_db, RELATIVE_DB_FLOOR)
        return out


class StudentNet:
    """The distilled encoder in numpy: 1×1 in, residual causal dilated convs, 1×1 out. `params` are the arrays a
    torch twin (train/frontend.py) learnt: in_w (n_in, C), in_b, conv{i}_w (k·C, C), conv{i}_b, mix{i}_w (C, C),
    mix{i}_b, out_w (C, D), out_b, and the input normalisation in_mean, in_std."""

    def __init__(self, config: FrontEndConfig, params: dict[str, np.ndarray]) -> None:
        self.config, self.p = config, {k: np.asarray(v, np.float32) for k, v in params.items()}

    def history_rows(self, layer: int) -> int:
        return (self.config.kernel - 1) * self.config.dilations[layer]

    def run(self, x: np.ndarray, state: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(T, n_in) normalised rows → (T, speech_dims), and each layer's input history for the next call
        (`state` None: zeros before the first row; streams start from `SpeechFrontEnd.silence_state`)."""
        out, states = self.run_many([x], [state])
        return out[0], states[0]

    def run_many(self, xs: list[np.ndarray], states: list[list[np.ndarray] | None]
                 ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        """`run` for several streams at once: one matrix product per layer for all of them."""
        c, p = self.config, self.p
        cuts = np.cumsum([len(x) for x in xs])[:-1]
        h = ((np.concatenate(xs) - p["in_mean"]) / p["in_std"]) @ p["in_w"] + p["in_b"]        # (ΣT, C)
        new_states: list[list[np.ndarray]] = [[] for _ in xs]
        for i, d in enumerate(c.dilations):
            hist = self.history_rows(i)
            taps = []
            for k, hk in enumerate(np.split(h, cuts)):
                past = states[k][i] if states[k] is not None else np.zeros((hist, c.channels), np.float32)
                full = np.concatenate([past, hk])                                               # (H + T, C)
                t = len(hk)
                taps.append(np.concatenate([full[len(full) - t - j * d: len(full) - j * d]      # tap j: row − j·d
                                            for j in range(c.kernel)], axis=1))
                new_states[k].append(full[len(full) - hist:] if hist else full[:0])
            conv = np.concatenate(taps) @ p[f"conv{i}_w"] + p[f"conv{i}_b"]                     # (ΣT, C)
            h = h + gelu(conv) @ p[f"mix{i}_w"] + p[f"mix{i}_b"]
        return np.split(h @ p["out_w"] + p["out_b"], cuts), new_states


class SpeechFrontEnd:
    """Weights + config; makes offline features and streams. Load with `load_frontend`."""

    def __init__(self, config: FrontEndConfig, net: StudentNet, sha256: str = "") -> None:
        self.config, self.net, self.sha256 = config, net, sha256
        # Every stream starts as if digital silence came before it: the student's layer histories after a
        # silence, not zeros. Training lines all begin with a pause that warms the histories up, so a clip
        # speaking from its first sample met zero histories nowhere in training: for ~0.3 s (the receptive
        # field) its rows read as closed lips (p(closed) 0.6–0.8 on a shouted "Hurry!", 0.06–0.5 after 0.5 s
        # of silence).
        warm_up = self.config.receptive_rows + self.config.delay_rows + 8
        _, self.silence_state = net.run(LevelNormaliser()(log_mel_silence(warm_up)))
        # What a long digital silence settles to: the rows frames before the audio (and windows past its end)
        # read, in training and at run time.
        self.silence_row = self.from_log_mel(log_mel_silence(warm_up))[-1].copy()   # (n_features,)

    @property
    def n_features(self) -> int:
        return self.config.n_features

    def features(self, samples_16k: np.ndarray) -> np.ndarray:
        """(ceil(N / HOP), n_features) rows of a whole signal; equal to streaming it through `stream()`."""
        stream = self.stream()
        return np.concatenate([stream.push_features(audio_features(samples_16k)), stream.flush_features()])

    def from_log_mel(self, log_mel_rows: np.ndarray) -> np.ndarray:
        """Rows from precomputed `audio_features` output (training packs features once)."""
        stream = self.stream()
        return np.concatenate([stream.push_features(log_mel_rows), stream.flush_features()])

    def stream(self) -> "FrontEndStream":
        return FrontEndStream(self)


class FrontEndStream:
    """Incremental `SpeechFrontEnd.features`: push 16 kHz chunks of any size, get the rows that became complete.
    `push_many` does the same for many streams with one matrix product per layer."""

    def __init__(self, frontend: SpeechFrontEnd) -> None:
        self._frontend = frontend
        self._log_mel = FeatureStream()
        self._level = LevelNormaliser()
        self._state: list[np.ndarray] = [h.copy() for h in frontend.silence_state]
        self._skip = frontend.config.delay_rows      # the first outputs describe rows before the audio: drop them
        self._relative = np.zeros((0, N_MELS + 1), np.float32)   # input rows whose speech row is not out yet
        self._audio_rows = 0                         # rows of real audio pushed (not the silence after a flush)
        self.n_rows = 0

    def push(self, samples_16k: np.ndarray) -> np.ndarray:
        return self.push_features(self._log_mel.push(samples_16k))

    def flush(self) -> np.ndarray:
        """The last rows: the partial hop and the delay_rows the student was waiting to hear past."""
        return self.push_features(self._log_mel.flush(), flush=True)

    def push_features(self, log_mel_rows: np.ndarray, flush: bool = False) -> np.ndarray:
        relative = self._prepare(log_mel_rows, flush)
        if len(relative) == 0:
            return np.zeros((0, self._frontend.n_features), np.float32)
        speech, self._state = self._frontend.net.run(relative, self._state)
        return self._finish(relative, speech, flush)

    def flush_features(self) -> np.ndarray:
        return self.push_features(np.zeros((0, N_MELS + 1), np.float32), flush=True)

    def _prepare(self, log_mel_rows: np.ndarray, flush: bool) -> np.ndarray:
        """Level-relative input rows; after the audio, silence so its last rows come out."""
        self._audio_rows += len(log_mel_rows)
        if flush:
            log_mel_rows = np.concatenate([log_mel_rows, log_mel_silence(self._frontend.config.delay_rows)])
        return self._level(log_mel_rows) if len(log_mel_rows) else np.zeros((0, N_MELS + 1), np.float32)

    def _finish(self, relative: np.ndarray, speech: np.ndarray, flush: bool) -> np.ndarray:
        # Speech rows lag the input by delay_rows; the level is already aligned: keep a row's own.
        self._relative = np.concatenate([self._relative, relative])
        drop = min(self._skip, len(speech))
        speech, self._skip = speech[drop:], self._skip - drop
        if flush:                                    # rows past the end of the audio are not part of the signal
            speech = speech[: max(0, self._audio_rows - self.n_rows)]
        own, self._relative = self._relative[: len(speech)], self._relative[len(speech):]
        self.n_rows += len(speech)
        return np.concatenate([speech, own[:, N_MELS:]], axis=1).astype(np.float32)


def push_many(streams: list[FrontEndStream], chunks: list[list[np.ndarray]], flushes: list[bool]
              ) -> list[np.ndarray]:
    """Each stream's new rows after its `chunks` (and its flush): one student call for all of them."""
    relative = []
    for stream, parts, flush in zip(streams, chunks, flushes):
        rows = [stream._log_mel.push(a) for a in parts] + ([stream._log_mel.flush()] if flush else [])
        log_mel = np.concatenate(rows) if rows else np.zeros((0, N_MELS + 1), np.float32)
        relative.append(stream._prepare(log_mel, flush))
    busy = [k for k, r in enumerate(relative) if len(r)]
    out = [np.zeros((0, s._frontend.n_features), np.float32) for s in streams]
    if busy:
        net = streams[busy[0]]._frontend.net
        speech, states = net.run_many([relative[k] for k in busy], [streams[k]._state for k in busy])
        for k, sp, state in zip(busy, speech, states):
            streams[k]._state = state
            out[k] = streams[k]._finish(relative[k], sp, flushes[k])
    return out


def untrained_params(config: FrontEndConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Random student weights of the right shapes: what plumbing tests and benchmarks use."""
    rng = np.random.default_rng(seed)
    c = config.channels
    p = {"in_mean": np.full(config.n_in, -5.0), "in_std": np.full(config.n_in, 4.0),
         "in_w": rng.normal(0, 0.2, (config.n_in, c)), "in_b": rng.normal(0, 0.1, c),
         "out_w": rng.normal(0, 0.2, (c, config.speech_dims)), "out_b": rng.normal(0, 0.1, config.speech_dims)}
    for i in range(len(config.dilations)):
        p[f"conv{i}_w"] = rng.normal(0, 0.1, (config.kernel * c, c))
        p[f"conv{i}_b"] = rng.normal(0, 0.1, c)
        p[f"mix{i}_w"] = rng.normal(0, 0.1, (c, c))
        p[f"mix{i}_b"] = rng.normal(0, 0.1, c)
    return {k: np.asarray(v, np.float32) for k, v in p.items()}


def save_frontend(path: str | Path, config: FrontEndConfig, params: dict[str, np.ndarray], info: dict) -> str:
    """Write the front end (arrays + config + version + training info); returns its content hash."""
    sha = arrays_sha256(config.to_dict(), params)
    write_npz(path, {"frontend_format_version": FRONTEND_FORMAT_VERSION, "config": config.to_dict(), "sha256": sha,
                     "info": info}, params)
    return sha


def load_frontend(path: str | Path = DEFAULT_FRONTEND) -> SpeechFrontEnd:
    path = Path(path)
    if not path.exists():
        raise VasaBridgeError(f"no speech front end at {path}: train it with `make train` "
                              "(vasa-bridge train), or put the one that came with the motion weights beside them")
    meta, params = read_npz(path, "speech front end")
    if meta.get("frontend_format_version") != FRONTEND_FORMAT_VERSION:
        raise ModelVersionError(f"{path} has front-end format v{meta.get('frontend_format_version')}, this build "
                                f"reads v{FRONTEND_FORMAT_VERSION}: retrain with `make train`")
    config = FrontEndConfig.from_dict(meta["config"])
    return SpeechFrontEnd(config, StudentNet(config, params), meta["sha256"])


__all__ = ["FrontEndConfig", "SpeechFrontEnd", "FrontEndStream", "LevelNormaliser", "StudentNet", "load_frontend",
           "save_frontend", "untrained_params", "DEFAULT_FRONTEND"]
