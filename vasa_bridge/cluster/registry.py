"""Where replicas announce themselves: a named Ray actor holding each live replica's ZeroMQ endpoints and load.

Serve routes WebSocket connections itself, but ZeroMQ cannot pass through Ray: a native client is told which
replica to use (`assign`). The directory asks this table. Replicas post every `POST_PERIOD_S`; one silent for
`STALE_S` (its process died) is left out of assignments before Serve's health check has even replaced it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

REGISTRY_NAME = "vasa_bridge_registry"
REGISTRY_NAMESPACE = "vasa_bridge"   # explicit: replicas run in Serve's namespace, the driver in its own
FORGET_S = 60.0      # a replica silent this long is dropped from the table (no longer counted as silent)
POST_PERIOD_S = 0.25
STALE_S = 1.0


@dataclass(frozen=True)
class ReplicaInfo:
    replica: str            # Serve's replica id
    pid: int                # the replica's process (tests kill it to play a lost machine)
    zmq_url: str
    zmq_stream_url: str
    instance: str           # the replica sidecar's instance id (hello_ok.instance)
    sessions: int
    max_sessions: int
    draining: bool
    posted_at: float = 0.0  # the registry's clock (time.monotonic) when it arrived

    def to_dict(self) -> dict:
        return asdict(self)


class Registry:
    """The actor's class (wrapped with ray.remote by app.py, so importing this module never needs Ray)."""

    def __init__(self) -> None:
        self._replicas: dict[str, ReplicaInfo] = {}

    def post(self, info: dict) -> None:
        info = {**info, "posted_at": time.monotonic()}
        self._replicas[info["replica"]] = ReplicaInfo(**info)

    def remove(self, replica: str) -> None:
        self._replicas.pop(replica, None)

    def live(self) -> list[dict]:
        """Replicas heard from within STALE_S, least loaded first."""
        now = time.monotonic()
        fresh = [r for r in self._replicas.values() if now - r.posted_at <= STALE_S]
        return [r.to_dict() for r in sorted(fresh, key=lambda r: (r.draining, r.sessions / max(r.max_sessions, 1)))]

    def all(self) -> list[dict]:
        """Every replica posted within FORGET_S and not removed, with its age: what `status` shows as health."""
        now = time.monotonic()
        for name in [n for n, r in self._replicas.items() if now - r.posted_at > FORGET_S]:
            del self._replicas[name]
        return [{**r.to_dict(), "age_s": now - r.posted_at} for r in self._replicas.values()]


def get_or_create_registry():
    """The cluster's registry actor, created by whoever comes first (the `serve --ray` driver, or the first replica
    of an application deployed from a Serve config file). Detached: it outlives a driver that exits."""
    import ray

    return ray.remote(num_cpus=0)(Registry).options(name=REGISTRY_NAME, namespace=REGISTRY_NAMESPACE,
                                                    lifetime="detached", get_if_exists=True).remote()


def pick(replicas: list[dict], pending: dict[str, int] | None = None) -> dict | None:
    """The replica a new ZeroMQ client goes to: not draining, with room, fewest sessions relative to its cap.
    `pending`: clients assigned to each replica whose sessions its last post cannot show yet (without them a burst
    of clients would all go to the replica that looked emptiest)."""
    pending = pending or {}

    def load(r: dict) -> float:
        return (r["sessions"] + pending.get(r["replica"], 0)) / max(r["max_sessions"], 1)
    open_ = [r for r in replicas if not r["draining"] and r["sessions"] < r["max_sessions"]]
    return min(open_, key=load, default=None)
