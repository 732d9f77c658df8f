"""The diffusion motion model as a `MotionBackend`: many streams, one batched denoiser call per sampling step.

Each stream keeps its audio features and the frames it has committed. A frame i (covering audio
[i × 40 ms, (i + 1) × 40 ms)) becomes ready once the audio reaches LOOKAHEAD_MS past its start, i.e.
`lookahead_ms` = 20 ms past its end. `step` generates every ready frame in windows of WINDOW_FRAMES tokens: the
last n ≤ MAX_NEW_FRAMES tokens are new, the ones before are the stream's committed frames (the prefix that makes
chunks continue seamlessly). Each frame's audio span is embedded once, when the frame first enters a window, and
the embedding is reused in every later window and sampling step. All streams' windows of one round go through
the sampler together, so B streams cost one batched call per sampling step instead of B. Offline generation
(`generate_clip`) is the same procedure with all audio pushed at once (n = MAX_NEW_FRAMES per window).

A change of the performance controls restarts the stream's context (the frames made under the old controls are
shown as padding) and glides the output from the last frame shown into the new performance.

Noise comes from a per-stream generator seeded by the caller: a stream's output does not depend on which other
streams share its batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME, HOP_LENGTH_SAMPLES
from vasa_bridge.audio.frontend import FrontEndStream, push_many
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.model.conditioning import (LOOKAHEAD_MS, SPAN_BACK_FEATURES, controls_vector, features_needed,
                                            frame_spans)
from vasa_bridge.model.articulation import HEAD_ROW_WIDTH, ArticulationConfig, ArticulationHead, SealRun
from vasa_bridge.model.inputs import CONTEXT, NEW, PAD, DenoiserInputs
from vasa_bridge.motion import layout
from vasa_bridge.motion.blink_governor import BlinkGovernor
from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.motion.controls import Controls
from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE, MotionChunk, SessionControls
from vasa_bridge.sampling.samplers import SAMPLERS, guided
from vasa_bridge.sampling.schedules import karras_sigmas

if TYPE_CHECKING:
    from vasa_bridge.model.whisper_ear import WhisperEar

SAMPLES_PER_FRAME = HOP_LENGTH_SAMPLES * FEATURES_PER_MOTION_FRAME   # 640
DEFAULT_STEPS = 4
# Windows of at least 3 new frames when streaming. Each window re-draws the noise, and the model continues its own
# prefix, so more windows per second compound its errors. Real read English (pocketsphinx-testdata), 20 ms chunks,
# Dec 2026 weights: with 2 new frames aperture r 0.59, 21 % of p/b/m closed, 45 blinks/min and head yaw std 12°
# (held-out synthetic voice); with 3, 0.65 / 38 % / 24 per min / 4.3° for 40 ms more latency (offline: 0.67 / 41 %).
DEFAULT_MIN_NEW_FRAMES = 3
DEFAULT_SAMPLER = "dpmpp_2m"
# When the performance controls change mid-stream, windows stop showing the frames made under the old ones: even
# one such frame pins the gaze (the model continues its prefix). The jump this would cause (head yaw 0.12 rad in one
# frame, 6× the usual; 0.2 rad with the 5 Dec weights, whose head follows the gaze more) is hidden by gliding from
# the last frame shown into the new performance. The offset fades with a raised cosine over this many frames (0.4 s,
# a head turn's duration): no step at either end, and the largest step is π/20 of the offset, where an exponential
# fade with a 3-frame time constant put 28 % of it in the first frame.
CHANGE_GLIDE_FRAMES = 10
ENGINES = ("onnxruntime", "torch", "tensorrt")
FRONTEND_FILE_NAME = "speech_frontend.npz"


class DiffusionMotionStream:
    """One session. `push`, `flush` and `set_controls` (the MotionStream protocol) only buffer; the backend's
    `step` computes, through the scheduling methods below: public, so the scheduler never reaches into a stream's
    state, and called by nothing else."""

    def __init__(self, backend: "DiffusionBackend", controls: SessionControls, seed: int) -> None:
        self.lookahead_ms = backend.lookahead_ms
        self._window, self._latent_dim = backend.window_frames, backend.latent_dim
        self._min_new = backend.min_new_frames
        self._max_context = backend.max_context_frames
        self.controls = controls
        self._rng = np.random.default_rng(seed)
        self._frontend = backend.frontend
        self._features_stream = backend.frontend.stream()
        self._pending: list[np.ndarray] = []
        self._features = np.zeros((0, backend.frontend.n_features), np.float32)  # rows _feature_offset.. of it
        self._feature_offset = 0
        self._history = np.zeros((0, self._latent_dim), np.float32)  # last (W - 1) committed latents
        self._audio_emb = np.zeros((0, backend.d_model), np.float32)  # embeddings of frames _emb_first..
        self._articulation = np.zeros((0, HEAD_ROW_WIDTH), np.float32)  # articulation head rows, same frames
        self._emb_first: int | None = None
        self._context_from = 0        # frames before this one are shown to the model as padding
        self._glide_pending = False
        self._glide_offset: np.ndarray | None = None   # latent offset added to frames after a controls change
        self._glide_age = 0
        self._last_shown = np.zeros(self._latent_dim, np.float32)
        self._blinks = BlinkGovernor()
        self._seal_run = SealRun()
        self._closures: np.ndarray | None = None       # the Whisper ear's p(lips closed) per frame, offline
        self._seal_rules: ArticulationConfig | None = None
        self.n_samples = 0
        self.next_frame = 0
        self._flush_requested = False

    # --- buffering (cheap) -------------------------------------------------------------------------------------
    def push(self, samples_16k: np.ndarray) -> None:
        if self._flush_requested:
            raise RuntimeError("push after flush")
        audio = np.asarray(samples_16k, np.float32).reshape(-1)
        # A real ADC clips, and a NaN must not poison the features (and every frame after it).
        self._pending.append(np.clip(np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0))

    def flush(self) -> None:
        self._flush_requested = True

    def use_closures(self, closures: np.ndarray, rules: ArticulationConfig) -> None:
        """Offline: p(lips closed) for every frame of the clip, heard by the Whisper ear (model/whisper_ear.py),
        replaces the articulation head's, sealed by `rules`. Frames past its end keep the head's."""
        if self.next_frame > 0:
            raise RuntimeError("use_closures before the first frame")
        self._closures, self._seal_rules = np.asarray(closures, np.float32).reshape(-1), rules

    def set_controls(self, controls: SessionControls) -> None:
        if controls.performance != self.controls.performance and self.next_frame > 0:
            self._context_from = self.next_frame
            self._glide_pending = True
        self.controls = controls

    # --- the scheduler's side: DiffusionBackend.step calls these, in this order, every round --------------------
    def take_audio(self) -> tuple[FrontEndStream, list[np.ndarray], bool]:
        """The audio pushed since the last step, the front-end stream it goes through and whether the stream is
        flushed (the backend runs every stream's front end in one batched call)."""
        pending, self._pending = self._pending, []
        self.n_samples += sum(len(a) for a in pending)
        return self._features_stream, pending, self._flush_requested

    def frames_ready(self, rows: np.ndarray) -> int:
        """Add the front end's new rows; return how many frames are ready to generate."""
        if len(rows):
            self._features = np.concatenate([self._features, rows])
        n_features = self._feature_offset + len(self._features)
        if self._flush_requested:
            last = -(-self.n_samples // SAMPLES_PER_FRAME)                    # ceil: every frame, silence after
        else:
            last = max(0, (n_features - features_needed(0)) // FEATURES_PER_MOTION_FRAME + 1)
            if last - self.next_frame < self._min_new:
                return 0
        return max(0, last - self.next_frame)

    def unembedded_spans(self, n_new: int) -> np.ndarray:
        """(k, SPAN, F) audio spans of the next window's frames that have no embedding yet: the new frames, and in
        the stream's first window the padding frames before it too."""
        first = self.next_frame + n_new - self._window                        # stream frame index of token 0
        start = first if self._emb_first is None else self._emb_first + len(self._audio_emb)
        return frame_spans(self._features, start, first + self._window - start, self._frontend.silence_row,
                           self._feature_offset)

    def add_embeddings(self, audio_emb: np.ndarray, articulation: np.ndarray, n_new: int) -> None:
        if self._emb_first is None:
            self._emb_first = self.next_frame + n_new - self._window
        self._audio_emb = np.concatenate([self._audio_emb, audio_emb])
        self._articulation = np.concatenate([self._articulation, articulation])

    def window_inputs(self, n_new: int, sigma_max: float) -> dict[str, np.ndarray]:
        w = self._window
        first = self.next_frame + n_new - w                                   # stream frame index of token 0
        frame = first + np.arange(w)
        context_from = max(0, self._context_from, self.next_frame - self._max_context)
        kind = np.where(frame < context_from, PAD,
                        np.where(frame < self.next_frame, CONTEXT, NEW)).astype(np.int64)
        x = np.zeros((w, self._latent_dim), np.float32)
        n_ctx = int(np.sum(kind == CONTEXT))
        if n_ctx:
            x[w - n_new - n_ctx: w - n_new] = self._history[-n_ctx:]
        x[w - n_new:] = sigma_max * self._rng.standard_normal((n_new, self._latent_dim)).astype(np.float32)
        at = first - self._emb_first
        return {"x": x, "kind": kind, "audio_emb": self._audio_emb[at: at + w],
                "controls": controls_vector(self.controls.performance)}

    def commit(self, latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append generated latents to the stream; returns the latents to show (the glide after a change) and
        the articulation head's rows for those frames."""
        at = self.next_frame - self._emb_first
        articulation = self._articulation[at: at + len(latents)]
        if self._closures is not None:
            heard = self._closures[self.next_frame: self.next_frame + len(latents)]
            articulation = articulation.copy()
            articulation[: len(heard), 0] = heard
        if self._glide_pending:
            self._glide_pending = False
            self._glide_offset, self._glide_age = self._last_shown - latents[0], 0
        shown = latents
        if self._glide_offset is not None:
            age = self._glide_age + np.arange(len(latents))
            fade = 0.5 * (1.0 + np.cos(np.pi * np.minimum(age, CHANGE_GLIDE_FRAMES) / CHANGE_GLIDE_FRAMES))
            shown = latents + fade[:, None].astype(np.float32) * self._glide_offset
            self._glide_age += len(latents)
            if self._glide_age >= CHANGE_GLIDE_FRAMES:
                self._glide_offset = None
        self._last_shown = shown[-1]
        # The model's own frames (not the glide) are its context: the glide still holds some of the old controls.
        self._history = np.concatenate([self._history, latents])[-(self._window - 1):]
        self.next_frame += len(latents)
        # Keep the embeddings of the frames future windows hold as context, and the features of frames not yet
        # embedded (from the next frame's span start).
        drop_emb = self.next_frame - (self._window - 1) - self._emb_first
        if drop_emb > 0:
            self._audio_emb = self._audio_emb[drop_emb:]
            self._articulation = self._articulation[drop_emb:]
            self._emb_first += drop_emb
        keep_from = FEATURES_PER_MOTION_FRAME * self.next_frame - SPAN_BACK_FEATURES
        drop = keep_from - self._feature_offset
        if drop > 0:
            self._features = self._features[drop:]
            self._feature_offset += drop
        return shown, articulation

    def articulate(self, head: ArticulationHead, frames: np.ndarray, head_rows: np.ndarray) -> np.ndarray:
        """The round's decoded frames with the head's lip aperture; this stream's run of seals is carried across
        rounds (model/articulation.py)."""
        return head.apply(frames, head_rows, self._seal_run, self._seal_rules)

    def govern_blinks(self, frames: np.ndarray) -> np.ndarray:
        """The round's decoded frames (n, 60) with this stream's blinks governed across rounds (the governor
        keeps state: motion/blink_governor.py)."""
        return self._blinks(frames)


class DiffusionBackend:
    """`MotionBackend` over the diffusion model. `engine`: "onnxruntime" (CPU default), "torch" or "tensorrt"."""

    name = "motion-diffusion"
    fps = float(layout.FPS)

    def __init__(self, engine: str = "onnxruntime", weights: str | Path | None = None,
                 onnx_path: str | Path | None = None, sampler: str = DEFAULT_SAMPLER,
                 steps: int = DEFAULT_STEPS, threads: int | None = None,
                 min_new_frames: int = DEFAULT_MIN_NEW_FRAMES,
                 max_context_frames: int | None = None) -> None:
        """`min_new_frames` makes a stream wait until that many frames are ready (except after flush): fewer,
        fuller windows — better motion and more streams per core for (min_new_frames − 1) × 40 ms more latency."""
        if sampler not in SAMPLERS:
            raise VasaBridgeError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
        if not 1 <= steps <= 50:
            raise VasaBridgeError(f"steps must be in 1..50, got {steps}")
        if engine == "torch":
            from vasa_bridge.runtime.diffusion_engines import TorchEngine

            self.engine = TorchEngine(weights)
        elif engine in ("onnxruntime", "tensorrt"):
            onnx_file = Path(onnx_path) if onnx_path else default_onnx_path(weights)
            if engine == "onnxruntime":
                from vasa_bridge.runtime.diffusion_engines import DEFAULT_ORT_THREADS, OrtEngine

                self.engine = OrtEngine(onnx_file, threads or DEFAULT_ORT_THREADS)
                if onnx_path is None:
                    _check_export_is_current(onnx_file, self.engine.metadata, weights)
            else:
                from vasa_bridge.runtime.diffusion_engines import TensorRtEngine

                self.engine = TensorRtEngine(onnx_file)
        else:
            raise VasaBridgeError(f"unknown engine {engine!r}; choose from {ENGINES}")
        self.frontend = _load_matching_frontend(weights, onnx_path, self.engine)
        self.articulation = _load_matching_articulation(weights, onnx_path, self.frontend)
        self.latent = self.engine.latent
        self.latent_dim = int(self.engine.config["latent_dim"])
        self.window_frames = int(self.engine.config["window_frames"])
        self.max_new_frames = int(self.engine.config["max_new_frames"])
        self.d_model = int(self.engine.config["d_model"])
        if not 1 <= min_new_frames <= self.max_new_frames:
            raise VasaBridgeError(f"min_new_frames must be in 1..{self.max_new_frames}, got {min_new_frames}")
        self.min_new_frames = min_new_frames
        self.max_context_frames = self.window_frames if max_context_frames is None else max_context_frames
        # Audio past a frame's end that the stream waits for (the MotionStream contract counts from the end).
        self.lookahead_ms = LOOKAHEAD_MS - 1000.0 / layout.FPS + (min_new_frames - 1) * 1000.0 / layout.FPS
        self.sampler = SAMPLERS[sampler]
        self.sigmas = karras_sigmas(steps)
        self.evaluations = 0   # denoiser calls so far (a batched call counts once)

    def new_stream(self, controls: SessionControls = SessionControls(), seed: int = 0) -> DiffusionMotionStream:
        return DiffusionMotionStream(self, controls, seed)

    def _denoise(self, x: np.ndarray, sigma: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        return self.engine(DenoiserInputs(x=x, sigma=sigma.astype(np.float32), **extra))

    def step(self, streams: Sequence[DiffusionMotionStream]) -> dict[DiffusionMotionStream, MotionChunk]:
        taken = [s.take_audio() for s in streams]
        rows = push_many([t[0] for t in taken], [t[1] for t in taken], [t[2] for t in taken])
        todo = {s: s.frames_ready(r) for s, r in zip(streams, rows)}
        out: dict[DiffusionMotionStream, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in streams}
        while True:
            active = [s for s in streams if todo[s] > 0]
            if not active:
                break
            n_new = [min(self.max_new_frames, todo[s]) for s in active]
            spans = [s.unembedded_spans(n) for s, n in zip(active, n_new)]     # one encoder call for all
            all_spans, cuts = np.concatenate(spans), np.cumsum([len(a) for a in spans])
            embedded = np.split(self.engine.embed_audio(all_spans), cuts)
            articulated = np.split(self.articulation(all_spans) if self.articulation is not None
                                   else np.zeros((len(all_spans), HEAD_ROW_WIDTH), np.float32), cuts)
            for s, n, audio_emb, head_rows in zip(active, n_new, embedded, articulated):
                s.add_embeddings(audio_emb, head_rows, n)
            windows = [s.window_inputs(n, float(self.sigmas[0])) for s, n in zip(active, n_new)]
            batch = {k: np.stack([w[k] for w in windows]) for k in windows[0]}    # (B, W, ...)
            ones = np.ones(len(active), np.float32)
            model = guided(self._denoise, np.array([s.controls.guidance_scale for s in active], np.float32))
            x0 = self.sampler(model, batch.pop("x"), self.sigmas,
                              extra_args={**batch, "audio_keep": ones, "controls_keep": ones})   # (B, W, L)
            for s, n, latents in zip(active, n_new, x0):
                out[s].append(s.commit(latents[-n:]))
                todo[s] -= n
        chunks = {}
        for s, parts in out.items():
            latents = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, self.latent_dim), np.float32)
            frames = self.latent.decode(latents)
            if self.articulation is not None and parts:
                frames = s.articulate(self.articulation, frames, np.concatenate([p[1] for p in parts]))
            frames = s.govern_blinks(frames)
            chunks[s] = MotionChunk(frames, latents.astype(np.float32))
        return chunks


def _check_export_is_current(onnx_file: Path, metadata: dict[str, str], weights: str | Path | None) -> None:
    """The ONNX next to a weights file must have been exported from that file (it records the file's hash)."""
    from vasa_bridge.errors import ModelVersionError
    from vasa_bridge.export.onnx import file_sha256
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS

    pt = Path(weights or DEFAULT_WEIGHTS)
    recorded = metadata.get("weights_sha256", "")
    if pt.exists() and recorded and recorded != file_sha256(pt):
        raise ModelVersionError(f"{onnx_file} was exported from other weights than {pt}: run `vasa-bridge export"
                                f"{'' if weights is None else f' --weights {pt}'}`")


def _load_matching_frontend(weights: str | Path | None, onnx_path: str | Path | None, engine):
    """The speech front end the model was trained with: `speech_frontend.npz` beside the weights (or the ONNX);
    refused when its hash is not the one the model recorded."""
    from vasa_bridge.audio.frontend import load_frontend
    from vasa_bridge.errors import ModelVersionError
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS

    beside = Path(onnx_path) if onnx_path else Path(weights or DEFAULT_WEIGHTS)
    path = beside.with_name(FRONTEND_FILE_NAME)
    frontend = load_frontend(path)
    wanted = engine.frontend_sha256
    if wanted and wanted != frontend.sha256:
        raise ModelVersionError(f"{path} is not the speech front end {beside.name} was trained with: retrain with "
                                "`make train`, or put the matching speech_frontend.npz beside it")
    return frontend


def _load_matching_articulation(weights: str | Path | None, onnx_path: str | Path | None, frontend):
    """The articulation head beside the weights (or the ONNX), or None when there is none (untrained weights);
    refused when it was trained on another front end's rows."""
    from vasa_bridge.errors import ModelVersionError
    from vasa_bridge.model.articulation import ARTICULATION_FILE_NAME, load_articulation
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS

    beside = Path(onnx_path) if onnx_path else Path(weights or DEFAULT_WEIGHTS)
    path = beside.with_name(ARTICULATION_FILE_NAME)
    if not path.exists():
        return None
    head = load_articulation(path)
    if head.frontend_sha256 != frontend.sha256:
        raise ModelVersionError(f"{path} was trained on another speech front end than {frontend.sha256[:12]}: "
                                "retrain with `make train`, or remove it")
    return head


def default_onnx_path(weights: str | Path | None) -> Path:
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS

    return Path(weights or DEFAULT_WEIGHTS).with_suffix(".onnx")


def generate_clips(backend: DiffusionBackend, audios: Sequence[np.ndarray], controls: Sequence[Controls],
                   seeds: Sequence[int], guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                   ear: WhisperEar | None = None) -> list[MotionClip]:
    """Offline: whole 16 kHz signals → clips, all streams batched together. `ear`: the lips close where the Whisper
    ear hears them closed (model/whisper_ear.py), not where the articulation head does."""
    streams = [backend.new_stream(SessionControls(c, guidance_scale), seed) for c, seed in zip(controls, seeds)]
    for s, audio in zip(streams, audios):
        if ear is not None:
            if backend.articulation is None:
                raise VasaBridgeError("the Whisper ear replaces the articulation head's closures, and these weights "
                                      "have no head (articulation_head.npz beside them)")
            s.use_closures(ear.closures(audio), ear.rules.applied_to(backend.articulation.config))
        s.push(audio)
        s.flush()
    chunks = backend.step(streams)
    return [MotionClip(chunks[s].frames, metadata={"source": "motion-diffusion", "seed": int(seed),
                                                   **({"ear": "whisper"} if ear is not None else {})})
            for s, seed in zip(streams, seeds)]


def generate_clip(backend: DiffusionBackend, audio_16k: np.ndarray, controls: Controls = Controls(),
                  seed: int = 0, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                  ear: WhisperEar | None = None) -> MotionClip:
    return generate_clips(backend, [audio_16k], [controls], [seed], guidance_scale, ear)[0]
