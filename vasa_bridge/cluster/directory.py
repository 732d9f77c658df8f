"""The ZeroMQ front door of a cluster (SPEC §8.6): native clients send `hello` here and get `assign`, naming the
replica whose ZeroMQ sockets they then use for their whole connection. Ray cannot carry raw ZeroMQ, so the
directory only points; it never relays a message."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from typing import Awaitable, Callable

import zmq
import zmq.asyncio

from vasa_bridge import protocol as m
from vasa_bridge.cluster.registry import pick
from vasa_bridge.transport.logs import log_event

# A directory only ever sees hellos: anything bigger is not for it.
MAX_DIRECTORY_MESSAGE_BYTES = 64 * 1024
# An assigned client usually opens its session within this long, and the replica's next post then counts it.
PENDING_S = 2.0
ASSIGN_MIN_MINOR = 4   # protocol 1.4 introduced `assign`; older clients get an error that names a replica instead


def _minor(version: object) -> int:
    try:
        return int(str(version).split(".")[1])
    except (IndexError, ValueError):
        return 0


def status(request_id: int, instance: str, uptime_s: float, replicas: list[dict], silent: int) -> dict:
    """status_ok of a directory (SPEC §4.7): sessions summed over the live replicas, and replica health."""
    return {"type": "status_ok", "id": request_id, "instance": instance,
            "sessions": sum(r["sessions"] for r in replicas), "max_sessions": sum(r["max_sessions"] for r in replicas),
            "clients": 0, "load": 0.0, "step_ms_p50": 0.0, "step_ms_p95": 0.0, "frames_total": 0,
            "uptime_s": float(uptime_s), "replicas": len(replicas), "replicas_silent": int(silent)}


def answer(msg: dict, replicas: list[dict], pending: dict[str, int] | None = None) -> dict:
    """The directory's reply to one decoded hello (or other non-status request), given the live replicas (pure:
    tested without sockets)."""
    msg = m.validate_request(msg)
    if msg["type"] != "hello":
        raise m.ProtocolError("hello_required", "this is a cluster directory: send hello, then use the replica "
                              "named in its assign reply", msg["id"])
    chosen = pick(replicas, pending)
    if chosen is None:
        raise m.ProtocolError("session_limit", f"no replica can take a session now ({len(replicas)} live, all "
                              "full or draining); retry later", msg["id"], retry_after_ms=1000.0)
    if _minor(msg["protocol"]) < ASSIGN_MIN_MINOR:
        raise m.ProtocolError("version_mismatch", f"this is a cluster directory and protocol {msg['protocol']} "
                              f"cannot follow assign: connect to {chosen['zmq_url']} (stream "
                              f"{chosen['zmq_stream_url']}), or use a 1.{ASSIGN_MIN_MINOR} client", msg["id"])
    return {"type": "assign", "id": msg["id"], "protocol": m.protocol_version(), "zmq": chosen["zmq_url"],
            "zmq_stream": chosen["zmq_stream_url"], "replica": chosen["replica"], "instance": chosen["instance"]}


class Directory:
    """A ROUTER socket answering hellos with `assign`. `live_replicas()` gives the registry's current table."""

    def __init__(self, host: str, port: int, replicas: Callable[[], Awaitable[tuple[list[dict], int]]],
                 instance: str) -> None:
        """`replicas()`: (the live replicas, least loaded first; the count of silent ones)."""
        self.ctx = zmq.asyncio.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, 4 * MAX_DIRECTORY_MESSAGE_BYTES)
        host = "[::1]" if host == "::1" else host
        self.router.bind(f"tcp://{host}:{port or '*'}")
        self.url = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._replicas = replicas
        self.instance = instance
        self.started = time.monotonic()
        self.assigned = 0
        self._recent: deque[tuple[float, str]] = deque()  # (time, replica) of assignments within PENDING_S

    async def serve(self) -> None:
        while True:
            frames = await self.router.recv_multipart()
            identity, body = frames[0], frames[1:]
            prefix: list[bytes] = []
            if len(body) >= 2 and len(body[0]) == 0:  # a REQ peer's delimiter (SPEC §8.3)
                prefix, body = [b""], body[1:]
            try:
                msg = m.from_zmq_frames(body, MAX_DIRECTORY_MESSAGE_BYTES)
                live, silent = await self._replicas()
                if isinstance(msg, dict) and msg.get("type") == "status":
                    msg = m.validate_request(msg)
                    reply = status(msg["id"], self.instance, time.monotonic() - self.started, live, silent)
                else:
                    reply = answer(msg, live, self._pending())
                    self._recent.append((time.monotonic(), reply["replica"]))
                    self.assigned += 1
                    log_event("directory_assign", replica=reply["replica"])
            except m.ProtocolError as e:
                if e.request_id is None:
                    e.request_id = m.peek_id(body[0]) if body else None
                reply = e.to_message()
            except Exception as e:  # the registry unreachable: answer rather than leave the client waiting
                logging.getLogger("vasa_bridge.cluster").exception("directory_error")
                reply = m.ProtocolError("internal", f"directory: {type(e).__name__}: {e}"[:200],
                                        m.peek_id(body[0]) if body else None).to_message()
            await self.router.send_multipart([identity, *prefix, m.encode(reply)])

    def _pending(self) -> dict[str, int]:
        """Assignments made within PENDING_S, per replica: clients whose sessions the registry may not show yet."""
        horizon = time.monotonic() - PENDING_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        return dict(Counter(replica for _, replica in self._recent))

    def close(self) -> None:
        self.router.close(0)
        self.ctx.term()
