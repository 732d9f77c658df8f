"""Autoscaling on session count (a Serve custom policy). Serve's default policy counts ongoing requests: that sees
WebSocket connections but not ZeroMQ sessions, which never pass through Serve. Each replica reports its live
sessions (`SidecarReplica.record_autoscaling_stats`); this policy sizes the deployment from their sum. Serve wraps
the answer with the deployment's bounds and its upscale / downscale delays (app.py sets them), so the policy
itself is a pure function of the sessions."""

from __future__ import annotations

import math
from typing import Any

SESSIONS_METRIC = "sessions"


def desired_replicas(total_sessions: float, target_per_replica: float, low: int, high: int) -> int:
    """Replicas for `total_sessions` at `target_per_replica` each, within [low, high]. The target sits below the
    session cap: the gap is headroom for sessions that arrive before a new replica is up (~10 s)."""
    return min(max(math.ceil(total_sessions / target_per_replica), low), high)


class SessionsPolicy:
    """Serve's policy_function (a class: Serve builds it once with policy_kwargs and calls it every control loop)."""

    def __init__(self, target_sessions_per_replica: float) -> None:
        self.target = float(target_sessions_per_replica)

    def __call__(self, ctx: Any) -> tuple[int, dict]:
        per_replica = (ctx.aggregated_metrics or {}).get(SESSIONS_METRIC, {})
        total = float(sum(per_replica.values()))
        return desired_replicas(total, self.target, ctx.capacity_adjusted_min_replicas,
                                ctx.capacity_adjusted_max_replicas), dict(ctx.policy_state or {})
