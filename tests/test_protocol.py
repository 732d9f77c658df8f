"""The protocol files (protocol/) agree with the code: version, schemas, golden vectors on both bindings."""

from __future__ import annotations

import json
import re

import msgpack
import numpy as np
import pytest

from vasa_bridge import protocol as m
from vasa_bridge.motion import layout
from vasa_bridge.protocol.vectors import build_vectors, check_vectors
from vasa_bridge.protocol.version import PACKAGE_PROTOCOL_DIR, REPO_PROTOCOL_DIR, protocol_version

ROOT = REPO_PROTOCOL_DIR
VECTOR_NAMES = sorted(p.stem for p in (ROOT / "vectors").glob("*.msgpack"))


def _load(name: str) -> tuple[bytes, dict, dict]:
    raw = (ROOT / "vectors" / f"{name}.msgpack").read_bytes()
    logical = m.from_json_obj(json.loads((ROOT / "vectors" / f"{name}.json").read_text()))
    zmq = json.loads((ROOT / "vectors" / "zmq" / f"{name}.json").read_text())
    return raw, logical, zmq


def test_version_file_code_package_copy_and_vectors_agree():
    text = (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+", text)
    assert protocol_version() == text
    assert (PACKAGE_PROTOCOL_DIR / "VERSION").read_text().strip() == text
    for name in ("hello", "hello_ok"):
        assert msgpack.unpackb((ROOT / "vectors" / f"{name}.msgpack").read_bytes())["protocol"] == text
    assert f"this text describes **{text}**" in (ROOT / "SPEC.md").read_text()
    assert f"## {text}" in (ROOT / "CHANGELOG.md").read_text()


def test_files_match_what_the_code_generates():
    assert check_vectors(ROOT) == [], "run: python -m vasa_bridge.protocol.vectors --write (and bump VERSION)"


def test_package_schema_copy_is_identical():
    for schema in (ROOT / "schemas").glob("*.schema.json"):
        assert (PACKAGE_PROTOCOL_DIR / "schemas" / schema.name).read_bytes() == schema.read_bytes(), schema.name


def test_every_message_type_has_a_vector_and_a_schema():
    types = {msgpack.unpackb((ROOT / "vectors" / f"{n}.msgpack").read_bytes())["type"] for n in VECTOR_NAMES}
    assert types == set(m.MESSAGES)
    assert {p.name.split(".")[0] for p in (ROOT / "schemas").glob("*.schema.json")} == set(m.MESSAGES)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_round_trips(name: str):
    raw, logical, zmq = _load(name)
    decoded = msgpack.unpackb(raw, raw=False)
    assert decoded == logical
    assert m.encode(logical) == raw                       # same key order -> same bytes
    assert m.check_message(decoded) is None
    # ZeroMQ: the listed frames are exactly what the binding produces, and they join back to the same message.
    frames = [bytes.fromhex(h) for h in zmq["frames"]]
    if zmq["socket"] == "stream":
        assert frames[0] == logical["session"].encode("ascii") and len(frames[0]) == 16
        frames = frames[1:]
    assert frames == m.to_zmq_frames(logical)
    assert m.from_zmq_frames(frames, 1 << 20) == logical


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_validates_against_its_schema(name: str):
    jsonschema = pytest.importorskip("jsonschema")
    logical_json = json.loads((ROOT / "vectors" / f"{name}.json").read_text())
    schema = json.loads((ROOT / "schemas" / f"{logical_json['type']}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(logical_json, schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_a_broken_message():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "motion.schema.json").read_text())
    bad = json.loads((ROOT / "vectors" / "motion.json").read_text())
    bad["session"] = "NOT-HEX"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_motion_vectors_decode_to_the_documented_values():
    for name, dtype in (("motion", "<f4"), ("motion_f16_latent", "<f2")):
        msg = msgpack.unpackb((ROOT / "vectors" / f"{name}.msgpack").read_bytes())
        assert msg["synthetic"] is True and msg["channels"] == layout.N_CHANNELS
        frames = np.frombuffer(msg["frames"], dtype).reshape(msg["n"], msg["channels"])  # (n, 60)
        assert frames[-1, layout.channel("jawOpen")] == np.float32(0.5)
        assert np.all(frames[:, layout.channel("headZ")] == np.asarray(0.6, dtype))
        assert np.all(frames[:, layout.channel("headYaw")] == 0.125)
        assert msg["pts_ms"] == msg["seq"] * 1000.0 / 25
    latent = msgpack.unpackb((ROOT / "vectors" / "motion_f16_latent.msgpack").read_bytes())
    assert np.frombuffer(latent["latent"], "<f4").reshape(2, latent["latent_dim"])[1, 3] == 7 / 8


def test_viseme_vectors_decode_to_the_documented_values_and_names():
    from vasa_bridge.interop.presets import VISEME_PRESET, get_preset

    names = msgpack.unpackb((ROOT / "vectors" / "open_ok_visemes.msgpack").read_bytes())["viseme_names"]
    assert names == list(get_preset(VISEME_PRESET).targets)  # what the server sends
    assert ", ".join(f"`{n}`" for n in names) in (ROOT / "SPEC.md").read_text()
    msg = msgpack.unpackb((ROOT / "vectors" / "motion_visemes.msgpack").read_bytes())
    visemes = np.frombuffer(msg["visemes"], "<f4").reshape(msg["n"], len(names))  # (n, 15)
    assert visemes[0, names.index("sil")] == 1.0 and visemes[0].sum() == 1.0
    assert visemes[1, names.index("aa")] == 0.5 and visemes[1, names.index("E")] == 0.125


def test_open_ok_vector_carries_the_motion_layout():
    msg = msgpack.unpackb((ROOT / "vectors" / "open_ok.msgpack").read_bytes())
    assert tuple(msg["channel_names"]) == layout.CHANNEL_NAMES
    assert msg["motion_layout_version"] == layout.MOTION_LAYOUT_VERSION


def test_zmq_payloads_travel_as_trailing_frames_not_inside_the_map():
    _, logical, zmq = _load("audio")
    header = msgpack.unpackb(bytes.fromhex(zmq["frames"][0]))
    assert "audio" not in header and bytes.fromhex(zmq["frames"][1]) == logical["audio"]
    _, logical, zmq = _load("render")
    assert len(zmq["frames"]) == 2 + logical["n"]  # topic, map, one frame per image


def test_zmq_wrong_frame_counts_are_bad_messages():
    audio = build_vectors()["audio"]
    header = m.to_zmq_frames(audio)[0]
    for frames in ([header], [header, b"a", b"b"], [m.encode({"type": "status", "id": 1}), b"x"], []):
        with pytest.raises(m.ProtocolError) as e:
            m.from_zmq_frames(frames, 1 << 20)
        assert e.value.code == "bad_message"
    with pytest.raises(m.ProtocolError) as e:
        m.from_zmq_frames([m.encode(audio), b""], 1 << 20)  # payload both inside the map and trailing
    assert e.value.code == "bad_message"


@pytest.mark.parametrize("data, code", [
    (b"\xc1", "bad_message"),                         # never-used msgpack byte
    (b"\x92\x01", "bad_message"),                     # truncated array
    (msgpack.packb({"type": "hello"}) + b"\x00", "bad_message"),  # trailing bytes
    (b"\xd4\x01\x00", "bad_message"),                 # ext type
    (msgpack.packb({"type": "status", "id": 1, "t": msgpack.Timestamp(0)}), "bad_message"),  # timestamp ext -1
    (b"\x91" * 900 + b"\xc0", "bad_message"),          # a list nested 900 deep: a clear error, no recursion
    (b"\x00" * 2000, "too_large"),
])
def test_decode_errors_are_coded(data: bytes, code: str):
    with pytest.raises(m.ProtocolError) as e:
        m.decode(data, 1000)
    assert e.value.code == code


@pytest.mark.parametrize("msg, code", [
    ([1, 2], "bad_message"),
    ({"id": 1}, "bad_request"),
    ({"type": "launch_missiles", "id": 1}, "unknown_type"),
    ({"type": "motion", "id": 1}, "unknown_type"),    # a stream message is not a request
    ({"type": "hello", "id": 1}, "bad_request"),      # missing protocol
    ({"type": "open", "id": 1, "audio": {"format": "mp3", "sample_rate_hz": 16000}}, "unsupported_audio"),
    ({"type": "open", "id": 1, "audio": {"format": "f32", "sample_rate_hz": "fast"}}, "bad_request"),
    ({"type": "open", "id": 1, "audio": {"format": "f32", "sample_rate_hz": 1}, "outputs": ["x"]},
     "unsupported_output"),
    ({"type": "controls", "id": 1, "session": "0123456789abcdef", "controls": {"emotion": 3}}, "invalid_controls"),
    ({"type": "audio", "id": 1, "session": "abc", "audio": b""}, "bad_request"),
    ({"type": "close", "id": -1, "session": "0123456789abcdef"}, "bad_request"),
    ({"type": "status", "id": 2**32}, "bad_request"),          # ids are 32-bit: answered with id nil
])
def test_invalid_requests_are_coded(msg, code: str):
    with pytest.raises(m.ProtocolError) as e:
        m.validate_request(msg)
    assert e.value.code == code


def test_nesting_limit_and_timestamp_errors_say_what_is_wrong():
    nested: list = [1]
    for _ in range(32):                               # the map is level 1: 33 levels in all
        nested = [nested]
    deep = msgpack.packb({"type": "status", "id": 5, "x": nested})
    with pytest.raises(m.ProtocolError, match="nested deeper than 32") as e:
        m.decode(deep, 1 << 20)
    assert e.value.request_id == 5                    # the error still names the request
    with pytest.raises(m.ProtocolError, match="timestamp"):
        m.decode(msgpack.packb({"type": "status", "id": 1, "t": msgpack.Timestamp(0)}), 1 << 20)
    m.decode(msgpack.packb({"type": "status", "id": 1, "x": [[[[1]]]]}), 1 << 20)   # shallow nesting is fine


def test_an_id_beyond_32_bits_is_a_bad_request_that_says_why():
    with pytest.raises(m.ProtocolError, match="0..4294967295") as e:
        m.validate_request({"type": "status", "id": 2**32})
    assert e.value.code == "bad_request" and e.value.request_id is None


@pytest.mark.parametrize("data, request_id", [
    (m.encode({"type": "audio", "audio": b"\x00" * 100_000, "id": 42}), 42),          # id after a big bin
    (m.encode({"id": 7, "type": "status"})[:-3], 7),                                # truncated after the id
    (m.encode({"type": "open", "audio": {"format": "f32", "sample_rate_hz": 16000}, "x": [1, [2, {"a": None}]],
               "id": 2**32 - 1}), 2**32 - 1),                                       # nested values skipped
    (m.encode({"type": "status", "id": 2**32}), None),                              # not a valid id
    (m.encode({"type": "status", "id": -1}), None),
    (m.encode({"type": "status", "id": "7"}), None),
    (m.encode([1, 2, 3]), None),                                                    # not a map
    (b"\x81\xa2id", None),                                                          # cut inside the id
    (b"\xdf\xff\xff\xff\xff" + b"\xc0" * 600, None),                                 # a huge map of garbage
    (b"", None),
])
def test_peek_id_reads_the_id_from_headers_only(data: bytes, request_id):
    assert m.peek_id(data) == request_id


def test_zmq_too_large_errors_carry_the_id_from_frame_0():
    header = m.encode({"type": "audio", "id": 9, "session": "0123456789abcdef"})
    with pytest.raises(m.ProtocolError) as e:
        m.from_zmq_frames([header, b"\x00" * 5000], 1000)
    assert (e.value.code, e.value.request_id) == ("too_large", 9)


def test_schemas_require_at_least_one_frame_per_batch():
    jsonschema = pytest.importorskip("jsonschema")
    for mtype in ("motion", "render"):
        schema = json.loads((ROOT / "schemas" / f"{mtype}.schema.json").read_text())
        bad = json.loads((ROOT / "vectors" / f"{mtype}.json").read_text())
        bad["n"] = 0
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
    assert m.check_message({**build_vectors()["motion"], "n": 0}) is not None


def test_the_protocol_package_imports_no_server_code():
    import subprocess
    import sys

    code = ("import sys, vasa_bridge.protocol, vasa_bridge.client; "
            "bad = [k for k in sys.modules if k.startswith(('vasa_bridge.transport', 'vasa_bridge.runtime'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_fields_are_tolerated():
    msg = {**build_vectors()["hello"], "x_future_field": [1, 2, 3]}
    assert m.validate_request(msg) is msg


def test_spec_documents_every_error_code_and_message_type():
    spec = (ROOT / "SPEC.md").read_text()
    for code in m.ERROR_CODES:
        assert f"`{code}`" in spec, code
    for mtype in m.MESSAGES:
        assert f"`{mtype}`" in spec, mtype
