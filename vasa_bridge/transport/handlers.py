"""The request handlers: one function per request type, `(core, client, msg) -> reply` (SPEC.md §4).

They validate what the field table cannot (ranges, limits, session state), change the session records, and
queue audio and controls for the motion worker; they never touch backend objects (the worker thread owns them).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Awaitable, Callable

import numpy as np

from vasa_bridge import __version__
from vasa_bridge import protocol as m
from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.resample import StreamingResampler
from vasa_bridge.interop.presets import VISEME_PRESET, get_preset
from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import EMOTIONS
from vasa_bridge.runtime.backend import SessionControls
from vasa_bridge.transport.fairness import MIN_RETRY_AFTER_MS
from vasa_bridge.transport.livelink import SessionLiveLink, check_subject
from vasa_bridge.transport.logs import log_event
from vasa_bridge.transport.state import ClientState, SessionState

if TYPE_CHECKING:
    from vasa_bridge.transport.server import Sidecar

BUSY_AUDIO_RETRY_MS = 200.0
OVERLOADED_RETRY_MS = 5000.0


def _session(client: ClientState, msg: dict) -> SessionState:
    session = client.sessions.get(msg["session"])
    if session is None or session.closed:
        raise m.ProtocolError("unknown_session", f"no session {msg['session']} (closed, reaped, or opened "
                              "before a server restart); open a new one", msg["id"], msg["session"])
    session.last_activity = time.monotonic()
    return session


async def on_hello(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    try:
        major, _ = m.parse_version(msg["protocol"])
    except ValueError:
        raise m.ProtocolError("bad_request", f"protocol must be MAJOR.MINOR, got {msg['protocol']!r}") from None
    ours = m.protocol_version()
    if major != m.parse_version(ours)[0]:
        raise m.ProtocolError("version_mismatch", f"client speaks protocol {msg['protocol']}, server speaks "
                              f"{ours}; use a client of major version {ours.split('.')[0]}")
    token = core.config.token
    if token is not None:
        given = msg.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            client.close_after_reply = "unauthorized: token missing or wrong"
            raise m.ProtocolError("unauthorized", "token missing or wrong; pass the server's token in hello")
    client.hello_done = True
    client.name = str(msg.get("client", ""))[:64]
    log_event("hello", client=client.name, binding=client.key[0], protocol=msg["protocol"])
    c = core.config
    return {"type": "hello_ok", "id": msg["id"], "protocol": ours, "server": f"vasa_bridge {__version__}",
            "instance": core.instance, "synthetic": True, "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
            "fps": float(core.backend.fps), "backend": core.backend.name, "outputs": core.outputs(),
            "audio_formats": list(m.AUDIO_FORMATS), "sample_rate_hz_min": c.sample_rate_hz_min,
            "sample_rate_hz_max": c.sample_rate_hz_max, "emotions": list(EMOTIONS),
            "heartbeat_ms": float(c.heartbeat_ms), "limits": core.limits(),
            **({"render": core.renderer.describe()} if core.renderer is not None else {}),
            **({"livelink": True} if c.livelink_target is not None else {})}


def _check_admission(core: "Sidecar", client: ClientState) -> None:
    c = core.config
    if len(core.sessions) >= c.max_sessions:
        raise m.ProtocolError("session_limit", f"the server has its maximum of {c.max_sessions} sessions",
                              retry_after_ms=OVERLOADED_RETRY_MS)
    if len(client.sessions) >= c.max_sessions_per_client:
        raise m.ProtocolError("session_limit", f"this client has its maximum of {c.max_sessions_per_client} "
                              "sessions; close some")
    predicted = core.worker.predicted_load(len(core.sessions))
    if predicted > c.max_load:
        raise m.ProtocolError("overloaded", f"{len(core.sessions)} sessions in real time need the motion worker "
                              f"{predicted * len(core.sessions) / (len(core.sessions) + 1):.0%} of the time; one "
                              f"more would need {predicted:.0%} (limit {c.max_load:.0%}) and make existing "
                              "sessions late. Retry later or use another server", retry_after_ms=OVERLOADED_RETRY_MS)


async def on_open(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    c = core.config
    if core.closed_to_sessions:
        raise m.ProtocolError("shutting_down", "the server is shutting down")
    outputs = tuple(dict.fromkeys(msg.get("outputs", ["motion"])))
    if "motion" not in outputs:
        raise m.ProtocolError("bad_request", "outputs must include \"motion\" (every session streams motion; "
                              "the other outputs come with it)")
    missing = [o for o in outputs if o not in core.outputs()]
    if missing:
        raise m.ProtocolError("unsupported_output", f"this server cannot produce {', '.join(missing)} "
                              f"(backend {core.backend.name}, "
                              f"{'no renderer: start it with --render' if core.renderer is None else 'renderer on'}"
                              f"); it offers {', '.join(core.outputs())}")
    image_formats = [o[len("frames_"):] for o in outputs if o.startswith("frames_")]
    if len(image_formats) > 1:
        raise m.ProtocolError("bad_request", "ask for frames_jpeg or frames_rgba, not both")
    render_fields = [k for k in ("portrait", "portrait_landmarks", "render") if k in msg]
    if render_fields and not image_formats:
        raise m.ProtocolError("bad_request", f"{', '.join(render_fields)} need output frames_jpeg or frames_rgba")
    livelink_subject = None
    if "livelink" in msg:
        if c.livelink_target is None:
            raise m.ProtocolError("unsupported_output", "this server does not forward to Live Link: start it with "
                                  "`vasa-bridge serve --livelink HOST:PORT` (Unreal's address), or open without "
                                  "livelink and forward the frames yourself (`vasa-bridge stream --livelink`)")
        livelink_subject = check_subject(msg["livelink"]["subject"])
    audio = msg["audio"]
    rate = audio["sample_rate_hz"]
    if not c.sample_rate_hz_min <= rate <= c.sample_rate_hz_max:
        raise m.ProtocolError("unsupported_audio", f"sample_rate_hz must be in [{c.sample_rate_hz_min}, "
                              f"{c.sample_rate_hz_max}], got {rate}")
    if "fps" in msg and abs(float(msg["fps"]) - core.backend.fps) > 1e-6:
        raise m.ProtocolError("unsupported_audio", f"fps must be {core.backend.fps:g}, got {msg['fps']}")
    try:
        controls = SessionControls().updated(msg.get("controls", {}))
    except (ValueError, TypeError) as e:
        raise m.ProtocolError("invalid_controls", str(e)) from None
    _check_admission(core, client)
    seed = msg.get("seed", secrets.randbits(31))
    loop = asyncio.get_running_loop()
    session_render = None
    if image_formats:
        request = core.renderer.check_options(image_formats[0], msg.get("render", {}))
        session_render = await loop.run_in_executor(core.prep_executor, core.renderer.open_session, request,
                                                    msg.get("portrait"), msg.get("portrait_landmarks"))
        if core.closed_to_sessions:
            raise m.ProtocolError("shutting_down", "the server is shutting down")
    stream = await loop.run_in_executor(core.worker.executor, core.backend.new_stream, controls, seed)
    if client.gone:  # the connection dropped while the stream was built: nobody to stream to
        raise m.ProtocolError("shutting_down", "the client disconnected during open")
    livelink = None
    if livelink_subject is not None:
        livelink = SessionLiveLink(c.livelink_target, livelink_subject, core.backend.fps)
        core.livelinks.add(livelink)
    session_id = secrets.token_hex(8)
    while session_id in core.sessions:
        session_id = secrets.token_hex(8)
    resampler = StreamingResampler(rate, MODEL_SAMPLE_RATE_HZ)
    session = SessionState(session_id, client, stream, audio["format"], rate, msg.get("frames_dtype", "f32"),
                      outputs, controls, resampler, render=session_render, livelink=livelink)
    core.sessions[session_id] = session
    client.sessions[session_id] = session
    resample_delay_ms = 0.0 if resampler.passthrough else resampler.delay / resampler.up / rate * 1000.0
    log_event("session_open", session=session_id, client=client.name, binding=client.key[0],
              audio=audio["format"], sample_rate_hz=rate, outputs=list(outputs),
              **({"livelink_subject": livelink.subject} if livelink is not None else {}))
    return {"type": "open_ok", "id": msg["id"], "session": session_id, "fps": float(core.backend.fps),
            "channel_names": list(layout.CHANNEL_NAMES), "motion_layout_version": layout.MOTION_LAYOUT_VERSION,
            "frames_dtype": session.frames_dtype,
            "latent_dim": core.backend.latent_dim if "latent" in outputs else 0, "outputs": list(outputs),
            "audio": {"format": audio["format"], "sample_rate_hz": rate}, "controls": controls.to_dict(),
            "lookahead_ms": float(core.backend.lookahead_ms + resample_delay_ms), "synthetic": True,
            **({"render": session_render.describe()} if session_render is not None else {}),
            **({"viseme_names": list(get_preset(VISEME_PRESET).targets)} if "visemes" in outputs else {}),
            **({"livelink": livelink.describe()} if livelink is not None else {})}


def _take_audio_tokens(core: "Sidecar", client: ClientState, seconds: float, request_id: int,
                       session_id: str) -> None:
    c = core.config
    now = time.monotonic()
    client.bucket_s = min(c.audio_burst_s, client.bucket_s + (now - client.bucket_time) * c.audio_rate_x)
    client.bucket_time = now
    if seconds > c.audio_burst_s:
        raise m.ProtocolError("bad_request", f"a chunk of {seconds:.1f} s exceeds audio_burst_s "
                              f"({c.audio_burst_s:g} s); split it into smaller chunks", request_id, session_id)
    if seconds > client.bucket_s:
        retry_ms = max(MIN_RETRY_AFTER_MS, (seconds - client.bucket_s) / c.audio_rate_x * 1000.0)
        raise m.ProtocolError("rate_limited", f"audio faster than {c.audio_rate_x:g}x real time after a "
                              f"{c.audio_burst_s:g} s burst; chunk dropped, resend it", request_id, session_id,
                              retry_after_ms=round(retry_ms, 3))
    client.bucket_s -= seconds


async def on_audio(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    session = _session(client, msg)
    rid, sid = msg["id"], session.id
    if session.end_requested:
        raise m.ProtocolError("audio_ended", "audio after end_audio; open a new session", rid, sid)
    if core.draining:  # the streams are being flushed: audio now would reach a finished stream (push after flush)
        raise m.ProtocolError("shutting_down", "the server is shutting down; this session ends now", rid, sid)
    data = msg["audio"]
    sample_bytes = m.AUDIO_SAMPLE_BYTES[session.audio_format]
    if len(data) % sample_bytes:
        raise m.ProtocolError("bad_request", f"audio of {len(data)} bytes is not a whole number of "
                              f"{session.audio_format} samples ({sample_bytes} bytes each)", rid, sid)
    if session.audio_format == "pcm16":
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    else:
        samples = np.frombuffer(data, "<f4").astype(np.float32)
        if not np.all(np.isfinite(samples)):
            raise m.ProtocolError("bad_request", "f32 audio contains NaN or infinity", rid, sid)
    if session.pending_samples > core.config.max_buffered_audio_s * session.sample_rate_hz:
        raise m.ProtocolError("busy", f"the session has more than max_buffered_audio_s "
                              f"({core.config.max_buffered_audio_s:g} s) of audio waiting for the motion worker; "
                              "chunk dropped, resend it", rid, sid, retry_after_ms=BUSY_AUDIO_RETRY_MS)
    _take_audio_tokens(core, client, len(samples) / session.sample_rate_hz, rid, sid)
    session.received_samples += len(samples)
    if len(samples):
        session.pending.append(samples)  # resampled in the worker: the event loop only moves bytes
        session.pending_samples += len(samples)
        core.worker.wake.set()
    return {"type": "audio_ok", "id": rid, "session": sid, "received_ms": session.received_ms}


async def on_end_audio(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    session = _session(client, msg)
    if not session.end_requested:
        session.end_requested = True
        core.worker.wake.set()
    return {"type": "end_audio_ok", "id": msg["id"], "session": session.id, "received_ms": session.received_ms}


async def on_controls(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    session = _session(client, msg)
    base = session.pending_controls[-1][0] if session.pending_controls else session.controls
    try:
        controls = base.updated(msg["controls"])
    except (ValueError, TypeError) as e:
        raise m.ProtocolError("invalid_controls", str(e), msg["id"], session.id) from None
    # The reply waits for the worker to apply them, so effective_seq is exact (at most one step's wait).
    future: asyncio.Future = asyncio.get_running_loop().create_future()
    session.pending_controls.append((controls, future))
    core.worker.wake.set()
    effective_seq = await future
    return {"type": "controls_ok", "id": msg["id"], "session": session.id, "controls": controls.to_dict(),
            "effective_seq": effective_seq}


async def on_close(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    session = _session(client, msg)
    core.close_session(session, reason="closed")
    return {"type": "close_ok", "id": msg["id"], "session": session.id, "frames_total": session.next_seq}


async def on_status(core: "Sidecar", client: ClientState, msg: dict) -> dict:
    steps = np.array(core.worker.step_ms) if core.worker.step_ms else np.zeros(1)
    return {"type": "status_ok", "id": msg["id"], "instance": core.instance, "sessions": len(core.sessions),
            "max_sessions": core.config.max_sessions, "clients": len(core.clients), "load": core.worker.load(),
            "step_ms_p50": float(np.percentile(steps, 50)), "step_ms_p95": float(np.percentile(steps, 95)),
            "frames_total": core.frames_total, "uptime_s": time.monotonic() - core.started}


HANDLERS: dict[str, Callable[["Sidecar", ClientState, dict], Awaitable[dict]]] = {
    "hello": on_hello, "open": on_open, "audio": on_audio, "end_audio": on_end_audio, "controls": on_controls,
    "close": on_close, "status": on_status,
}
