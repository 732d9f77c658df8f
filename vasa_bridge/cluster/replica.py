"""The Serve deployment: each replica is one whole sidecar (transport/'s own code) plus a WebSocket ingress.

    client ──ws──► Serve proxy ──► SidecarReplica.connect ──ws (same host)──► the replica's sidecar (WsBinding)
    client ──zmq (after assign)─────────────────────────────────────────────► the replica's sidecar (ZmqBinding)

Why a pump to the replica's own WebSocket binding rather than a second binding over Starlette: every rule the
binding enforces (Origin policy, hello timeout, bounded send queue, flood and slow-client drops, close codes) stays
in one place, and the pump only moves opaque frames. It costs one loopback hop per message (bench: `cluster`).
A connection is one Serve request for its whole life, so Serve never moves it: sessions are pinned.
"""


# No `from __future__ import annotations` here: FastAPI reads the route's `ws: WebSocket` annotation at run time,
# and as a string it would take `ws` for a query parameter (every connection refused, 403).
import asyncio
import logging
import os
import threading
import time

import ray
from fastapi import FastAPI, WebSocket
from ray import serve
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from vasa_bridge.cluster.autoscale import SESSIONS_METRIC
from vasa_bridge.cluster.config import ClusterConfig
from vasa_bridge.cluster.registry import POST_PERIOD_S, get_or_create_registry
from vasa_bridge.runtime.backend import MotionBackend
from vasa_bridge.transport.runner import BackgroundServer
from vasa_bridge.transport.ws_binding import SUBPROTOCOL

log = logging.getLogger("vasa_bridge.cluster")
DRAIN_POLL_S = 0.1
ingress = FastAPI()


def _live_sessions(core) -> int:
    """Sessions still streaming: an ended one (end_of_audio sent) may stay open until its client closes it or it
    idles out, but it holds no motion work and need not be waited for."""
    return sum(1 for s in core.sessions.values() if not s.stream_ended)


def make_backend(config: ClusterConfig) -> MotionBackend:
    if config.backend == "diffusion":
        from vasa_bridge.runtime.diffusion import DiffusionBackend

        return DiffusionBackend(engine=config.engine)
    from vasa_bridge.runtime.backend import AmplitudeBackend

    return AmplitudeBackend()


@serve.ingress(ingress)
class SidecarReplica:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        if not config.advertise_host:  # deployed from a Serve config (serve_app.py): announce this node's address
            from dataclasses import replace

            config = replace(config, advertise_host=ray.util.get_node_ip_address())
        self.config = config
        self.server = BackgroundServer(config.replica_server_config(), make_backend(config)).start(timeout_s=60.0)
        self.replica_id = serve.get_replica_context().replica_id.unique_id
        self._registry = get_or_create_registry()
        self._stop = threading.Event()
        self._poster = threading.Thread(target=self._post_loop, name="vasa-registry-post", daemon=True)
        self._poster.start()

    # ---- the registry ------------------------------------------------------------------------------------------
    def info(self) -> dict:
        """This replica's entry in the registry (read on the sidecar's own loop: its state is not thread-safe)."""
        e = self.server.endpoints
        sessions, max_sessions, draining = self.server.call(
            lambda core: (_live_sessions(core), core.config.max_sessions, core.closed_to_sessions))
        return {"replica": self.replica_id, "pid": os.getpid(), "zmq_url": e.zmq_url,
                "zmq_stream_url": e.zmq_stream_url, "instance": e.instance, "sessions": sessions,
                "max_sessions": max_sessions, "draining": draining}

    def _post_loop(self) -> None:
        while not self._stop.wait(POST_PERIOD_S):
            try:
                self._registry.post.remote(self.info())
            except Exception:  # the registry restarting, or this replica stopping: the next post retries
                log.warning("registry_post_failed", exc_info=True)

    # ---- Serve's hooks -----------------------------------------------------------------------------------------
    def check_health(self) -> None:
        """Serve calls this every health_period_s; raising makes it replace the replica."""
        if not self.server.alive:
            raise RuntimeError("the replica's sidecar thread stopped")

    def record_autoscaling_stats(self) -> dict[str, float]:
        """Serve's custom autoscaling metric (autoscale.py): sessions of either binding still streaming."""
        return {SESSIONS_METRIC: float(self.server.call(_live_sessions))}

    def drain(self) -> int:
        """Take no new sessions (open gets shutting_down, the directory stops assigning here); live ones go on.
        Returns the sessions still streaming."""
        def start_draining(core) -> int:
            core.accepting_sessions = False  # not worker.draining: that would flush (end) the live streams
            return _live_sessions(core)
        sessions = self.server.call(start_draining)
        self._registry.post.remote(self.info())
        return sessions

    def __del__(self) -> None:
        # Serve calls this when it stops the replica (scale-down, redeploy, shutdown), after the replica's ongoing
        # requests - its WebSocket connections - finished. ZeroMQ sessions are not Serve requests: drain them here,
        # until none streams or drain_timeout_s; what is left then ends with `end` (shutdown) and its clients
        # re-open elsewhere (client/failover.py).
        deadline = time.monotonic() + self.config.drain_timeout_s
        try:
            while self.drain() and time.monotonic() < deadline:
                time.sleep(DRAIN_POLL_S)
        except Exception:  # the sidecar already gone: nothing to drain
            log.warning("drain_failed", exc_info=True)
        self._stop.set()
        try:
            self._registry.remove.remote(self.replica_id)
        except Exception:
            pass
        self.server.stop()

    # ---- the WebSocket ingress ---------------------------------------------------------------------------------
    @ingress.websocket("/")
    async def connect(self, ws: WebSocket) -> None:
        offered = list(ws.scope.get("subprotocols") or [])
        try:
            inner = await ws_connect(self.server.endpoints.ws_url, origin=ws.headers.get("origin"),
                                     subprotocols=[SUBPROTOCOL] if SUBPROTOCOL in offered else None,
                                     compression=None, max_size=None, open_timeout=10)
        except InvalidStatus as e:  # the sidecar refused the handshake (Origin policy): refuse it the same way
            log.warning("ws_refused_by_replica_sidecar: HTTP %s %s", e.response.status_code,
                        e.response.body[:200] if e.response.body else b"")
            await ws.close(code=1008)
            return
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        upstream = asyncio.create_task(self._client_to_sidecar(ws, inner))
        try:
            async for data in inner:
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
        except (ConnectionClosed, WebSocketDisconnect, RuntimeError):
            pass  # either side went away; the close below reports the sidecar's reason when it has one
        finally:
            upstream.cancel()
            await asyncio.gather(upstream, return_exceptions=True)
            await inner.close()
            code = inner.close_code if inner.close_code not in (None, 1005, 1006) else 1000
            try:
                await ws.close(code=code, reason=(inner.close_reason or "")[:120])
            except RuntimeError:  # the client had already closed
                pass

    @staticmethod
    async def _client_to_sidecar(ws: WebSocket, inner) -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                data = msg.get("bytes")
                await inner.send(data if data is not None else msg.get("text", ""))
        except (ConnectionClosed, WebSocketDisconnect, RuntimeError):
            pass
        await inner.close()
