"""`vasa-bridge bench --only cluster`: real-time sessions and their lateness through a local 2-replica cluster
versus one plain sidecar, in the same run, on the same machine.

A session is one speaking character streamed in real time (40 ms chunks on the audio clock, amplitude backend, so
the figures show what the cluster's routing costs rather than the model); each has its own client, as players
do, so Serve can spread them. A count is *sustained* when every session gets every frame, no open is refused and
the p95 chunk lateness (chunk sent → its frames received) stays within P95_LIMIT_MS. On one small machine the
replicas share its cores: this measures overhead; capacity grows with machines (docs/cluster.md)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

SAMPLE_RATE_HZ = 16_000
CHUNK_MS = 40.0
P95_LIMIT_MS = 200.0
REPLICAS = 2


@dataclass(frozen=True)
class Step:
    sessions: int
    p95_lateness_ms: float
    complete: bool          # every session got every frame, no open refused

    def sustained(self) -> bool:
        return self.complete and self.p95_lateness_ms <= P95_LIMIT_MS


async def _step(url: str, n: int, seconds: float) -> Step:
    from vasa_bridge.audio.synthetic import syllable_bursts
    from vasa_bridge.client.core import AsyncClient
    from vasa_bridge.client.stream import stream_audio
    from vasa_bridge.protocol import ServerError

    clients = []  # connected one after another: Serve routes each connection by the counts it has seen
    try:
        for _ in range(n):
            clients.append(await AsyncClient.connect(url, timeout_s=30.0))
        results = await asyncio.gather(*(stream_audio(c, syllable_bursts(seconds, seed=i), SAMPLE_RATE_HZ,
                                                      speed=1.0, chunk_ms=CHUNK_MS, timeout_s=30.0)
                                         for i, c in enumerate(clients)), return_exceptions=True)
    finally:
        for c in clients:
            await c.close()
    done = [r for r in results if not isinstance(r, BaseException)]
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, ServerError):
            raise r
    lateness = np.concatenate([r.chunk_latency_ms for r in done]) if done else np.full(1, np.inf)
    complete = len(done) == n and all(len(r.clip) == math.ceil(seconds * 25) for r in done)
    return Step(n, float(np.percentile(lateness, 95)), complete)


def _ramp(url: str, steps: tuple[int, ...], seconds: float, label: str,
          log: Callable[[str], None]) -> tuple[int, list[Step]]:
    best, done = 0, []
    for n in steps:
        step = asyncio.run(_step(url, n, seconds))
        done.append(step)
        log(f"{label:<22} {n:4d} sessions: p95 lateness {step.p95_lateness_ms:7.1f} ms, complete {step.complete}")
        if not step.sustained():
            break
        best = n
    return best, done


def measure_cluster(quick: bool = False, log: Callable[[str], None] = print) -> dict[str, float]:
    """Largest sustained session count and p95 lateness at each step: plain sidecar, cluster WebSocket, cluster
    ZeroMQ (directory + assign)."""
    from vasa_bridge.cluster.app import ClusterServer
    from vasa_bridge.cluster.config import ClusterConfig
    from vasa_bridge.transport.config import ServerConfig
    from vasa_bridge.transport.runner import SubprocessServer

    steps = (4, 8, 16) if quick else (4, 8, 16, 32, 48)
    seconds = 4.0 if quick else 8.0
    figures: dict[str, float] = {"cluster_replicas": REPLICAS, "cluster_p95_limit_ms": P95_LIMIT_MS}

    def record(prefix: str, best: int, done: list[Step]) -> None:
        figures[f"{prefix}_sessions_sustained"] = best
        for step in done:
            figures[f"{prefix}_p95_lateness_ms_at_{step.sessions}"] = round(step.p95_lateness_ms, 1)

    with SubprocessServer(ServerConfig(zmq_port=None, zmq_stream_port=None, ws_port=0)) as plain:
        record("plain", *_ramp(plain.endpoints.ws_url, steps, seconds, "plain sidecar (ws)", log))
    import socket

    with socket.socket() as s:  # a free port for Serve's proxy
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ClusterServer(ClusterConfig(replicas=REPLICAS, replica_num_cpus=0.5, http_port=port,
                                     directory_port=0, drain_timeout_s=5.0)) as cluster:
        record("cluster_ws", *_ramp(cluster.endpoints.ws_url, steps, seconds, "cluster via Serve (ws)", log))
        record("cluster_zmq", *_ramp(cluster.endpoints.directory_url, steps, seconds, "cluster assigned (zmq)", log))
    figures["cluster_sessions_per_replica"] = max(figures["cluster_ws_sessions_sustained"],
                                                  figures["cluster_zmq_sessions_sustained"]) / REPLICAS
    return figures


def bench_cluster(quick: bool = False):
    """The table rows: sessions sustained by a plain sidecar and through the cluster (both bindings)."""
    f = measure_cluster(quick=quick, log=lambda *_: None)
    rows = [(f"real-time sessions, {name}", f"{f[key + '_sessions_sustained']:.0f}", f"p95 ≤ {P95_LIMIT_MS:.0f} ms")
            for name, key in (("plain sidecar", "plain"), ("cluster WebSocket", "cluster_ws"),
                              ("cluster ZeroMQ", "cluster_zmq"))]
    return f, rows
