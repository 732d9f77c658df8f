"""Golden vectors: one example of every message type, as msgpack bytes, JSON, and ZeroMQ frames.

`python -m vasa_bridge.protocol.vectors --write` regenerates protocol/vectors/ and protocol/schemas/ (only when
the protocol changes: bump protocol/VERSION and write CHANGELOG.md). `--check` (and tests/test_protocol.py)
verify that the files match what this code produces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vasa_bridge.motion import layout
from vasa_bridge import protocol as m
from vasa_bridge.protocol.version import PACKAGE_PROTOCOL_DIR, protocol_dir, protocol_version

SESSION = "5e55a0f1c0ffee42"
INSTANCE = "1a2b3c4d5e6f7081"
# A 1x1 PNG (one skin-coloured pixel): the bytes a client uploads as open.portrait.
PORTRAIT_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
                             "9c633831ad0200040001d7b8d30e080000000049454e44ae426082")
# The first bytes of a JPEG (SOI, APP0/JFIF header): a render batch's image as clients receive it, shortened.
JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
# open_ok.viseme_names as the server sends them (the oculus_visemes rig preset's targets; a test checks they agree).
VISEME_NAMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")


def _motion_frames(n: int) -> np.ndarray:
    """(n, 60) float32: neutral frames with a jaw opening and a head turn, so values are recognizable."""
    frames = np.zeros((n, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("headZ")] = 0.6
    frames[:, layout.channel("jawOpen")] = np.linspace(0.0, 0.5, n, dtype=np.float32)
    frames[:, layout.channel("headYaw")] = np.float32(0.125)
    frames[:, layout.channel("eyeBlinkLeft")] = frames[:, layout.channel("eyeBlinkRight")] = np.float32(0.25)
    return frames


def _visemes(n: int) -> np.ndarray:
    """(n, 15) float32 viseme weights in VISEME_NAMES order: silence, then an open "aa" (frame 1: aa = 0.5)."""
    weights = np.zeros((n, len(VISEME_NAMES)), np.float32)
    weights[0, VISEME_NAMES.index("sil")] = 1.0
    weights[1:, VISEME_NAMES.index("aa")] = 0.5
    weights[1:, VISEME_NAMES.index("E")] = 0.125
    return weights


def _controls_full() -> dict:
    return {"emotion": "happy", "emotion_intensity": 0.5, "gaze_yaw_rad": 0.1, "gaze_pitch_rad": None,
            "head_distance_m": 0.6, "guidance_scale": 1.0}


def build_vectors() -> dict[str, dict]:
    """name -> logical message. Key order here is the order in the .msgpack files."""
    return {**_handshake_vectors(), **_open_vectors(), **_request_vectors(), **_error_vectors(),
            **_stream_vectors()}


def _handshake_vectors() -> dict[str, dict]:
    v = protocol_version()
    limits = {"max_message_bytes": 1 << 20, "max_sessions": 128, "max_sessions_per_client": 64,
              "audio_rate_x": 64.0, "audio_burst_s": 30.0, "idle_timeout_s": 60.0, "max_buffered_audio_s": 10.0,
              "max_queued_requests": 256, "max_queued_bytes": 32 << 20, "request_rate_per_s": 5000.0,
              "request_burst": 2000}
    return {
        "hello": {"type": "hello", "id": 1, "protocol": v, "client": "golden-vectors/1", "token": "s3cret"},
        "hello_ok": {"type": "hello_ok", "id": 1, "protocol": v, "server": "vasa_bridge 0.1.0",
                     "instance": INSTANCE, "synthetic": True, "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
                     "fps": 25.0, "backend": "amplitude-baseline", "outputs": ["motion"],
                     "audio_formats": ["pcm16", "f32"], "sample_rate_hz_min": 8000, "sample_rate_hz_max": 96000,
                     "emotions": ["neutral", "happy", "sad", "angry", "surprised"], "heartbeat_ms": 1000.0,
                     "limits": limits},
        "hello_ok_render": {"type": "hello_ok", "id": 1, "protocol": v, "server": "vasa_bridge 0.1.0",
                            "instance": INSTANCE, "synthetic": True,
                            "motion_layout_version": layout.MOTION_LAYOUT_VERSION, "fps": 25.0,
                            "backend": "motion-diffusion",
                            "outputs": ["motion", "latent", "frames_jpeg", "frames_rgba"],
                            "audio_formats": ["pcm16", "f32"], "sample_rate_hz_min": 8000,
                            "sample_rate_hz_max": 96000, "emotions": ["neutral", "happy", "sad", "angry", "surprised"],
                            "heartbeat_ms": 1000.0, "limits": limits,
                            "render": {"sizes": [256, 512], "formats": ["jpeg", "rgba"], "default_size": 256,
                                       "jpeg_quality": 85, "default_portrait": True, "max_portrait_pixels": 40000000,
                                       "mark_positions": ["bottom-right", "bottom-left", "top-right", "top-left"]}},
    }


def _open_vectors() -> dict[str, dict]:
    return {
        "open": {"type": "open", "id": 2, "audio": {"format": "pcm16", "sample_rate_hz": 48000},
                 "outputs": ["motion"], "fps": 25.0, "frames_dtype": "f32",
                 "controls": {"emotion": "happy", "emotion_intensity": 0.5, "gaze_yaw_rad": 0.1}, "seed": 7},
        "open_ok": {"type": "open_ok", "id": 2, "session": SESSION, "fps": 25.0,
                    "channel_names": list(layout.CHANNEL_NAMES), "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
                    "frames_dtype": "f32", "latent_dim": 0, "outputs": ["motion"],
                    "audio": {"format": "pcm16", "sample_rate_hz": 48000}, "controls": _controls_full(),
                    "lookahead_ms": 20.0, "synthetic": True},
        "open_portrait": {"type": "open", "id": 2, "audio": {"format": "f32", "sample_rate_hz": 16000},
                          "outputs": ["motion", "frames_jpeg"], "seed": 7,
                          "render": {"size": 512, "jpeg_quality": 80, "mark_position": "top-left"},
                          "portrait": PORTRAIT_PNG},
        "open_ok_render": {"type": "open_ok", "id": 2, "session": SESSION, "fps": 25.0,
                           "channel_names": list(layout.CHANNEL_NAMES),
                           "motion_layout_version": layout.MOTION_LAYOUT_VERSION, "frames_dtype": "f32",
                           "latent_dim": 0, "outputs": ["motion", "frames_jpeg"],
                           "audio": {"format": "f32", "sample_rate_hz": 16000},
                           "controls": {**_controls_full(), "emotion": "neutral", "emotion_intensity": 1.0,
                                        "gaze_yaw_rad": None},
                           "lookahead_ms": 60.0, "synthetic": True,
                           "render": {"format": "jpeg", "width": 512, "height": 512, "jpeg_quality": 80,
                                      "mark_position": "top-left", "portrait": "uploaded",
                                      "notes": ["2 faces found in the portrait (numbered 1-2 from left to right); "
                                                "animating face 2, the largest. To animate another, upload a "
                                                "photo cropped to it or send its open.portrait_landmarks"]}},
        "open_livelink": {"type": "open", "id": 2, "audio": {"format": "pcm16", "sample_rate_hz": 48000},
                          "livelink": {"subject": "MetaHuman_Ava"}},
        "open_ok_livelink": {"type": "open_ok", "id": 2, "session": SESSION, "fps": 25.0,
                             "channel_names": list(layout.CHANNEL_NAMES),
                             "motion_layout_version": layout.MOTION_LAYOUT_VERSION, "frames_dtype": "f32",
                             "latent_dim": 0, "outputs": ["motion"],
                             "audio": {"format": "pcm16", "sample_rate_hz": 48000},
                             "controls": {**_controls_full(), "emotion": "neutral", "emotion_intensity": 1.0,
                                          "gaze_yaw_rad": None},
                             "lookahead_ms": 20.0, "synthetic": True,
                             "livelink": {"subject": "MetaHuman_Ava", "fps": 60.0}},
        "open_ok_visemes": {"type": "open_ok", "id": 2, "session": SESSION, "fps": 25.0,
                            "channel_names": list(layout.CHANNEL_NAMES),
                            "motion_layout_version": layout.MOTION_LAYOUT_VERSION, "frames_dtype": "f32",
                            "latent_dim": 0, "outputs": ["motion", "visemes"],
                            "audio": {"format": "f32", "sample_rate_hz": 16000},
                            "controls": {**_controls_full(), "emotion": "neutral", "emotion_intensity": 1.0,
                                         "gaze_yaw_rad": None},
                            "lookahead_ms": 20.0, "synthetic": True, "viseme_names": list(VISEME_NAMES)},
    }


def _request_vectors() -> dict[str, dict]:
    v = protocol_version()
    pcm16 = np.array([0, 1000, -1000, 32767, -32768, 256, -256, 0], "<i2").tobytes()
    return {
        "audio": {"type": "audio", "id": 3, "session": SESSION, "audio": pcm16},
        "audio_ok": {"type": "audio_ok", "id": 3, "session": SESSION, "received_ms": 0.16666666666666666},
        "end_audio": {"type": "end_audio", "id": 4, "session": SESSION},
        "end_audio_ok": {"type": "end_audio_ok", "id": 4, "session": SESSION, "received_ms": 1000.0},
        "controls": {"type": "controls", "id": 5, "session": SESSION,
                     "controls": {"emotion": "sad", "gaze_yaw_rad": None, "guidance_scale": 2.5}},
        "controls_ok": {"type": "controls_ok", "id": 5, "session": SESSION,
                        "controls": {**_controls_full(), "emotion": "sad", "gaze_yaw_rad": None,
                                     "guidance_scale": 2.5},
                        "effective_seq": 12},
        "close": {"type": "close", "id": 6, "session": SESSION},
        "close_ok": {"type": "close_ok", "id": 6, "session": SESSION, "frames_total": 25},
        "assign": {"type": "assign", "id": 1, "protocol": v, "zmq": "tcp://10.0.0.7:40123",
                   "zmq_stream": "tcp://10.0.0.7:40124", "replica": "x8mc42a5", "instance": INSTANCE},
        "status": {"type": "status", "id": 7},
        "status_ok": {"type": "status_ok", "id": 7, "instance": INSTANCE, "sessions": 3, "max_sessions": 128,
                      "clients": 2, "load": 0.25, "step_ms_p50": 0.5, "step_ms_p95": 1.5, "frames_total": 1200,
                      "uptime_s": 61.5},
        "status_ok_cluster": {"type": "status_ok", "id": 7, "instance": INSTANCE, "sessions": 9, "max_sessions": 256,
                              "clients": 0, "load": 0.0, "step_ms_p50": 0.0, "step_ms_p95": 0.0, "frames_total": 0,
                              "uptime_s": 61.5, "replicas": 2, "replicas_silent": 1},
    }


def _error_vectors() -> dict[str, dict]:
    return {
        "error": {"type": "error", "id": 8, "code": "unknown_session",
                  "message": "no session 00000000deadbeef (closed, reaped, or opened before a server restart)",
                  "session": "00000000deadbeef"},
        "error_rate_limited": {"type": "error", "id": 9, "code": "rate_limited",
                               "message": "audio faster than 64x real time; chunk dropped", "session": SESSION,
                               "retry_after_ms": 250.0},
        "error_invalid_portrait": {"type": "error", "id": 2, "code": "invalid_portrait",
                                   "message": "no face found in bytes. For paintings, cartoons or unusual photos pass "
                                              "a landmarks file: open.portrait_landmarks (see docs/renderer.md)"},
        "error_too_large": {"type": "error", "id": 12, "code": "too_large",
                            "message": "message of 5242880 bytes exceeds the limit of 1048576"},
        "error_busy": {"type": "error", "id": 13, "code": "busy", "session": SESSION,
                       "message": "the session has more than max_buffered_audio_s (10 s) of audio waiting for the "
                                  "motion worker; chunk dropped, resend it", "retry_after_ms": 200.0},
        "error_overloaded": {"type": "error", "id": 14, "code": "overloaded",
                             "message": "31 sessions in real time need the motion worker 78% of the time; one "
                                        "more would need 81% (limit 80%) and make existing sessions late. Retry "
                                        "later or use another server", "retry_after_ms": 5000.0},
        "error_undecodable": {"type": "error", "id": None, "code": "bad_message",
                              "message": "not a single msgpack value"},
    }


def _stream_vectors() -> dict[str, dict]:
    frames3 = _motion_frames(3)
    frames2 = _motion_frames(2)
    latent2 = np.arange(2 * 4, dtype="<f4").reshape(2, 4) / np.float32(8.0)
    rgba_2x1 = bytes([255, 0, 0, 255, 0, 255, 0, 255])  # two pixels: red, green
    return {
        "motion": {"type": "motion", "session": SESSION, "seq": 10, "n": 3, "pts_ms": 400.0,
                   "channels": layout.N_CHANNELS, "dtype": "f32", "frames": frames3.astype("<f4").tobytes(),
                   "synthetic": True},
        "motion_f16_latent": {"type": "motion", "session": SESSION, "seq": 0, "n": 2, "pts_ms": 0.0,
                              "channels": layout.N_CHANNELS, "dtype": "f16",
                              "frames": frames2.astype("<f2").tobytes(), "latent_dim": 4,
                              "latent": latent2.astype("<f4").tobytes(), "synthetic": True},
        "motion_visemes": {"type": "motion", "session": SESSION, "seq": 10, "n": 2, "pts_ms": 400.0,
                           "channels": layout.N_CHANNELS, "dtype": "f32", "frames": frames2.astype("<f4").tobytes(),
                           "visemes": _visemes(2).astype("<f4").tobytes(), "synthetic": True},
        "render": {"type": "render", "session": SESSION, "seq": 10, "n": 1, "pts_ms": 400.0, "format": "rgba",
                   "width": 2, "height": 1, "images": [rgba_2x1], "synthetic": True},
        "render_jpeg": {"type": "render", "session": SESSION, "seq": 12, "n": 2, "pts_ms": 480.0, "format": "jpeg",
                        "width": 512, "height": 512, "images": [JPEG_HEAD, JPEG_HEAD], "synthetic": True},
        "end": {"type": "end", "session": SESSION, "reason": "end_of_audio", "frames_total": 25,
                "duration_ms": 1000.0},
        "heartbeat": {"type": "heartbeat", "session": SESSION, "next_seq": 25, "received_ms": 1000.0,
                      "server_time_ms": 1795000000000.0},
    }


def _zmq_socket(msg: dict) -> str:
    role = m.MESSAGES[msg["type"]][0]
    if msg["type"] == "error" and msg.get("id") is None and "session" in msg:
        return "stream"
    return {"request": "request", "reply": "reply", "error": "reply", "stream": "stream"}[role]


def zmq_layout(msg: dict) -> dict:
    """The exact multipart frames of `msg` on the ZeroMQ binding, as a DEALER/SUB client sees them."""
    socket = _zmq_socket(msg)
    frames = m.to_zmq_frames(msg)
    if socket == "stream":
        frames = [msg["session"].encode("ascii")] + frames
    return {"socket": socket, "frames": [f.hex() for f in frames]}


def write_vectors(root: Path) -> None:
    (root / "vectors" / "zmq").mkdir(parents=True, exist_ok=True)
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    for name, msg in build_vectors().items():
        (root / "vectors" / f"{name}.msgpack").write_bytes(m.encode(msg))
        (root / "vectors" / f"{name}.json").write_text(json.dumps(m.to_json_obj(msg), indent=1) + "\n")
        (root / "vectors" / "zmq" / f"{name}.json").write_text(json.dumps(zmq_layout(msg), indent=1) + "\n")
    for mtype in m.MESSAGES:
        (root / "schemas" / f"{mtype}.schema.json").write_text(json.dumps(m.json_schema(mtype), indent=1) + "\n")
    sync_package_copy(root)


def sync_package_copy(root: Path) -> None:
    """Copy VERSION and the schemas into the package (vasa_bridge/data/protocol) for installs without the repo."""
    if root == PACKAGE_PROTOCOL_DIR:
        return
    (PACKAGE_PROTOCOL_DIR / "schemas").mkdir(parents=True, exist_ok=True)
    (PACKAGE_PROTOCOL_DIR / "VERSION").write_bytes((root / "VERSION").read_bytes())
    for schema in sorted((root / "schemas").glob("*.schema.json")):
        (PACKAGE_PROTOCOL_DIR / "schemas" / schema.name).write_bytes(schema.read_bytes())


def check_vectors(root: Path) -> list[str]:
    """Differences between the files under `root` and what this code produces (empty when they agree)."""
    problems = []
    for name, msg in build_vectors().items():
        want = {f"vectors/{name}.msgpack": m.encode(msg),
                f"vectors/{name}.json": (json.dumps(m.to_json_obj(msg), indent=1) + "\n").encode(),
                f"vectors/zmq/{name}.json": (json.dumps(zmq_layout(msg), indent=1) + "\n").encode()}
        for rel, data in want.items():
            path = root / rel
            if not path.is_file() or path.read_bytes() != data:
                problems.append(rel)
    for mtype in m.MESSAGES:
        rel = f"schemas/{mtype}.schema.json"
        if not (root / rel).is_file() or json.loads((root / rel).read_text()) != m.json_schema(mtype):
            problems.append(rel)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="write protocol/vectors and protocol/schemas")
    parser.add_argument("--check", action="store_true", help="exit 1 when the files differ from the code")
    args = parser.parse_args(argv)
    root = protocol_dir()
    if args.write:
        write_vectors(root)
        print(f"wrote vectors and schemas under {root}")
    problems = check_vectors(root)
    for p in problems:
        print(f"differs: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
