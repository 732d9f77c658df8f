"""Start and stop a cluster deployment: Ray (local or joined), the registry actor, the Serve application of
sidecar replicas, and the ZeroMQ directory on a thread of this process."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass

from vasa_bridge.cluster.config import ClusterConfig
from vasa_bridge.cluster.registry import STALE_S, get_or_create_registry
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.logs import log_event

APP_NAME = "vasa_bridge"
DEPLOYMENT_NAME = "sidecar"
UPSCALE_DELAY_S = 2.0


@dataclass(frozen=True)
class ClusterEndpoints:
    ws_url: str              # Serve's proxy: every WebSocket client connects here
    directory_url: str | None  # ZeroMQ clients send hello here and get `assign`


def deployment_options(config: ClusterConfig) -> dict:
    """serve.deployment options: why each one is set is in docs/cluster.md (capacity, health, draining)."""
    options = {"name": DEPLOYMENT_NAME, "max_ongoing_requests": config.max_ongoing_requests,
               "health_check_period_s": config.health_period_s, "health_check_timeout_s": 5.0,
               "graceful_shutdown_wait_loop_s": 0.5, "graceful_shutdown_timeout_s": config.drain_timeout_s,
               "ray_actor_options": {"num_cpus": config.replica_num_cpus}}
    if config.autoscale_max:
        # On live sessions, WebSocket and ZeroMQ alike (autoscale.py); scale-down drains (replica.__del__).
        options["autoscaling_config"] = {
            "min_replicas": config.autoscale_min, "max_replicas": config.autoscale_max,
            "initial_replicas": max(config.autoscale_min, 1), "metrics_interval_s": 1.0, "look_back_period_s": 5.0,
            # Serve applies these to the policy's answer: up soon (a new replica takes ~10 s to serve), down only
            # after fewer sessions lasted a while, so a lull between lines does not cost a replica start.
            "upscale_delay_s": UPSCALE_DELAY_S, "downscale_delay_s": config.downscale_delay_s,
            "policy": {"policy_function": "vasa_bridge.cluster.autoscale:SessionsPolicy",
                       "policy_kwargs": {"target_sessions_per_replica": config.target_sessions_per_replica}}}
    else:
        options["num_replicas"] = config.replicas
    return options


class ClusterServer:
    """The cluster as a context manager: `.endpoints` once started; `stop()` shuts Serve (and a Ray it started)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.endpoints: ClusterEndpoints | None = None
        self.instance = secrets.token_hex(8)
        self._started_ray = False
        self._local_ray = None  # ray._private.node.Node of a local Ray this server started
        self._registry = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._directory = None

    # ---- start / stop ------------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 90.0) -> "ClusterServer":
        import ray
        from ray import serve

        from vasa_bridge.cluster.replica import SidecarReplica

        c = self.config
        if not ray.is_initialized():
            if c.ray_address:
                ray.init(address=c.ray_address, namespace=APP_NAME, log_to_driver=False)
            else:
                self._local_ray = _start_local_ray(c)
                ray.init(address=self._local_ray.address, namespace=APP_NAME, log_to_driver=False)
                self._started_ray = True
        try:
            self._registry = get_or_create_registry()
            if c.deploy:
                serve.start(http_options={"host": c.http_host, "port": c.http_port})
                app = serve.deployment(SidecarReplica, **deployment_options(c)).bind(c)
                serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
            self._wait_for_replicas(max(c.autoscale_min, 1) if c.autoscale_max else c.replicas, timeout_s)
            directory_url = self._start_directory() if c.directory_port is not None else None
            self.endpoints = ClusterEndpoints(f"ws://{c.http_host}:{c.http_port}/", directory_url)
        except BaseException:
            self.stop()
            raise
        return self

    def scale(self, replicas: int, timeout_s: float = 60.0) -> None:
        """Change a fixed-size deployment's replica count. Going down, Serve picks replicas to stop; each drains
        (no new sessions; live ones finish, up to drain_timeout_s) before it exits."""
        from dataclasses import replace

        from ray import serve

        from vasa_bridge.cluster.replica import SidecarReplica

        self.config = replace(self.config, replicas=replicas)
        app = serve.deployment(SidecarReplica, **deployment_options(self.config)).bind(self.config)
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        if replicas > len(self.live_replicas()):
            self._wait_for_replicas(replicas, timeout_s)

    def _wait_for_replicas(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.live_replicas()) < n:
            if time.monotonic() > deadline:
                raise SidecarConfigError(f"only {len(self.live_replicas())} of {n} replicas came up within "
                                         f"{timeout_s:g} s; see `ray status` and the Serve logs under /tmp/ray")
            time.sleep(0.2)

    def _start_directory(self) -> str:
        from vasa_bridge.cluster.directory import Directory

        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            async def main() -> None:
                self._loop = asyncio.get_running_loop()
                self._directory = Directory(self.config.advertise_host or "0.0.0.0", self.config.directory_port or 0,
                                            self._replicas_async, self.instance)
                ready.set()
                await self._directory.serve()
            try:
                asyncio.run(main())
            except asyncio.CancelledError:
                pass
            except BaseException as e:
                failure.append(e)
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="vasa-directory", daemon=True)
        self._thread.start()
        ready.wait(10.0)
        if failure:
            raise SidecarConfigError(f"cannot start the ZeroMQ directory: {failure[0]}")
        return self._directory.url

    def stop(self) -> None:
        import ray
        from ray import serve

        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self._loop)])
            self._thread.join(5.0)
            if self._directory is not None:
                self._directory.close()
            self._loop = self._thread = self._directory = None
        if ray.is_initialized():
            try:
                if self.config.deploy:
                    serve.shutdown()
            finally:
                if self._started_ray:
                    ray.shutdown()
                    self._started_ray = False
        if self._local_ray is not None:
            self._local_ray.kill_all_processes(check_alive=False, allow_graceful=True)
            self._local_ray = None

    def __enter__(self) -> "ClusterServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the registry ------------------------------------------------------------------------------------------
    def live_replicas(self) -> list[dict]:
        import ray

        return ray.get(self._registry.live.remote())

    async def _replicas_async(self) -> tuple[list[dict], int]:
        rows = await self._registry.all.remote()
        live = [r for r in rows if r["age_s"] <= STALE_S]
        return sorted(live, key=lambda r: (r["draining"], r["sessions"] / max(r["max_sessions"], 1))), \
            len(rows) - len(live)

    def health(self) -> dict:
        """Replicas live and silent (lost, not yet replaced), as `status` at the directory reports them."""
        import ray

        rows = ray.get(self._registry.all.remote())
        return {"live": [r for r in rows if r["age_s"] <= STALE_S], "silent": [r for r in rows if r["age_s"] > STALE_S]}


