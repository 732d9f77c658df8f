"""The Godot sample, run inside a real Godot 4.6 engine (the official web template in headless Chromium).

One engine run executes every GDScript suite (godot_sample/tests/*.gd) against the real sidecar and a misbehaving
fake server; each test here checks one group of its results. A second run is the browser demo, screenshotted
while the head talks. godot_sample/tests/engine_runner.py installs what it needs (chromium, playwright, the npm
template checked by sha256). `make test-godot` runs only this file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "godot_sample"
OUT = REPO / "out" / "godot"
sys.path.insert(0, str(SAMPLE / "tests"))

import engine_runner  # noqa: E402
from godot_live import LiveHarness  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def engine_run() -> engine_runner.EngineRun:
    for png in ("jaw_closed.png", "jaw_open.png"):
        (OUT / png).unlink(missing_ok=True)
    with LiveHarness(out_dir=OUT) as harness:
        run = engine_runner.run_tests(extra_args=harness.engine_args(), out_dir=OUT, data=harness.data(),
                                      timeout_s=150)
    # The in-engine log, for `make test-godot`'s summary and for reading after a failure.
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "engine.log").write_text("\n".join(run.lines) + "\n")
    n_pass = sum(ok for _, ok, _ in run.results)
    (OUT / "engine_summary.txt").write_text(
        f"in-engine checks (Godot 4.6 web, one run, {run.wall_s:.1f} s): {n_pass} passed, "
        f"{len(run.results) - n_pass} failed\n")
    return run


def _results(run: engine_runner.EngineRun, prefix: str) -> dict[str, tuple[bool, str]]:
    return {name: (ok, details) for name, ok, details in run.results if name.startswith(prefix)}


def _all_pass(run: engine_runner.EngineRun, prefix: str, at_least: int) -> None:
    got = _results(run, prefix)
    failed = {n: d for n, (ok, d) in got.items() if not ok}
    assert len(got) >= at_least, f"only {len(got)} '{prefix}' checks ran: {sorted(got)}\n" + "\n".join(run.lines[-30:])
    assert not failed, f"failed in the engine: {failed}"


def test_runs_in_godot_4_6_web_engine_without_script_errors(engine_run: engine_runner.EngineRun) -> None:
    assert any(engine_runner.ENGINE_BANNER in line for line in engine_run.lines), engine_run.lines[:5]
    assert any("Compatibility" in line for line in engine_run.lines), "not the Compatibility renderer"
    assert engine_run.script_errors == []
    assert engine_run.done is not None, f"engine did not finish: exit {engine_run.exit_code}\n" + \
        "\n".join(engine_run.lines[-20:])
    assert engine_run.exit_code == 0 and engine_run.done[1] == 0


def test_msgpack_codec_reencodes_every_golden_vector_identically(engine_run: engine_runner.EngineRun) -> None:
    vectors = sorted(p.stem for p in (REPO / "protocol" / "vectors").glob("*.msgpack"))
    got = _results(engine_run, "codec_vector_")
    assert sorted(n.removeprefix("codec_vector_") for n in got if n != "codec_vectors_found") == vectors
    _all_pass(engine_run, "codec_", at_least=len(vectors) + 10)


def test_client_decode_cost_is_reported(engine_run: engine_runner.EngineRun) -> None:
    notes = [line for line in engine_run.lines if line.startswith("VASA_NOTE decode_cost")]
    assert notes, "no decode-cost measurement"
    us_per_frame = float(notes[0].split()[2])
    assert 0.0 < us_per_frame < 1000.0, notes[0]


def test_jitter_buffer_orders_interpolates_and_drops_late_frames(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "jitter_", at_least=8)


def test_generated_head_loads_with_52_arkit_targets(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "head_", at_least=3)
    _all_pass(engine_run, "face_", at_least=2)


def test_baked_clip_plays_in_engine_with_blend_shapes_and_rotations_equal_to_the_clip(
        engine_run: engine_runner.EngineRun) -> None:
    """tests/test_clip.gd: a line baked by `vasa-bridge bake` (JSON and Live Link CSV) becomes an AnimationLibrary
    through VasaClipLoader; an AnimationPlayer sets the head's blend shapes and head/eye rotations to what Python
    computes from the clip at frame times and between frames, and while playing the jaw follows the clip."""
    _all_pass(engine_run, "clip_", at_least=10)


def test_texture_node_shows_rendered_frames_at_their_pts(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "texture_", at_least=3)


def test_live_session_streams_frames_and_drives_jaw(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "live_", at_least=8)


def test_live_render_batches_follow_their_motion_batch_with_an_uploaded_portrait(
        engine_run: engine_runner.EngineRun) -> None:
    """`serve --render` over WebSocket in the web engine: open with frames_jpeg and the astronaut as bin in the map,
    each render batch right after its motion batch with the same seq/n/pts_ms, JPEGs of open_ok.render's size whose
    mouth follows jawOpen, and invalid_portrait for bytes that are no image."""
    _all_pass(engine_run, "render_live_", at_least=10)


def test_client_resends_busy_audio_in_order_and_maps_an_id_nil_error_to_the_oldest_request(
        engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "busy_", at_least=5)


def test_malformed_server_messages_give_error_signal_and_client_backs_off(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "malformed_", at_least=8)
    _all_pass(engine_run, "client_reconnects", at_least=1)


def test_webgl_screenshot_jaw_open_differs_in_mouth(engine_run: engine_runner.EngineRun) -> None:
    _all_pass(engine_run, "screenshot_", at_least=5)
    from PIL import Image  # noqa: PLC0415 (matplotlib brings pillow)

    closed = np.asarray(Image.open(OUT / "jaw_closed.png").convert("RGB"), dtype=np.float32)
    opened = np.asarray(Image.open(OUT / "jaw_open.png").convert("RGB"), dtype=np.float32)
    diff = np.abs(opened - closed).mean(axis=2)  # (H, W)
    ys, xs = np.nonzero(diff > 10)
    assert len(ys) > 200, "the saved PNGs barely differ"
    # The changed pixels sit in the lower middle of the face, where the mouth is.
    h, w = diff.shape
    assert 0.35 * w < xs.mean() < 0.65 * w and 0.45 * h < ys.mean() < 0.85 * h, (xs.mean(), ys.mean())


def test_web_demo_talks_in_browser_and_screenshot_is_saved() -> None:
    png = OUT / "web_demo.png"
    png.unlink(missing_ok=True)
    lines = engine_runner.demo_screenshot(png, timeout_s=90)
    assert any(line.startswith("VASA_DEMO mouth_open") for line in lines), "\n".join(lines[-20:])
    assert png.exists() and png.stat().st_size > 10_000


def test_runner_turns_engine_output_into_failures() -> None:
    lines = ["Godot Engine v4.6.stable.official", "VASA_TEST PASS a ok", "VASA_TEST FAIL b saw 3 want 4",
             "VASA_DONE 1 1"]
    run = engine_runner.parse_output(lines, 1, 1.0)
    assert [(n, ok) for n, ok, _ in run.results] == [("a", True), ("b", False)] and not run.ok
    parse_error = engine_runner.parse_output(["SCRIPT ERROR: Parse Error: x", "VASA_DONE 0 0"], 0, 1.0)
    assert parse_error.script_errors and not parse_error.ok
    assert not engine_runner.parse_output(["VASA_TEST PASS a"], None, 1.0).ok, "a run without VASA_DONE passed"


def test_rig_presets_apply_in_the_engine_as_in_python(engine_run: engine_runner.EngineRun) -> None:
    """godot_sample/tests/test_presets.gd: the addon's table loads from res://, VasaRigPreset gives Python's
    weights for the same frames, and VasaRigPresetDriver drives a Ready Player Me viseme mesh."""
    from vasa_bridge.interop.presets import load_presets

    _all_pass(engine_run, "presets_", at_least=4)
    got = {}
    for line in engine_run.lines:
        if line.startswith("VASA_PRESET "):
            preset, target, frame, value = line.split()[1:]
            got[(preset, target, int(frame))] = float(value)
    frames = np.array([[((i * 7 + f * 13) % 29) / 28 for i in range(52)] for f in range(4)])  # test_presets.gd's
    expected = {(p.name, t, f): float(w[k]) for p in load_presets().values()
                for f, w in enumerate(p.apply(frames)) for k, t in enumerate(p.targets)}
    assert got.keys() == expected.keys()
    assert max(abs(got[key] - expected[key]) for key in expected) < 1e-5


def test_class_cache_lists_every_class_name() -> None:
    scripts = {f"res://{p.relative_to(SAMPLE).as_posix()}": p.read_text() for p in SAMPLE.rglob("*.gd")
               if ".cache" not in p.parts}
    cache = engine_runner.class_cache(scripts)
    for name in ("VasaMsgpack", "VasaProtocol", "VasaBridgeClient", "VasaJitterBuffer", "VasaBridgeFace",
                 "VasaBridgeTexture", "VasaHeadLoader", "VasaHeadStage", "VasaClipLoader", "VasaTestMain"):
        assert f'"class": &"{name}"' in cache


def test_gdscript_parses_and_lints_clean() -> None:
    files = [str(p) for p in sorted(SAMPLE.rglob("*.gd")) if ".cache" not in p.parts]
    bindir = Path(sys.executable).parent
    for tool in ("gdparse", "gdlint"):
        exe = shutil.which(tool, path=str(bindir)) or shutil.which(tool)
        if exe is None:
            pytest.fail(f"{tool} missing: pip install gdtoolkit (in the test extras)")
        proc = subprocess.run([exe, *files], cwd=SAMPLE, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{tool}:\n{proc.stdout}{proc.stderr}"
