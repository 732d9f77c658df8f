"""Logical messages of the motion-stream protocol (protocol/SPEC.md): error codes, the field table, validation.

One table (`MESSAGES`) says which fields each message type has. It drives request validation in the server,
the JSON schemas in protocol/schemas/ (`schema.json_schema`, checked against the files by a test) and the
golden vectors. A logical message is a plain dict; `codec` turns it into one msgpack map (WebSocket binding),
`framing` into a msgpack map plus trailing binary frames (ZeroMQ binding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vasa_bridge.motion.controls import EMOTIONS
from vasa_bridge.render.marking import MARK_POSITIONS

# ---- error codes (SPEC.md §7) ---------------------------------------------------------------------------------
ERROR_CODES: tuple[str, ...] = (
    "bad_message",         # not decodable: not msgpack, not a map, wrong frame count, text on the WebSocket
    "bad_request",         # decodable, but a field is missing, of the wrong type or out of range
    "unknown_type",        # `type` names no request of this protocol version
    "too_large",           # the message exceeds limits.max_message_bytes
    "version_mismatch",    # hello asked for a protocol major version the server does not speak
    "hello_required",      # a request other than hello before a successful hello (or after a server restart)
    "unauthorized",        # token missing or wrong
    "unknown_session",     # no such session (never opened, closed, reaped, or opened on a previous server run)
    "session_limit",       # too many sessions (server-wide or for this client)
    "rate_limited",        # audio pushed faster than limits.audio_rate_x allows after the burst
    "unsupported_output",  # an output kind this server cannot produce (e.g. frames_jpeg with no renderer)
    "unsupported_audio",   # audio format, sample rate or fps the server does not accept
    "audio_ended",         # audio after end_audio
    "invalid_controls",    # a control value out of range or an unknown emotion
    "invalid_portrait",    # open's portrait: not an image, too many pixels, no face found, bad landmarks (1.1)
    "busy",                # the server is over its queue bounds; retry after retry_after_ms
    "overloaded",          # open: one more session would make the existing ones late; retry later (1.2)
    "shutting_down",       # the server is draining and accepts no new work
    "internal",            # a bug or backend failure; the session involved is ended
)

SESSION_ID_RE = re.compile(r"^[0-9a-f]{16}$")
AUDIO_FORMATS: tuple[str, ...] = ("pcm16", "f32")
AUDIO_SAMPLE_BYTES: dict[str, int] = {"pcm16": 2, "f32": 4}
FRAME_DTYPES: tuple[str, ...] = ("f32", "f16")
FRAME_DTYPE_BYTES: dict[str, int] = {"f32": 4, "f16": 2}
OUTPUT_KINDS: tuple[str, ...] = ("motion", "latent", "frames_jpeg", "frames_rgba", "visemes")
END_REASONS: tuple[str, ...] = ("end_of_audio", "closed", "idle", "shutdown", "error")
IMAGE_FORMATS: tuple[str, ...] = ("jpeg", "rgba")
MAX_ID = 2**32 - 1


class ProtocolError(Exception):
    """A request the server answers with an `error` message (code from ERROR_CODES)."""

    def __init__(self, code: str, message: str, request_id: int | None = None, session: str | None = None,
                 retry_after_ms: float | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.request_id, self.session = code, message, request_id, session
        self.retry_after_ms = retry_after_ms

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "error", "id": self.request_id, "code": self.code, "message": self.message}
        if self.session is not None:
            msg["session"] = self.session
        if self.retry_after_ms is not None:
            msg["retry_after_ms"] = float(self.retry_after_ms)
        return msg


# ---- the field table -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    kind: str                     # str | uint | count (uint >= 1) | id | float | bool | bin | bin_list | str_list |
    #                               uint_list | session | enum | nullable_float | nullable_id | enum_list | map
    required: bool = True
    choices: tuple[str, ...] = ()  # for enum / enum_list
    sub: tuple["Field", ...] = ()  # for map: the fields of the nested map
    doc: str = ""


def _f(name: str, kind: str, doc: str = "", *, required: bool = True, choices: tuple[str, ...] = (),
       sub: tuple[Field, ...] = ()) -> Field:
    return Field(name, kind, required, choices, sub, doc)


def _controls_fields(required: bool) -> tuple[Field, ...]:
    return (
        _f("emotion", "enum", "one of the server's emotions", required=required, choices=EMOTIONS),
        _f("emotion_intensity", "float", "0 = neutral face, 1 = full expression", required=required),
        _f("gaze_yaw_rad", "nullable_float", "gaze target yaw, radians, |x| <= 0.6; nil = free gaze",
           required=required),
        _f("gaze_pitch_rad", "nullable_float", "gaze target pitch, radians, |x| <= 0.6; nil = free gaze",
           required=required),
        _f("head_distance_m", "float", "head distance from the camera, metres, 0.3..1.5", required=required),
        _f("guidance_scale", "float", "classifier-free guidance scale, 0..10 (the diffusion backend uses it)",
           required=required),
    )


CONTROLS_PARTIAL = _controls_fields(required=False)
CONTROLS_FULL = _controls_fields(required=True)
AUDIO_SPEC = (
    _f("format", "enum", "sample encoding, little-endian, mono", choices=AUDIO_FORMATS),
    _f("sample_rate_hz", "uint", "declared sample rate; the server resamples to its model rate"),
)
_ID = _f("id", "id", "request id chosen by the client, 0..2^32-1, echoed in the reply")
_SESSION = _f("session", "session", "session id: 16 lowercase hex digits")
_SYNTHETIC = _f("synthetic", "bool", "always true: the output is machine-generated")
LIMITS = (
    _f("max_message_bytes", "uint", "largest message accepted (whole msgpack map, or all ZeroMQ frames)"),
    _f("max_sessions", "uint", "sessions open at once, server-wide"),
    _f("max_sessions_per_client", "uint", "sessions open at once per connection / ZeroMQ identity"),
    _f("audio_rate_x", "float", "sustained audio rate per client, in multiples of real time"),
    _f("audio_burst_s", "float", "audio a client may push at once beyond the sustained rate, seconds"),
    _f("idle_timeout_s", "float", "a session with no request for this long is ended (reason idle)"),
    _f("max_buffered_audio_s", "float", "per session, audio received but not yet processed; beyond it audio gets "
                                        "busy (1.2)", required=False),
    _f("max_queued_requests", "uint", "per client, requests received but not yet handled; beyond it busy (1.2)",
       required=False),
    _f("max_queued_bytes", "uint", "per client, the same in bytes (1.2)", required=False),
    _f("request_rate_per_s", "float", "per client, requests of any kind per second, sustained; beyond it "
                                      "rate_limited (1.2)", required=False),
    _f("request_burst", "uint", "per client, requests beyond the sustained rate at once (1.2)", required=False),
)
RENDER_INFO = (
    _f("sizes", "uint_list", "render sizes offered (square, pixels), e.g. [256, 512]"),
    _f("formats", "enum_list", "image encodings offered", choices=IMAGE_FORMATS),
    _f("default_size", "uint", "size used when open.render.size is absent"),
    _f("jpeg_quality", "uint", "JPEG quality used when open.render.jpeg_quality is absent (1..95)"),
    _f("default_portrait", "bool", "true: open without a portrait renders the server's demo portrait"),
    _f("max_portrait_pixels", "uint", "largest portrait accepted, width x height (decoded)"),
    _f("mark_positions", "enum_list", "corners the visible synthetic mark may sit in (it cannot be removed)",
       choices=MARK_POSITIONS),
)
RENDER_OPTIONS = (
    _f("size", "uint", "square render size, one of hello_ok.render.sizes", required=False),
    _f("jpeg_quality", "uint", "1..95, for frames_jpeg", required=False),
    _f("mark_position", "enum", "corner of the visible synthetic mark; default bottom-right", required=False,
       choices=MARK_POSITIONS),
)
RENDER_SESSION = (
    _f("format", "enum", "image encoding of this session's render batches", choices=IMAGE_FORMATS),
    _f("width", "uint", "pixels"),
    _f("height", "uint", "pixels"),
    _f("jpeg_quality", "uint", "JPEG quality; 0 for rgba"),
    _f("mark_position", "enum", "corner of the visible synthetic mark", choices=MARK_POSITIONS),
    _f("portrait", "str", "what is rendered: \"uploaded\" or the server's default portrait's name"),
    _f("notes", "str_list", "warnings about the portrait worth showing the user: several faces, a face cut by the "
                            "photo's edge, a frame partly filled; empty when none (1.3)", required=False),
)
LIVELINK_OPTIONS = (
    _f("subject", "str", "Live Link subject name Unreal lists, 1..255 UTF-8 bytes; one per session"),
)
LIVELINK_SESSION = (
    _f("subject", "str", "the Live Link subject name this session's packets carry"),
    _f("fps", "float", "packet rate (60: the motion is resampled and paced in real time)"),
)

# type -> (role, fields). role: request | reply | stream | error
MESSAGES: dict[str, tuple[str, tuple[Field, ...]]] = {
    "hello": ("request", (
        _f("type", "str"), _ID,
        _f("protocol", "str", "protocol version the client speaks, MAJOR.MINOR"),
        _f("client", "str", "client name/version, for logs", required=False),
        _f("token", "str", "access token, when the server requires one", required=False),
    )),
    "hello_ok": ("reply", (
        _f("type", "str"), _ID,
        _f("protocol", "str", "protocol version the server speaks, MAJOR.MINOR"),
        _f("server", "str", "server name and version"),
        _f("instance", "session", "random id of this server run: a change means the server restarted"),
        _SYNTHETIC,
        _f("motion_layout_version", "uint", "version of the 60-channel frame layout"),
        _f("fps", "float", "motion frame rate"),
        _f("backend", "str", "motion backend name"),
        _f("outputs", "enum_list", "output kinds this server can produce", choices=OUTPUT_KINDS),
        _f("audio_formats", "enum_list", "accepted audio encodings", choices=AUDIO_FORMATS),
        _f("sample_rate_hz_min", "uint", "lowest accepted audio sample rate"),
        _f("sample_rate_hz_max", "uint", "highest accepted audio sample rate"),
        _f("emotions", "str_list", "accepted values of controls.emotion"),
        _f("heartbeat_ms", "float", "a session with no other stream message for this long gets a heartbeat"),
        _f("limits", "map", "limits that apply to this client", sub=LIMITS),
        _f("render", "map", "the renderer's options; present only when outputs offer frames_jpeg / frames_rgba "
                            "(1.1)", required=False, sub=RENDER_INFO),
        _f("livelink", "bool", "true: sessions may ask for Live Link forwarding (open.livelink) (1.3)",
           required=False),
    )),
    "assign": ("reply", (
        _f("type", "str"), _ID,
        _f("protocol", "str", "protocol version the directory speaks, MAJOR.MINOR"),
        _f("zmq", "str", "the replica's request endpoint: connect a new DEALER there and send hello again"),
        _f("zmq_stream", "str", "the replica's stream endpoint (SUB)"),
        _f("replica", "str", "the replica's name, for logs"),
        _f("instance", "session", "the replica's hello_ok.instance, to check the hello that follows"),
    )),
    "open": ("request", (
        _f("type", "str"), _ID,
        _f("audio", "map", "how the client will send audio", sub=AUDIO_SPEC),
        _f("outputs", "enum_list", "outputs wanted; default [\"motion\"]", required=False, choices=OUTPUT_KINDS),
        _f("fps", "float", "motion frame rate wanted; must equal hello_ok.fps", required=False),
        _f("frames_dtype", "enum", "encoding of motion frames; default f32", required=False,
           choices=FRAME_DTYPES),
        _f("controls", "map", "initial controls; missing keys take defaults", required=False,
           sub=CONTROLS_PARTIAL),
        _f("seed", "uint", "seed of the stochastic backend; default random", required=False),
        _f("portrait", "bin", "image file (JPEG, PNG, WebP, ...) of the face to render, with frames_jpeg / "
                              "frames_rgba (ZeroMQ: trailing frame 1) (1.1)", required=False),
        _f("portrait_landmarks", "map", "landmarks of the portrait's face in its pixels, for faces the detector "
                                        "misses: {points: 468 [x, y(, z)]} or {keypoints: {...}} (1.1)",
           required=False),
        _f("render", "map", "render options, with frames_jpeg / frames_rgba (1.1)", required=False,
           sub=RENDER_OPTIONS),
        _f("livelink", "map", "forward the motion to Unreal as Live Link Face UDP packets, to the address the "
                              "server was started with (1.3)", required=False, sub=LIVELINK_OPTIONS),
    )),
    "open_ok": ("reply", (
        _f("type", "str"), _ID, _SESSION,
        _f("fps", "float", "motion frame rate of this session"),
        _f("channel_names", "str_list", "names of the frame channels, in order (the motion layout)"),
        _f("motion_layout_version", "uint", "version of the frame layout"),
        _f("frames_dtype", "enum", "encoding of motion frames", choices=FRAME_DTYPES),
        _f("latent_dim", "uint", "width of latent vectors; 0 when latent was not asked for"),
        _f("outputs", "enum_list", "outputs this session will stream", choices=OUTPUT_KINDS),
        _f("audio", "map", "the audio format accepted", sub=AUDIO_SPEC),
        _f("controls", "map", "controls in effect", sub=CONTROLS_FULL),
        _f("lookahead_ms", "float", "audio the backend needs past a frame before it can emit that frame"),
        _SYNTHETIC,
        _f("viseme_names", "str_list", "names of the viseme weights in motion batches, in order (the 15 "
                                       "Oculus visemes); present only with output visemes (1.3)", required=False),
        _f("render", "map", "what render batches will carry; present only with frames_jpeg / frames_rgba (1.1)",
           required=False, sub=RENDER_SESSION),
        _f("livelink", "map", "the Live Link forwarding; present only when open asked for it (1.3)",
           required=False, sub=LIVELINK_SESSION),
    )),
    "audio": ("request", (
        _f("type", "str"), _ID, _SESSION,
        _f("audio", "bin", "samples, little-endian, in the session's format (ZeroMQ: trailing frame 1)"),
    )),
    "audio_ok": ("reply", (
        _f("type", "str"), _ID, _SESSION,
        _f("received_ms", "float", "audio received so far on this session, ms of the audio clock"),
    )),
    "end_audio": ("request", (_f("type", "str"), _ID, _SESSION)),
    "end_audio_ok": ("reply", (
        _f("type", "str"), _ID, _SESSION,
        _f("received_ms", "float", "total audio received, ms"),
    )),
    "controls": ("request", (
        _f("type", "str"), _ID, _SESSION,
        _f("controls", "map", "controls to change; missing keys keep their value", sub=CONTROLS_PARTIAL),
    )),
    "controls_ok": ("reply", (
        _f("type", "str"), _ID, _SESSION,
        _f("controls", "map", "controls now in effect", sub=CONTROLS_FULL),
        _f("effective_seq", "uint", "first frame produced with these controls"),
    )),
    "close": ("request", (_f("type", "str"), _ID, _SESSION)),
    "close_ok": ("reply", (
        _f("type", "str"), _ID, _SESSION,
        _f("frames_total", "uint", "motion frames produced by the session"),
    )),
    "status": ("request", (_f("type", "str"), _ID)),
    "status_ok": ("reply", (
        _f("type", "str"), _ID,
        _f("instance", "session", "random id of this server run"),
        _f("sessions", "uint", "sessions open now"),
        _f("max_sessions", "uint", "server-wide session limit"),
        _f("clients", "uint", "clients (connections / ZeroMQ identities) known now"),
        _f("load", "float", "fraction of the last 10 s the motion worker was busy (1.0 = saturated)"),
        _f("step_ms_p50", "float", "median wall time of one batched motion step, ms"),
        _f("step_ms_p95", "float", "95th percentile wall time of one batched motion step, ms"),
        _f("frames_total", "uint", "motion frames produced since start"),
        _f("uptime_s", "float", "seconds since the server started"),
        _f("replicas", "uint", "a cluster directory: replicas live now (posted within 1 s) (1.4)", required=False),
        _f("replicas_silent", "uint", "a cluster directory: replicas silent for over 1 s: lost, not yet replaced "
                                      "(1.4)", required=False),
    )),
    "error": ("error", (
        _f("type", "str"),
        _f("id", "nullable_id", "id of the request this answers; nil when none (undecodable message, or an "
                                "asynchronous session error on the stream)"),
        _f("code", "enum", "machine-readable error code", choices=ERROR_CODES),
        _f("message", "str", "human-readable explanation"),
        _f("session", "session", "the session concerned, when there is one", required=False),
        _f("retry_after_ms", "float", "for rate_limited / busy: when to retry", required=False),
    )),
    "motion": ("stream", (
        _f("type", "str"), _SESSION,
        _f("seq", "uint", "index of the first frame of the batch in the session (0, n0, n0+n1, ...)"),
        _f("n", "count", "frames in the batch, at least 1"),
        _f("pts_ms", "float", "presentation time of the first frame on the session's audio clock, ms"),
        _f("channels", "uint", "values per frame (60 for motion layout 1)"),
        _f("dtype", "enum", "encoding of `frames`", choices=FRAME_DTYPES),
        _f("frames", "bin", "n x channels values, row-major, little-endian"),
        _f("latent_dim", "uint", "width of the latent vectors (only with output latent)", required=False),
        _f("latent", "bin", "n x latent_dim float32 little-endian (only with output latent)", required=False),
        _f("visemes", "bin", "n x len(open_ok.viseme_names) float32 little-endian, row-major (only with output "
                             "visemes) (1.3)", required=False),
        _SYNTHETIC,
    )),
    "render": ("stream", (
        _f("type", "str"), _SESSION,
        _f("seq", "uint", "index of the first frame (same numbering as motion)"),
        _f("n", "count", "images in the batch, at least 1"),
        _f("pts_ms", "float", "presentation time of the first image, ms"),
        _f("format", "enum", "image encoding", choices=IMAGE_FORMATS),
        _f("width", "uint", "pixels"),
        _f("height", "uint", "pixels"),
        _f("images", "bin_list", "n images (ZeroMQ: trailing frames 1..n)"),
        _SYNTHETIC,
    )),
    "end": ("stream", (
        _f("type", "str"), _SESSION,
        _f("reason", "enum", "why the stream ended", choices=END_REASONS),
        _f("frames_total", "uint", "motion frames the session produced (seq of the last frame + 1)"),
        _f("duration_ms", "float", "audio received, ms"),
        _f("code", "enum", "error code when reason is error", required=False, choices=ERROR_CODES),
    )),
    "heartbeat": ("stream", (
        _f("type", "str"), _SESSION,
        _f("next_seq", "uint", "seq of the next frame the session will produce"),
        _f("received_ms", "float", "audio received so far, ms"),
        _f("server_time_ms", "float", "server wall clock, ms since the Unix epoch"),
    )),
}

REQUEST_TYPES = tuple(t for t, (role, _) in MESSAGES.items() if role == "request")
# Binary payloads that the ZeroMQ binding moves out of the map into trailing frames (SPEC.md §8.3).
ZMQ_PAYLOAD_FIELDS: dict[str, str] = {"audio": "audio", "render": "images", "open": "portrait"}


# ---- validation ------------------------------------------------------------------------------------------------
def _kind_ok(field: Field, value: Any) -> bool:
    k = field.kind
    if k == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if k == "str":
        return isinstance(value, str)
    if k in ("uint", "id"):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0 and (
            k == "uint" or value <= MAX_ID)
    if k == "nullable_id":
        return value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID)
    if k == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
    if k == "nullable_float":
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value)
    if k == "bool":
        return isinstance(value, bool)
    if k == "bin":
        return isinstance(value, bytes)
    if k == "bin_list":
        return isinstance(value, list) and all(isinstance(v, bytes) for v in value)
    if k == "str_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if k == "uint_list":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                               for v in value)
    if k == "session":
        return isinstance(value, str) and SESSION_ID_RE.match(value) is not None
    if k == "enum":
        return isinstance(value, str) and value in field.choices
    if k == "enum_list":
        return isinstance(value, list) and all(isinstance(v, str) and v in field.choices for v in value)
    if k == "map":
        return isinstance(value, dict)
    raise AssertionError(f"unknown field kind {k}")


_KIND_TEXT = {"id": f"an integer 0..{MAX_ID} (ids are 32-bit unsigned)", "uint": "an integer >= 0",
              "count": "an integer >= 1"}


def _check_fields(fields: tuple[Field, ...], msg: dict, where: str) -> str | None:
    """First problem with `msg` as a map of `fields`, or None. Unknown keys are tolerated (SPEC §3)."""
    for field in fields:
        if field.name not in msg:
            if field.required:
                return f"{where}missing field {field.name!r}"
            continue
        value = msg[field.name]
        if not _kind_ok(field, value):
            expected = _KIND_TEXT.get(field.kind, field.kind)
            if field.choices:
                expected += f" in {list(field.choices)}"
            return f"{where}field {field.name!r} must be {expected}, got {_describe(value)}"
        if field.kind == "map":
            problem = _check_fields(field.sub, value, f"{where}{field.name}.")
            if problem:
                return problem
    return None


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def check_message(msg: Any) -> str | None:
    """None when `msg` is a valid logical message of any type, else what is wrong with it."""
    if not isinstance(msg, dict):
        return f"a message must be a map, got {type(msg).__name__}"
    mtype = msg.get("type")
    if not isinstance(mtype, str) or mtype not in MESSAGES:
        return f"unknown message type {mtype!r}"
    return _check_fields(MESSAGES[mtype][1], msg, "")


def validate_request(msg: Any) -> dict:
    """The request, or ProtocolError(bad_message / unknown_type / bad_request) naming what is wrong."""
    if not isinstance(msg, dict):
        raise ProtocolError("bad_message", f"a message must be a msgpack map, got {type(msg).__name__}")
    raw_id = msg.get("id")
    request_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) and 0 <= raw_id <= MAX_ID \
        else None
    mtype = msg.get("type")
    if not isinstance(mtype, str):
        raise ProtocolError("bad_request", "missing string field 'type'", request_id)
    if mtype not in MESSAGES or MESSAGES[mtype][0] != "request":
        raise ProtocolError("unknown_type", f"unknown request type {mtype[:40]!r}; requests are "
                            f"{', '.join(REQUEST_TYPES)}", request_id)
    problem = _check_fields(MESSAGES[mtype][1], msg, "")
    if problem:
        session = msg.get("session") if isinstance(msg.get("session"), str) and SESSION_ID_RE.match(
            msg["session"]) else None
        # The spec's more specific codes: a bad value inside a controls map is invalid_controls; an output kind
        # or audio format this version does not know is unsupported (a newer client may ask for one).
        code = "bad_request"
        if "controls." in problem:
            code = "invalid_controls"
        elif mtype == "open" and problem.startswith("field 'outputs'") and isinstance(msg.get("outputs"), list) \
                and all(isinstance(o, str) for o in msg["outputs"]):
            code = "unsupported_output"
        elif mtype == "open" and problem.startswith("audio.field 'format'") and isinstance(
                msg["audio"].get("format"), str):
            code = "unsupported_audio"
        raise ProtocolError(code, f"{mtype}: {problem}", request_id, session)
    return msg
