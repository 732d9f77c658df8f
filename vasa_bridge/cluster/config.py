"""Settings of a Ray Serve deployment of the sidecar (one frozen dataclass)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vasa_bridge.transport.config import ServerConfig


class ClusterConfigError(ValueError):
    """A `serve --ray` option that cannot work (the message says which and why)."""


@dataclass(frozen=True)
class ClusterConfig:
    replicas: int = 2                        # fixed replica count (ignored when autoscale_max > 0)
    autoscale_min: int = 0                   # autoscaling bounds on session count; max 0 = fixed `replicas`
    autoscale_max: int = 0
    target_sessions_per_replica: float = 8.0  # autoscaling target: sessions a replica should hold (headroom below cap)
    downscale_delay_s: float = 30.0          # autoscaling: fewer sessions must last this long before a replica goes
    deploy: bool = True                      # False: the application runs already (KubeRay); serve the directory
    ray_address: str | None = None           # join this cluster (`ray start --head` printed it); None: start one here
    http_host: str = "127.0.0.1"             # Serve's HTTP/WebSocket proxy
    http_port: int = 8000
    directory_port: int | None = 5570        # ZeroMQ front door (assign); None: WebSocket only
    advertise_host: str = "127.0.0.1"        # interface a replica's own ZeroMQ sockets bind and are announced on;
    #                                          "" = each replica's node IP (multi-node)
    backend: str = "amplitude"               # "diffusion" or "amplitude", built inside each replica
    engine: str = "onnxruntime"              # the diffusion backend's engine
    replica_num_cpus: float = 1.0            # Ray CPUs reserved per replica (its motion worker thread)
    # A local cluster started here: kept small (the machine also runs the game / other work).
    local_num_cpus: int = 2
    local_object_store_bytes: int = 200 * 1024 * 1024
    drain_timeout_s: float = 300.0          # a replica being stopped keeps serving its live sessions this long
    health_period_s: float = 1.0             # Serve's check_health period; a lost replica is noticed this fast
    server: ServerConfig = field(default_factory=lambda: ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0))

    def __post_init__(self) -> None:
        if self.autoscale_max:
            if not 0 <= self.autoscale_min <= self.autoscale_max:
                raise ClusterConfigError(f"--autoscale {self.autoscale_min}..{self.autoscale_max}: need "
                                         "0 <= MIN <= MAX, e.g. --autoscale 1..4")
        elif self.replicas < 1:
            raise ClusterConfigError(f"--replicas {self.replicas}: need at least 1")
        if self.target_sessions_per_replica <= 0:
            raise ClusterConfigError("target_sessions_per_replica must be > 0")
        if self.target_sessions_per_replica > self.server.max_sessions:
            raise ClusterConfigError(f"target_sessions_per_replica {self.target_sessions_per_replica:g} exceeds the "
                                     f"replica's session cap {self.server.max_sessions}: autoscaling would never "
                                     "add a replica before sessions were refused")
        most = self.autoscale_max or self.replicas
        if self.ray_address is None and self.deploy and most * self.replica_num_cpus > self.local_num_cpus:
            raise ClusterConfigError(f"{most} replicas x {self.replica_num_cpus:g} CPUs do not fit the local Ray "
                                     f"cluster's {self.local_num_cpus} CPUs: lower --replica-cpus, or start Ray "
                                     "on more machines and pass --ray-address (docs/cluster.md)")
        if self.backend not in ("diffusion", "amplitude"):
            raise ClusterConfigError(f"backend {self.backend!r}: use diffusion or amplitude")

    @property
    def max_ongoing_requests(self) -> int:
        """Serve counts each WebSocket connection as one ongoing request for its whole life: its default (5) would
        cap a replica at 5 connections. Allow the replica's real session cap."""
        return self.server.max_sessions

    def replica_server_config(self) -> ServerConfig:
        """Each replica's sidecar: every socket on a free port of the advertised interface. ZeroMQ clients connect
        to it directly (after `assign`); its WebSocket is what the replica's ingress pumps connections to."""
        from dataclasses import replace

        return replace(self.server, host=self.advertise_host, zmq_port=0, zmq_stream_port=0, ws_port=0)
