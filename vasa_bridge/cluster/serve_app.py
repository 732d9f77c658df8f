"""The application for Serve config files (`serve deploy`, KubeRay's RayService): `import_path:
vasa_bridge.cluster.serve_app:app` with `args` naming ClusterConfig / ServerConfig fields (deploy/ shows one).
Replica count, autoscaling and health options then come from the config file's `deployments` section."""

from __future__ import annotations

from dataclasses import fields

from vasa_bridge.cluster.config import ClusterConfig, ClusterConfigError
from vasa_bridge.transport.config import ServerConfig

# args that set the cluster (the rest set each replica's sidecar, e.g. max_sessions, token, insecure)
CLUSTER_ARGS = ("backend", "engine", "target_sessions_per_replica", "advertise_host", "drain_timeout_s")


def config_from_args(args: dict) -> ClusterConfig:
    server_names = {f.name for f in fields(ServerConfig)}
    unknown = sorted(set(args) - server_names - set(CLUSTER_ARGS))
    if unknown:
        raise ClusterConfigError(f"unknown application args {unknown}; use {list(CLUSTER_ARGS)} or ServerConfig "
                                 "fields (vasa_bridge/transport/config.py)")
    server = ServerConfig(**{k: v for k, v in args.items() if k in server_names})
    return ClusterConfig(**{k: v for k, v in args.items() if k in CLUSTER_ARGS}, server=server)


def app(args: dict):
    """Serve's application builder."""
    from ray import serve

    from vasa_bridge.cluster.replica import SidecarReplica

    config = config_from_args(args)
    return serve.deployment(SidecarReplica, name="sidecar", max_ongoing_requests=config.max_ongoing_requests
                            ).bind(config)
