"""Fairness between clients (SPEC.md §1, §10): one client's flood delays only that client.

Every client has its own queue of received requests and its own serving task; the serving tasks hand the event
loop back after each request, so asyncio runs them round-robin and a client with 10 000 queued requests waits
behind one request of each other client, not the other way round. Before a request is queued, `RequestGate`
checks the client's bounds — a token bucket over every request kind, and the queue's length and bytes — and a
refused request is answered at once (`rate_limited` / `busy` with `retry_after_ms`). A client that keeps being
refused (`flood_refusals` within `flood_window_s`) is a flooder and its binding disconnects it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from vasa_bridge.protocol import ProtocolError
from vasa_bridge.transport.config import ServerConfig

# Retry advice never below this: a client with many sessions refused at once must not come back all together a
# fraction of a millisecond later (a thundering herd that would look like a flood). With at most
# max_sessions_per_client requests in flight, a client that follows the advice sends at most
# 64 / 20 ms = 3200 retries/s: under the default request rate, and far from flood_refusals.
MIN_RETRY_AFTER_MS = 20.0


@dataclass
class ClientQueue:
    """One client's received requests and its bounds' state (lives in ClientState.queue)."""
    items: deque = field(default_factory=deque)   # (decode callable, wire bytes), oldest first
    queued_bytes: int = 0
    serving: bool = False                         # a task is working through `items`
    tokens: float = 0.0                           # request token bucket
    tokens_time: float = 0.0
    refusals: deque = field(default_factory=deque)  # monotonic times of recent refusals

    def push(self, decode: Callable[[], Any], wire_bytes: int) -> None:
        self.items.append((decode, wire_bytes))
        self.queued_bytes += wire_bytes

    def pop(self) -> Callable[[], Any]:
        decode, wire_bytes = self.items.popleft()
        self.queued_bytes -= wire_bytes
        return decode


class RequestGate:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    def new_queue(self) -> ClientQueue:
        return ClientQueue(tokens=float(self.config.request_burst), tokens_time=time.monotonic())

    def check(self, queue: ClientQueue, wire_bytes: int, request_id: int | None) -> ProtocolError | None:
        """None when the request may be queued (a token is taken), else the error that answers it."""
        c = self.config
        now = time.monotonic()
        queue.tokens = min(float(c.request_burst), queue.tokens + (now - queue.tokens_time) * c.request_rate_per_s)
        queue.tokens_time = now
        if queue.tokens < 1.0 - 1e-9:  # the epsilon: 0.1 s at 10/s is one token despite float rounding
            retry_ms = (1.0 - queue.tokens) / c.request_rate_per_s * 1000.0
            return ProtocolError("rate_limited", f"more than {c.request_rate_per_s:g} requests/s after a burst of "
                                 f"{c.request_burst}; request dropped, resend it", request_id,
                                 retry_after_ms=round(max(retry_ms, MIN_RETRY_AFTER_MS), 3))
        if len(queue.items) >= c.max_queued_requests or queue.queued_bytes + wire_bytes > c.max_queued_bytes:
            # Retry advice: roughly the time to work through what is queued at the sustained rate.
            retry_ms = max(MIN_RETRY_AFTER_MS, len(queue.items) / c.request_rate_per_s * 1000.0)
            return ProtocolError("busy", f"this client has {len(queue.items)} requests queued (limit "
                                 f"{c.max_queued_requests}, {c.max_queued_bytes} bytes); wait for replies, then "
                                 "resend", request_id, retry_after_ms=round(retry_ms, 3))
        queue.tokens -= 1.0
        return None

    def note_refusal(self, queue: ClientQueue) -> bool:
        """Count one refusal; True when the client is flooding (too many refusals within the window)."""
        now = time.monotonic()
        queue.refusals.append(now)
        while queue.refusals and queue.refusals[0] < now - self.config.flood_window_s:
            queue.refusals.popleft()
        return len(queue.refusals) >= self.config.flood_refusals
