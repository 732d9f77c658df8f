"""The articulation head: it moves the lips to the aperture asked for, seals them when it hears a closure, is
applied to the right frames whether streamed or baked, learns closures from the teacher's lips, and its file is
versioned and tied to the front end it was trained on."""

from __future__ import annotations

import numpy as np
import pytest

from vasa_bridge.errors import ModelVersionError
from vasa_bridge.model.articulation import (ARTICULATION_FILE_NAME, ArticulationConfig, ArticulationHead,
                                            load_articulation, save_articulation, set_lip_aperture,
                                            untrained_articulation)
from vasa_bridge.model.conditioning import SPAN_FEATURES
from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW, lip_aperture


def mouth_frames(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, layout.N_CHANNELS), np.float32)
    for name in ("jawOpen", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight"):
        frames[:, layout.channel(name)] = rng.uniform(0.1, 0.4, n)
    return frames


def test_set_lip_aperture_opens_and_closes_to_the_target_and_keeps_blendshapes_valid():
    frames = mouth_frames()
    target = np.array([0.0, 0.02, 0.15, 0.3, 0.5, 0.8], np.float32)
    moved = set_lip_aperture(frames, target)
    np.testing.assert_allclose(lip_aperture(moved), target, atol=1e-5)
    assert moved[:, layout.BLENDSHAPE_SLICE].min() >= 0 and moved[:, layout.BLENDSHAPE_SLICE].max() <= 1
    other = [c for c in range(layout.N_CHANNELS) if c not in
             [layout.channel(n) for n in ("jawOpen", "mouthClose", "mouthUpperUpLeft", "mouthUpperUpRight",
                                          "mouthLowerDownLeft", "mouthLowerDownRight")]]
    np.testing.assert_array_equal(moved[:, other], frames[:, other])     # only the lips move
    np.testing.assert_array_equal(set_lip_aperture(frames, lip_aperture(frames)), frames)


def test_set_lip_aperture_closes_funnelled_lips_and_opens_pressed_ones():
    """A funnelled mouth ("oo") closes into a pucker (the /m/ of "boom"), a pressed one opens: before, 2–9 % of
    closing targets on the dev sets were left open and 7–9 % of opening targets short."""
    frames = np.zeros((2, layout.N_CHANNELS), np.float32)
    frames[0, layout.channel("jawOpen")] = 0.2
    frames[0, layout.channel("mouthFunnel")] = 0.6                  # rounded, open lips
    frames[1, layout.channel("mouthPressLeft")] = frames[1, layout.channel("mouthPressRight")] = 0.5
    frames[1, layout.channel("mouthRollLower")] = 0.4               # lips pressed and rolled together
    moved = set_lip_aperture(frames, np.array([0.0, 0.25], np.float32))
    np.testing.assert_allclose(lip_aperture(moved), [0.0, 0.25], atol=1e-6)
    assert moved[0, layout.channel("mouthPucker")] > 0.0             # still rounded, now closed
    assert moved[1, layout.channel("mouthPressLeft")] < 0.5          # the press released before the jaw drops
    assert moved[:, layout.BLENDSHAPE_SLICE].min() >= 0 and moved[:, layout.BLENDSHAPE_SLICE].max() <= 1


def head_with_output(p_closed: float, aperture: float, blend: float = 0.7) -> ArticulationHead:
    """A head whose output is constant: zero weights, the answer in the last bias."""
    config = ArticulationConfig(n_features=3, hidden=4, blend=blend)
    logit = np.log(p_closed / (1 - p_closed))
    params = {"w1": np.zeros((config.n_in, 4)), "b1": np.zeros(4), "w2": np.zeros((4, 4)), "b2": np.zeros(4),
              "w3": np.zeros((4, 2)), "b3": np.array([logit, aperture])}
    return ArticulationHead(config, params)


def test_apply_blends_the_aperture_and_seals_the_lips_when_a_closure_is_heard():
    frames = mouth_frames()
    spans = np.zeros((len(frames), SPAN_FEATURES, 3), np.float32)     # level 0 dB: at the peak, no effort scaling
    open_head = head_with_output(0.01, 0.3, blend=0.5)
    out = open_head(spans)
    np.testing.assert_allclose(out, [[0.01, 0.3, 0.0]] * len(frames), atol=1e-6)
    np.testing.assert_allclose(lip_aperture(open_head.apply(frames, out)),
                               0.5 * lip_aperture(frames) + 0.5 * 0.3, atol=1e-5)
    one = slice(0, 1)                                                  # a closure's first frame seals fully
    closing_head = head_with_output(0.9, 0.05)
    assert lip_aperture(closing_head.apply(frames[one], closing_head(spans[one]))).max() < LIPS_CLOSED_BELOW
    config = ArticulationConfig(n_features=3)
    half = head_with_output((config.close_from + config.close_full) / 2, 0.05)    # halfway: half the aperture
    blended = 0.3 * lip_aperture(frames[one]) + 0.7 * 0.05
    np.testing.assert_allclose(lip_aperture(half.apply(frames[one], half(spans[one]))), 0.5 * blended, atol=1e-4)


def test_a_closure_is_not_sealed_when_the_head_hears_an_open_mouth():
    frames = mouth_frames()
    spans = np.zeros((len(frames), SPAN_FEATURES, 3), np.float32)
    unsure = head_with_output(0.9, 0.3)            # p(closed) says shut, the aperture says open: over seal_open_above
    np.testing.assert_allclose(lip_aperture(unsure.apply(frames, unsure(spans))),
                               0.3 * lip_aperture(frames) + 0.7 * 0.3, atol=1e-5)


def test_seals_are_brief_in_loud_speech_and_hold_in_pauses():
    frames = mouth_frames(8)
    head = head_with_output(0.9, 0.05)
    blended = 0.3 * lip_aperture(frames) + 0.7 * 0.05
    loud = np.zeros((len(frames), SPAN_FEATURES, 3), np.float32)
    aperture = lip_aperture(head.apply(frames, head(loud)))
    shown = aperture / blended                                   # 0: sealed, 1: the head's aperture
    assert aperture[0] < LIPS_CLOSED_BELOW
    np.testing.assert_allclose(shown[1], 1 - head.config.seal_decay, atol=1e-4)   # one full seal before it
    assert np.all(np.diff(shown) > 0) and shown[-1] > 0.6                # reopening while the closure lasts
    quiet = loud.copy()
    quiet[:, :, -1] = head.config.quiet_below_db - 5.0
    assert lip_aperture(head.apply(frames, head(quiet))).max() < LIPS_CLOSED_BELOW


def test_seals_continue_across_chunks_as_in_one_call():
    from vasa_bridge.model.articulation import SealRun

    rng = np.random.default_rng(3)
    frames = mouth_frames(40, seed=3)
    head = head_with_output(0.5, 0.1)
    rows = np.stack([rng.uniform(0, 1, 40), rng.uniform(0, 0.3, 40), rng.uniform(-40, 0, 40)], 1).astype(np.float32)
    rows[10:20] = [0.95, 0.05, -5.0]                                   # a long run of sure closures, loud
    whole = head.apply(frames, rows)
    run, parts = SealRun(), []
    for i in range(0, 40, 3):
        parts.append(head.apply(frames[i:i + 3], rows[i:i + 3], run))
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)


