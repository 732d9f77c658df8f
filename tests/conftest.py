"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def weights_with_head(tmp_path_factory):
    """(weights path, 2 s of a synthetic line): small untrained motion weights with an untrained articulation head
    beside them, tied to their front end."""
    from vasa_bridge.audio.frontend import load_frontend
    from vasa_bridge.export.untrained import write_untrained
    from vasa_bridge.model.articulation import ARTICULATION_FILE_NAME, save_articulation, untrained_articulation
    from vasa_bridge.motion.controls import Controls
    from vasa_bridge.train.data import synth_pairs

    line = synth_pairs(1, seed=11, voices="heldout-voice", corrupt=False, controls=Controls())[0]
    weights = write_untrained(tmp_path_factory.mktemp("model"), line.frames, d_model=64, n_layers=2)
    frontend = load_frontend(weights.with_name("speech_frontend.npz"))
    head = untrained_articulation(frontend.n_features, seed=3)
    head.frontend_sha256 = frontend.sha256
    save_articulation(weights.with_name(ARTICULATION_FILE_NAME), head, {})
    return weights, line.audio_16k[:32000]
