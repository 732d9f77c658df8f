"""Autoscaling on session count (a Serve custom policy). Serve's default policy counts ongoing requests: that sees
WebSocket connections but not ZeroMQ sessions, which never pass through Serve. Each replica reports its live
sessions (`SidecarReplica.record_autoscaling_stats`); this policy sizes the deployment from their sum."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

SESSIONS_METRIC = "sessions"


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int
    below_since: float | None  # when the wanted count first fell below the current one (downscale hysteresis)


def desired_replicas(total_sessions: float, target_per_replica: float, current: int, low: int, high: int,
                     below_since: float | None, now: float, downscale_delay_s: float) -> ScaleDecision:
    """Replicas for `total_sessions` at `target_per_replica` each (the target sits below the session cap: the gap is
    headroom for sessions that arrive before a new replica is up). Up at once; down only after the wish to go down
    held for `downscale_delay_s`, so a lull between lines does not cost a replica start."""
    wanted = min(max(math.ceil(total_sessions / target_per_replica), low), high)
    if wanted >= current:
        return ScaleDecision(wanted, None)
    since = below_since if below_since is not None else now
    return ScaleDecision(wanted if now - since >= downscale_delay_s else current, since)


class SessionsPolicy:
    """Serve's policy_function (a class: Serve builds it once with policy_kwargs and calls it every control loop)."""

    def __init__(self, target_sessions_per_replica: float, downscale_delay_s: float) -> None:
        self.target = float(target_sessions_per_replica)
        self.downscale_delay_s = float(downscale_delay_s)

    def __call__(self, ctx: Any) -> tuple[int, dict]:
        per_replica = (ctx.aggregated_metrics or {}).get(SESSIONS_METRIC, {})
        total = float(sum(per_replica.values()))
        state = dict(ctx.policy_state or {})
        decision = desired_replicas(total, self.target, ctx.current_num_replicas, ctx.capacity_adjusted_min_replicas,
                                    ctx.capacity_adjusted_max_replicas, state.get("below_since"), time.monotonic(),
                                    self.downscale_delay_s)
        state["below_since"] = decision.below_since
        return decision.replicas, state