def test_quieter_frames_open_less_by_the_teachers_loudness_gain():
    from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME
    from vasa_bridge.model.conditioning import SPAN_BACK_FEATURES
    from vasa_bridge.teacher.lips import LOUDNESS_GAIN_RANGE

    frames = mouth_frames()
    head = head_with_output(0.01, 0.3)
    loud = head.apply(frames, head(np.zeros((len(frames), SPAN_FEATURES, 3), np.float32)))
    spans = np.zeros((len(frames), SPAN_FEATURES, 3), np.float32)
    spans[:, :, -1] = -40.0                                            # quiet around the frame ...
    own = slice(SPAN_BACK_FEATURES, SPAN_BACK_FEATURES + FEATURES_PER_MOTION_FRAME)
    spans[:, own, -1] = -10.0                                          # ... the frame itself 10 dB under the peak
    rows = head(spans)
    np.testing.assert_allclose(rows[:, 2], -10.0)
    np.testing.assert_allclose(lip_aperture(head.apply(frames, rows)), 0.5 * lip_aperture(loud), atol=1e-5)
    spans[:, own, -1] = -60.0                                          # far under: the teacher's floor
    np.testing.assert_allclose(lip_aperture(head.apply(frames, head(spans))),
                               LOUDNESS_GAIN_RANGE[0] * lip_aperture(loud), atol=1e-5)