def serve_cluster_forever(config: ClusterConfig) -> int:
    """`vasa-bridge serve --ray`: run until SIGINT / SIGTERM, then shut Serve down (replicas end their sessions)."""
    import signal
    import sys

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with ClusterServer(config) as cluster:
        e = cluster.endpoints
        print(f"vasa-bridge serve --ray: ws {e.ws_url} zmq directory {e.directory_url} "
              f"replicas {len(cluster.live_replicas())}", file=sys.stderr, flush=True)
        while not stop.wait(10.0):
            health = cluster.health()
            log_event("cluster_health", live=len(health["live"]), silent=len(health["silent"]),
                      sessions=sum(r["sessions"] for r in health["live"]))
    return 0


def _start_local_ray(c: ClusterConfig):
    """A one-machine Ray head for `serve --ray` without --ray-address: what ray.init would start, less the two
    processes this use never needs (~95 MB PSS together, measured 2026-12-05): the autoscaler monitor (it adds
    and removes *machines*; Serve's replica autoscaling runs in its controller) and the log monitor (it forwards
    worker logs to drivers, and the driver here does not take them: log_to_driver=False). ray.init offers no
    switch for either, so the head is started the way `ray start --head --no-monitor --include-log-monitor=false`
    does, in this process (Ray is pinned to 2.60.0, whose Node API this uses)."""
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    params = RayParams(num_cpus=c.local_num_cpus, object_store_memory=c.local_object_store_bytes,
                       include_dashboard=False, no_monitor=True, include_log_monitor=False)
    # As ray.init starts its head: the processes share this one's fate (they die with it), and stop() ends them.
    return Node(params, head=True, shutdown_at_exit=False, spawn_reaper=True, ray_init_cluster=True)
