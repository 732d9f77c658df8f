"""The sidecar core: clients, sessions, request dispatch, streams, reaping and draining (protocol/SPEC.md).

Layout of one server process (one asyncio loop + one worker thread):

    ZeroMQ binding (zmq_binding.py) ──┐                 per-client request queues, served round-robin
    WebSocket binding (ws_binding.py) ┴─► Sidecar.submit ──► handlers.py (validate, limits, session state)
                                              │ audio queued per session
                                              ▼
                        worker.py: motion worker thread: resample + backend.step(all sessions with new audio),
                        one batched call per round ──► frames published on each session's stream

Bindings turn wire messages into logical ones and back and keep their own state (ZeroMQ subscriptions, WebSocket
send queues); everything about sessions lives here, so both bindings behave identically. config.py holds the
settings and security policy, fairness.py the per-client bounds, logs.py the structured log.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from vasa_bridge import protocol as m
from vasa_bridge.interop.presets import VISEME_PRESET, get_preset
from vasa_bridge.motion import layout
from vasa_bridge.runtime.backend import MotionBackend, MotionChunk, default_backend
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.fairness import RequestGate
from vasa_bridge.transport.handlers import HANDLERS
from vasa_bridge.transport.logs import LogLimiter, log, log_event
from vasa_bridge.transport.state import Binding, ClientState, SessionState
from vasa_bridge.transport.worker import MotionWorker

if TYPE_CHECKING:
    from vasa_bridge.transport.livelink import SessionLiveLink
    from vasa_bridge.transport.rendering import RenderService

# ZeroMQ has no disconnect event: a peer identity with no sessions and no request for this long is forgotten
# (its next request gets hello_required), so reconnecting clients cannot grow the client table without bound.
ZMQ_CLIENT_FORGET_S = 600.0
MAX_CLIENTS = 4096


class Sidecar:
    """Protocol logic shared by both bindings."""

    def __init__(self, config: ServerConfig, backend: MotionBackend | None = None,
                 renderer: "RenderService | None" = None) -> None:
        config.check_security()
        self.config = config
        self.backend = backend or default_backend()
        self.renderer = renderer
        self.instance = secrets.token_hex(8)
        self.started = time.monotonic()
        self.clients: dict[tuple, ClientState] = {}
        self.sessions: dict[str, SessionState] = {}
        self.accepting_sessions = True  # cluster/replica.py clears it to drain without cutting live sessions
        self.frames_total = 0
        self.gate = RequestGate(config)
        self.worker = MotionWorker(self.backend, lambda: list(self.sessions.values()))
        # Portrait prep (face detection + mesh, ~0.1-0.5 s) must not stall the motion worker.
        self.prep_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vasa-portrait")
        self._tasks: list[asyncio.Task] = []
        self._serving: set[asyncio.Task] = set()
        self._error_log = LogLimiter("request_errors")
        # Every session's Live Link output while its packets go out (they may outlive the session, §4.2).
        self.livelinks: "weakref.WeakSet[SessionLiveLink]" = weakref.WeakSet()

    @property
    def draining(self) -> bool:
        return self.worker.draining

    @property
    def closed_to_sessions(self) -> bool:
        """`open` gets shutting_down: the server is stopping, or (a cluster replica being scaled down) it lets its
        live sessions finish but takes no new ones."""
        return self.worker.draining or not self.accepting_sessions

    # ---- capabilities ------------------------------------------------------------------------------------------
    def outputs(self) -> list[str]:
        out = ["motion"]
        if self.backend.latent_dim > 0:
            out.append("latent")
        out.append("visemes")  # computed from the blendshapes: every server can
        if self.renderer is not None:
            out += self.renderer.outputs()
        return out

    def limits(self) -> dict:
        """hello_ok.limits: every bound that can refuse a request (SPEC §10)."""
        c = self.config
        return {"max_message_bytes": c.max_message_bytes, "max_sessions": c.max_sessions,
                "max_sessions_per_client": c.max_sessions_per_client, "audio_rate_x": float(c.audio_rate_x),
                "audio_burst_s": float(c.audio_burst_s), "idle_timeout_s": float(c.idle_timeout_s),
                "max_buffered_audio_s": float(c.max_buffered_audio_s),
                "max_queued_requests": c.max_queued_requests, "max_queued_bytes": c.max_queued_bytes,
                "request_rate_per_s": float(c.request_rate_per_s), "request_burst": c.request_burst}

    # ---- clients -----------------------------------------------------------------------------------------------
    def client_for(self, key: tuple, binding: Binding) -> ClientState:
        client = self.clients.get(key)
        if client is None:
            if len(self.clients) >= MAX_CLIENTS:  # bound the table: forget the longest-idle client without sessions
                idle = [c for c in self.clients.values() if not c.sessions and c.key[0] == "zmq"]
                if idle:
                    self.clients.pop(min(idle, key=lambda c: c.last_seen).key, None)
            client = ClientState(key, binding, bucket_s=self.config.audio_burst_s, bucket_time=time.monotonic(),
                                 queue=self.gate.new_queue())
            self.clients[key] = client
        client.last_seen = time.monotonic()
        return client

    def client_gone(self, client: ClientState) -> None:
        """The connection dropped (WebSocket) or was cut (a flooder): end its sessions without telling it."""
        if client.gone:
            return
        client.gone = True
        client.queue.items.clear()
        client.queue.queued_bytes = 0
        for session in list(client.sessions.values()):
            self.close_session(session, reason="closed", notify=False)
        self.clients.pop(client.key, None)
        log_event("client_gone", client=client.name or str(client.key[0]))

    # ---- requests ----------------------------------------------------------------------------------------------
    def submit(self, client: ClientState, decode: Callable[[], Any], wire_bytes: int,
               peek_id: Callable[[], int | None]) -> None:
        """A request as a binding received it: queued for the client's serving task, or refused at once.
        `decode()` gives the logical message (or raises ProtocolError); `peek_id()` its id, read cheaply, for a
        refusal. Every request gets exactly one reply, in the client's order except for refusals (SPEC §3)."""
        if client.gone:
            return
        queue = client.queue
        refusal = self.gate.check(queue, wire_bytes, None)
        if refusal is not None:
            refusal.request_id = peek_id()
            client.binding.send_reply(client, refusal.to_message())
            if self.gate.note_refusal(queue):
                log_event("client_flooding", logging.WARNING, client=client.name or str(client.key[0]),
                          refusals=len(queue.refusals))
                client.binding.disconnect(client, f"flooding: {len(queue.refusals)} requests refused within "
                                          f"{self.config.flood_window_s:g} s")
            return
        queue.push(decode, wire_bytes)
        if not queue.serving:
            queue.serving = True
            task = asyncio.create_task(self._serve(client))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _serve(self, client: ClientState) -> None:
        """Work through one client's queue in order. Each request ends with a yield to the event loop, so the
        serving tasks of all clients (and the bindings' readers) take turns: round-robin between clients."""
        queue = client.queue
        try:
            while queue.items and not client.gone:
                decode = queue.pop()
                reply = await self.handle_wire(client, decode)
                if not client.gone:
                    client.binding.send_reply(client, reply)
                await asyncio.sleep(0)
        finally:
            queue.serving = False

    async def handle_wire(self, client: ClientState, decode: Callable[[], Any]) -> dict:
        """The reply to one request as a binding received it (decode errors answered as such)."""
        try:
            msg = decode()
        except m.ProtocolError as e:
            return e.to_message()
        return await self.handle(client, msg)

    async def handle(self, client: ClientState, msg: Any) -> dict:
        """The reply (or error message) to one decoded request."""
        request_id = None
        try:
            msg = m.validate_request(msg)
            request_id = msg["id"]
            mtype = msg["type"]
            if mtype != "hello" and not client.hello_done:
                raise m.ProtocolError("hello_required", "send hello first (after connecting, or after the server "
                                      "restarted)", request_id)
            return await HANDLERS[mtype](self, client, msg)
        except m.ProtocolError as e:
            if e.request_id is None and request_id is not None:
                e.request_id = request_id
            if self._error_log.allow():
                log_event("request_error", logging.WARNING, code=e.code, detail=e.message[:200],
                          client=client.name or str(client.key[0]))
            return e.to_message()
        except Exception as e:  # a bug: answer, log, keep serving
            log.exception("internal_error")
            return m.ProtocolError("internal", f"{type(e).__name__}: {e}"[:200], request_id).to_message()

    # ---- sessions ----------------------------------------------------------------------------------------------
    def send_stream(self, session: SessionState, msg: dict) -> None:
        if session.stream_ended:
            return
        session.stream_ended = msg["type"] == "end"
        session.last_stream_sent = time.monotonic()
        if not session.client.gone:
            session.client.binding.send_stream(session.client, session, msg)

    def close_session(self, session: SessionState, reason: str, notify: bool = True, code: str | None = None) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        session.client.sessions.pop(session.id, None)
        for _, future in session.pending_controls:
            if not future.done():
                future.set_exception(m.ProtocolError("unknown_session", "the session ended before the controls "
                                                     "applied", None, session.id))
        session.pending_controls.clear()
        session.pending.clear()
        if session.livelink is not None:
            session.livelink.session_closed()
        if notify:
            end = {"type": "end", "session": session.id, "reason": reason, "frames_total": session.next_seq,
                   "duration_ms": session.received_ms}
            if code is not None:
                end["code"] = code
            self.send_stream(session, end)
        session.client.binding.on_session_closed(session)
        log_event("session_end", session=session.id, reason=reason, frames_total=session.next_seq,
                  duration_ms=round(session.received_ms, 1))

    def _publish_chunk(self, session: SessionState, chunk: MotionChunk, images: list[bytes] | None) -> None:
        n = len(chunk.frames)
        if n == 0 or session.closed:
            return
        dtype = "<f4" if session.frames_dtype == "f32" else "<f2"
        msg = {"type": "motion", "session": session.id, "seq": session.next_seq, "n": n,
               "pts_ms": session.next_seq * 1000.0 / self.backend.fps, "channels": layout.N_CHANNELS,
               "dtype": session.frames_dtype, "frames": np.ascontiguousarray(chunk.frames, dtype).tobytes()}
        if "latent" in session.outputs and chunk.latent is not None:
            msg["latent_dim"] = int(chunk.latent.shape[1])
            msg["latent"] = np.ascontiguousarray(chunk.latent, "<f4").tobytes()
        if "visemes" in session.outputs:
            weights = get_preset(VISEME_PRESET).apply(chunk.frames[:, :layout.N_BLENDSHAPES])  # (n, 15)
            msg["visemes"] = np.ascontiguousarray(weights, "<f4").tobytes()
        msg["synthetic"] = True
        self.send_stream(session, msg)
        if session.render is not None and images:
            r = session.render
            self.send_stream(session, {"type": "render", "session": session.id, "seq": session.next_seq, "n": n,
                                       "pts_ms": msg["pts_ms"], "format": r.format, "width": r.width,
                                       "height": r.height, "images": images, "synthetic": True})
        session.next_seq += n
        self.frames_total += n

    def _session_failed(self, session: SessionState, error: str) -> None:
        log_event("session_failed", logging.ERROR, session=session.id, error=error)
        self.send_stream(session, {"type": "error", "id": None, "code": "internal",
                                   "message": f"motion backend failed: {error}"[:200], "session": session.id})
        self.close_session(session, reason="error", code="internal")

    def _end_of_audio(self, session: SessionState) -> None:
        self.send_stream(session, {"type": "end", "session": session.id, "reason": "end_of_audio",
                                   "frames_total": session.next_seq, "duration_ms": session.received_ms})
        if session.livelink is not None:
            session.livelink.finish()
        log_event("end_of_audio", session=session.id, frames_total=session.next_seq)

    # ---- background tasks --------------------------------------------------------------------------------------
    async def _housekeeping(self) -> None:
        """Heartbeats, idle reaping, forgetting idle ZeroMQ clients."""
        c = self.config
        period_s = min(0.1, c.heartbeat_ms / 4000.0)
        while True:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if now - session.last_activity > c.idle_timeout_s:
                    self.close_session(session, reason="idle")
                elif not session.stream_ended and now - session.last_stream_sent > c.heartbeat_ms / 1000.0:
                    self.send_stream(session, {"type": "heartbeat", "session": session.id,
                                               "next_seq": session.next_seq, "received_ms": session.received_ms,
                                               "server_time_ms": time.time() * 1000.0})
            for client in list(self.clients.values()):
                if client.key[0] == "zmq" and not client.sessions and not client.queue.items and \
                        now - client.last_seen > max(c.idle_timeout_s, ZMQ_CLIENT_FORGET_S):
                    self.clients.pop(client.key, None)

    def start_tasks(self) -> None:
        if self.renderer is not None:
            self.prep_executor.submit(self._warm_renderer)
        self._tasks = [asyncio.create_task(self.worker.run(self._publish_chunk, self._session_failed,
                                                           self._end_of_audio), name="vasa-engine"),
                       asyncio.create_task(self._housekeeping(), name="vasa-housekeeping")]

    def _warm_renderer(self) -> None:
        try:
            self.renderer.warm_up()
            log_event("renderer_ready")
        except Exception:  # the demo portrait failing must not stop a server whose clients upload their own
            log.exception("renderer_warm_up_failed")

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Stop taking sessions, run the audio already received through the backend, end every session."""
        self.worker.draining = True
        deadline = time.monotonic() + timeout_s
        self.worker.wake.set()
        while time.monotonic() < deadline and self.worker.busy():
            self.worker.wake.set()
            await asyncio.sleep(0.01)
        for session in list(self.sessions.values()):
            self.close_session(session, reason="shutdown")

    async def stop_tasks(self) -> None:
        for task in [*self._tasks, *self._serving]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._serving, return_exceptions=True)
        self.worker.shutdown()
        self.prep_executor.shutdown(wait=True)
        livelinks = list(self.livelinks)  # lines still going out to Unreal after their session ended
        for livelink in livelinks:
            livelink.abandon()
        for livelink in livelinks:
            livelink.join()