def test_head_file_round_trips_and_bad_files_are_refused(tmp_path):
    head = untrained_articulation(n_features=5)
    head.frontend_sha256 = "f" * 64
    path = tmp_path / ARTICULATION_FILE_NAME
    save_articulation(path, head, {"note": "test"})
    loaded = load_articulation(path)
    assert loaded.sha256 == head.sha256 and loaded.frontend_sha256 == head.frontend_sha256
    spans = np.random.default_rng(0).normal(size=(7, loaded.config.span, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded(spans), head(spans))
    path.write_bytes(b"not a numpy file")
    with pytest.raises(ModelVersionError, match="not a vasa_bridge articulation head"):
        load_articulation(path)


def test_short_closures_are_the_contacts_inside_speech():
    from vasa_bridge.train.articulation import short_closures

    closed = np.array([1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1], bool)
    #                  leading pause  contact   too long (5)      trailing
    np.testing.assert_array_equal(short_closures(closed), [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])


N_LINES, N_FRAMES = 12, 60
TRAIN_FAST = {"steps": 300, "batch": 256, "dropout": 0.0}


def _lines_with_a_closure_cue(rng, closed: np.ndarray, labelled: np.ndarray):
    """(front end, packed lines): each frame's first feature is high exactly while `closed`; the teacher's lips are
    closed where `labelled` (N_LINES × N_FRAMES frames). A frame's rows are 4i .. 4i+3 of its line."""
    from vasa_bridge.audio.frontend import FrontEndConfig, SpeechFrontEnd, StudentNet, untrained_params
    from vasa_bridge.train.data import PairSet

    fe_config = FrontEndConfig(channels=8)
    frontend = SpeechFrontEnd(fe_config, StudentNet(fe_config, untrained_params(fe_config)), "a" * 64)
    frames = np.zeros((N_LINES * N_FRAMES, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("jawOpen")] = np.where(labelled, 0.0, rng.uniform(0.15, 0.4, len(frames)))
    rows = rng.normal(0, 0.3, (N_LINES * (4 * N_FRAMES + 40), fe_config.n_features)).astype(np.float32)
    feature_start = np.arange(N_LINES) * (4 * N_FRAMES + 40) + 20
    for k in range(N_LINES):
        line = closed[k * N_FRAMES: (k + 1) * N_FRAMES]
        rows[feature_start[k]: feature_start[k] + 4 * N_FRAMES, 0] = 3.0 * np.repeat(line, 4)
    packed = PairSet(rows.astype(np.float16), frames, feature_start, np.arange(N_LINES) * N_FRAMES,
                     np.full(N_LINES, N_FRAMES), np.zeros((N_LINES, 9), np.float32))
    return frontend, packed


def _new_line(rng, frontend):
    """(spans, closed) of a line no head was trained on, with the same cue."""
    from vasa_bridge.model.conditioning import frame_spans

    closed = rng.random(N_FRAMES) < 0.3
    rows = rng.normal(0, 0.3, (4 * N_FRAMES, frontend.n_features)).astype(np.float32)
    rows[:, 0] = 3.0 * np.repeat(closed, 4)
    return frame_spans(rows, 0, N_FRAMES, frontend.silence_row), closed


def test_training_learns_closures_from_the_teachers_lips(tmp_path):
    """Lines whose first feature is high exactly while the teacher's lips are closed: the head must find that."""
    from vasa_bridge.train.articulation import ArticulationTrainConfig, train_articulation

    rng = np.random.default_rng(0)
    closed = rng.random(N_LINES * N_FRAMES) < 0.3
    frontend, packed = _lines_with_a_closure_cue(rng, closed, closed)
    head = train_articulation(packed, frontend, tmp_path / ARTICULATION_FILE_NAME,
                              ArticulationTrainConfig(**TRAIN_FAST))
    assert load_articulation(tmp_path / ARTICULATION_FILE_NAME).frontend_sha256 == frontend.sha256
    spans, new_closed = _new_line(rng, frontend)
    assert np.mean((head(spans)[:, 0] > 0.5) == new_closed) > 0.9


def test_streamed_frames_get_the_head_rows_of_their_own_audio_span(weights_with_head):
    from vasa_bridge.model.conditioning import frame_spans
    from vasa_bridge.runtime.backend import SessionControls
    from vasa_bridge.runtime.diffusion import DiffusionBackend

    weights, audio = weights_with_head
    backend = DiffusionBackend("onnxruntime", weights=weights, steps=2)
    assert backend.articulation is not None
    stream = backend.new_stream(SessionControls(), 0)
    frames, latents = [], []
    for i in range(0, len(audio), 320):
        stream.push(audio[i:i + 320])
        chunk = backend.step([stream])[stream]
        frames.append(chunk.frames)
        latents.append(chunk.latent)
    stream.flush()
    chunk = backend.step([stream])[stream]
    frames, latents = np.concatenate(frames + [chunk.frames]), np.concatenate(latents + [chunk.latent])
    spans = frame_spans(backend.frontend.features(audio), 0, len(frames), backend.frontend.silence_row)
    from vasa_bridge.motion.blink_governor import BlinkGovernor

    expected = BlinkGovernor()(backend.articulation.apply(backend.latent.decode(latents), backend.articulation(spans)))
    np.testing.assert_allclose(frames, expected, atol=1e-4)      # batched vs one-call matmul rounding


def test_a_head_trained_on_another_front_end_is_refused(weights_with_head, tmp_path):
    import shutil

    from vasa_bridge.runtime.diffusion import DiffusionBackend

    weights, _ = weights_with_head
    for path in weights.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    head = untrained_articulation(load_articulation(weights.with_name(ARTICULATION_FILE_NAME)).config.n_features)
    head.frontend_sha256 = "0" * 64
    save_articulation(tmp_path / ARTICULATION_FILE_NAME, head, {})
    with pytest.raises(ModelVersionError, match="another speech front end"):
        DiffusionBackend("onnxruntime", weights=tmp_path / weights.name)


def test_blink_governor_holds_a_reclosure_sooner_than_the_gap_and_keeps_later_blinks():
    from vasa_bridge.motion.blink_governor import MIN_GAP_FRAMES, BlinkGovernor
    from vasa_bridge.motion.measures import blink_onset_frames, eye_closure

    lids = np.zeros(60, np.float32)
    lids[5:9] = [0.6, 1.0, 0.8, 0.2]          # a blink
    lids[10:13] = [0.7, 0.9, 0.3]            # a flutter 5 frames later
    lids[40:43] = [0.7, 1.0, 0.4]            # a blink well after the gap
    frames = np.zeros((60, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("eyeBlinkLeft")] = frames[:, layout.channel("eyeBlinkRight")] = lids
    governor = BlinkGovernor()
    # in chunks of 3 frames, as a stream delivers them
    out = np.concatenate([governor(frames[i:i + 3]) for i in range(0, 60, 3)])
    np.testing.assert_array_equal(blink_onset_frames(out), [5, 40])
    assert np.all(np.diff(eye_closure(out)[8:20]) <= 1e-6)              # after the blink the lids only open
    assert eye_closure(out)[40] == 1.0                                  # the later blink is a blink
    assert 40 - 5 >= MIN_GAP_FRAMES


def _lid_frames(lids: np.ndarray) -> np.ndarray:
    frames = np.zeros((len(lids), layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("eyeBlinkLeft")] = frames[:, layout.channel("eyeBlinkRight")] = lids
    return frames


def test_blink_governor_shuts_a_blurred_blink_and_reopens_at_the_teachers_speed():
    from vasa_bridge.motion.blink_governor import REOPEN_PER_FRAME, BlinkGovernor
    from vasa_bridge.motion.measures import blink_depth, eye_closure

    lids = np.zeros(40, np.float32)
    lids[5:10] = [0.3, 0.6, 0.7, 0.55, 0.1]   # the model's blink, blurred to a 0.7 peak
    lids[25:28] = [0.05, 0.1, 0.05]          # lids that move but stay near rest: left alone
    frames = _lid_frames(lids)
    out = BlinkGovernor()(frames)
    shown = eye_closure(out)
    np.testing.assert_array_equal(shown[6:9], 1.0)                       # shut while the model is over the threshold
    np.testing.assert_allclose(shown[9:13], [0.75, 0.5, 0.25, 0.0], atol=1e-6)
    assert np.all(np.diff(shown[8:20]) >= -REOPEN_PER_FRAME - 1e-6)
    np.testing.assert_array_equal(out[:5], frames[:5])
    np.testing.assert_array_equal(out[20:], frames[20:])
    assert blink_depth(frames[:20]) < 0.9 <= blink_depth(out[:20])


def test_blink_governor_shuts_a_half_blink_that_stays_under_the_measures_threshold():
    """The denoiser's blinks can peak between 0.3 and 0.5, where the teacher's lids only pass on a blink's edges:
    past ONSET_AT they are blinks and shut; the measure (BLINK_CLOSED_AT 0.5) would not have counted them."""
    from vasa_bridge.motion.blink_governor import ONSET_AT, BlinkGovernor
    from vasa_bridge.motion.measures import BLINK_CLOSED_AT, blink_depth, eye_closure

    assert ONSET_AT < 0.45 < BLINK_CLOSED_AT
    lids = np.zeros(30, np.float32)
    lids[5:9] = [0.2, 0.45, 0.42, 0.1]
    out = BlinkGovernor()(_lid_frames(lids))
    np.testing.assert_array_equal(eye_closure(out)[6:8], 1.0)
    assert blink_depth(_lid_frames(lids)) < 0.5 and blink_depth(out) == 1.0


def test_blink_governor_leaves_no_half_shut_lids():
    """The denoiser's lids also droop part-way for a while (the demo: 0.36–0.39 for 6 frames): a droop past ONSET_AT
    becomes a blink that shuts, and a smaller one rests at REST_MAX — never a half-shut stare."""
    from vasa_bridge.motion.blink_governor import ONSET_AT, REST_MAX, BlinkGovernor
    from vasa_bridge.motion.measures import eye_closure

    lids = np.zeros(60, np.float32)
    lids[5:13] = [0.15, 0.25, 0.36, 0.39, 0.38, 0.36, 0.35, 0.26]    # a blink blurred into a droop
    lids[35:45] = 0.25                                              # a droop that never reaches a blink
    shown = eye_closure(BlinkGovernor()(_lid_frames(lids)))
    assert ONSET_AT < 0.35 and REST_MAX < 0.25
    np.testing.assert_array_equal(shown[7:12], 1.0)                 # shut while the droop lasts
    np.testing.assert_allclose(shown[12:16], [0.75, 0.5, 0.25, 0.0], atol=1e-6)   # then reopened like a blink
    np.testing.assert_allclose(shown[35:45], REST_MAX, atol=1e-6)
    half_shut = (shown > REST_MAX + 1e-6) & (shown < 0.9)
    assert half_shut.sum() == 3                                     # only the reopening frames pass through


def test_blink_governor_output_does_not_depend_on_chunking():
    from vasa_bridge.motion.blink_governor import BlinkGovernor

    rng = np.random.default_rng(3)
    lids = np.clip(rng.normal(0.1, 0.1, 300), 0, 1).astype(np.float32)
    for onset in rng.choice(290, 25, replace=False):
        lids[onset: onset + 4] = rng.uniform(0.4, 1.0, 4)
    frames = _lid_frames(lids)
    whole = BlinkGovernor()(frames)
    for size in (1, 3, 7):
        governor = BlinkGovernor()
        chunked = np.concatenate([governor(frames[i:i + size]) for i in range(0, len(frames), size)])
        np.testing.assert_array_equal(chunked, whole)


def test_lines_whose_closures_are_not_trusted_do_not_teach_closures(tmp_path):
    """Most lines carry closure labels that contradict their audio (as an aligner's guesses on shouts might):
    weighted 0 they leave the head's closures as the two trusted lines taught them; weighted 1 they spoil them."""
    from vasa_bridge.train.articulation import ArticulationTrainConfig, articulation_examples, train_articulation

    rng = np.random.default_rng(1)
    closed = rng.random(N_LINES * N_FRAMES) < 0.3
    labelled = closed.copy()
    labelled[2 * N_FRAMES:] = ~closed[2 * N_FRAMES:]           # all but two lines' labels say the opposite
    frontend, packed = _lines_with_a_closure_cue(rng, closed, labelled)
    trusted = np.array([1.0] * 2 + [0.0] * (N_LINES - 2), np.float32)
    _, _, weights = articulation_examples(packed, frontend.silence_row, trusted)
    assert np.all(weights[2 * N_FRAMES:] == 0) and np.all(weights[: 2 * N_FRAMES] >= 1)
    spans, new_closed = _new_line(rng, frontend)
    accuracy = {}
    for name, weight in (("left out", trusted), ("learnt from", None)):
        head = train_articulation(packed, frontend, tmp_path / ARTICULATION_FILE_NAME,
                                  ArticulationTrainConfig(**TRAIN_FAST), closure_weights=weight)
        accuracy[name] = np.mean((head(spans)[:, 0] > 0.5) == new_closed)
    assert accuracy["left out"] > 0.8 and accuracy["learnt from"] < 0.5        # 0.88 and 0.15 when written


def test_the_recipe_leaves_out_only_the_pseudo_labelled_lines_closures():
    from vasa_bridge.motion.controls import Controls
    from vasa_bridge.train.data import REAL_VOICE_PREFIX, Pair
    from vasa_bridge.train.recipe import closure_weights

    def pair(voice: str) -> Pair:
        return Pair(np.zeros(640, np.float32), np.zeros((1, layout.N_CHANNELS), np.float32), Controls(), voice, "en")

    weights = closure_weights([pair("mb-us1"), pair(f"{REAL_VOICE_PREFIX}megaglest/archer_ack1"), pair("non-speech")])
    np.testing.assert_array_equal(weights, [1.0, 0.0, 1.0])
