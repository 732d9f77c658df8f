"""`vasa-bridge serve`: the long-running sidecar (ZeroMQ + WebSocket), see protocol/SPEC.md."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vasa_bridge.transport.config import ServerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The defaults are the settings' own (one source of truth); both modules are light (no zmq, no torch).
    from vasa_bridge.transport.config import ServerConfig
    from vasa_bridge.transport.rendering import RenderConfig

    config, render = ServerConfig(), RenderConfig()
    parser.add_argument("--host", default=config.host, help="interface for both bindings (default loopback)")
    parser.add_argument("--zmq-port", type=int, default=config.zmq_port,
                        help="ZeroMQ request port (stream = --zmq-stream-port)")
    parser.add_argument("--zmq-stream-port", type=int, default=None, help="ZeroMQ stream port (default zmq-port+1)")
    parser.add_argument("--ws-port", type=int, default=config.ws_port, help="WebSocket port")
    parser.add_argument("--no-zmq", action="store_true", help="disable the ZeroMQ binding")
    parser.add_argument("--no-ws", action="store_true", help="disable the WebSocket binding")
    parser.add_argument("--token", default=os.environ.get("VASA_BRIDGE_TOKEN"),
                        help="require this token in hello (default: $VASA_BRIDGE_TOKEN)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="web page origin admitted on the WebSocket besides loopback pages and native clients "
                             "(repeatable; '*' admits any page: trusted networks only)")
    parser.add_argument("--curve", metavar="DIR", help="enable ZeroMQ CURVE with the keys in DIR (vasa-bridge keys)")
    parser.add_argument("--curve-clients", metavar="DIR", help="admit only CURVE clients whose public keys are in DIR")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without keys/token")
    parser.add_argument("--max-sessions", type=int, default=config.max_sessions)
    parser.add_argument("--max-sessions-per-client", type=int, default=config.max_sessions_per_client)
    parser.add_argument("--max-message-bytes", type=int, default=config.max_message_bytes)
    parser.add_argument("--audio-rate-x", type=float, default=config.audio_rate_x,
                        help="sustained audio per client, x real time")
    parser.add_argument("--audio-burst-s", type=float, default=config.audio_burst_s,
                        help="audio burst per client, seconds")
    parser.add_argument("--idle-timeout-s", type=float, default=config.idle_timeout_s)
    parser.add_argument("--heartbeat-ms", type=float, default=config.heartbeat_ms)
    parser.add_argument("--request-rate", type=float, default=config.request_rate_per_s,
                        help="requests/s per client, sustained")
    parser.add_argument("--max-load", type=float, default=config.max_load,
                        help="refuse new sessions (overloaded) when the motion worker would be busier than this")
    parser.add_argument("--backend", default="diffusion", choices=("diffusion", "amplitude"),
                        help="motion source: the diffusion model (whole face; default) or the amplitude baseline "
                             "(jawOpen from loudness only, ~20x cheaper)")
    parser.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "torch", "tensorrt"),
                        help="diffusion backend's inference engine (tensorrt needs CUDA)")
    parser.add_argument("--render", action="store_true",
                        help="also stream rendered frames of a portrait (outputs frames_jpeg / frames_rgba; the "
                             "client uploads the portrait in open, or gets the demo portrait)")
    parser.add_argument("--render-device", default=render.device, help="torch device of the renderer, e.g. cpu or cuda")
    parser.add_argument("--render-size", type=int, default=render.default_size, choices=(256, 512),
                        help="render size when a client does not ask for one")
    parser.add_argument("--max-portrait-pixels", type=int, default=render.max_portrait_pixels,
                        help="largest portrait accepted (decoded width x height)")
    parser.add_argument("--livelink", metavar="HOST:PORT",
                        help="let sessions forward their motion to Unreal as Live Link Face packets (open option "
                             "livelink: {subject}), all to this address; clients cannot choose another")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    cluster = parser.add_argument_group("cluster (Ray Serve; needs the `cluster` extra, docs/cluster.md)")
    cluster.add_argument("--ray", action="store_true",
                         help="serve from Ray Serve replicas: --ws-port is then the cluster's one WebSocket address, "
                              "--zmq-port its ZeroMQ directory (clients are assigned a replica)")
    scale = cluster.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, default=2, help="fixed number of replicas (default 2)")
    scale.add_argument("--autoscale", metavar="MIN..MAX", help="autoscale between MIN and MAX replicas on sessions")
    cluster.add_argument("--target-sessions", type=float, default=8.0,
                         help="autoscaling target: sessions per replica (keep it below --max-sessions: headroom)")
    cluster.add_argument("--ray-address", default=None,
                         help="join this Ray cluster (e.g. 10.0.0.5:6379 from `ray start --head`); default: start "
                              "a small local one")
    cluster.add_argument("--directory-only", action="store_true",
                         help="the application already runs (KubeRay, `serve deploy`): only serve the ZeroMQ "
                              "directory for it (with --ray-address)")
    cluster.add_argument("--replica-cpus", type=float, default=1.0, help="Ray CPUs reserved per replica")


def run(args: argparse.Namespace) -> int:
    import logging

    from vasa_bridge.transport.logs import setup_logging
    from vasa_bridge.transport.runner import serve_forever

    setup_logging(getattr(logging, args.log_level.upper()))
    config = server_config(args)
    if args.ray:
        return _run_cluster(args, config)
    if args.backend == "diffusion":
        from vasa_bridge.runtime.diffusion import DiffusionBackend

        backend = DiffusionBackend(engine=args.engine)
    else:
        from vasa_bridge.runtime.backend import AmplitudeBackend

        backend = AmplitudeBackend()
    renderer = None
    if args.render:
        from vasa_bridge.transport.rendering import RenderConfig, RenderService

        renderer = RenderService(RenderConfig(device=args.render_device, default_size=args.render_size,
                                              max_portrait_pixels=args.max_portrait_pixels))
    return serve_forever(config, backend, renderer)


def server_config(args: argparse.Namespace) -> "ServerConfig":
    """The ServerConfig the parsed flags describe (flags not given keep ServerConfig's defaults)."""
    from vasa_bridge.transport.config import ServerConfig

    livelink_target = _livelink_target(args.livelink) if args.livelink else None
    return ServerConfig(
        host=args.host, zmq_port=None if args.no_zmq else args.zmq_port,
        zmq_stream_port=None if args.no_zmq else (args.zmq_stream_port or args.zmq_port + 1),
        ws_port=None if args.no_ws else args.ws_port, token=args.token, allow_origins=tuple(args.allow_origin),
        curve_dir=args.curve, curve_clients_dir=args.curve_clients, insecure=args.insecure,
        max_message_bytes=args.max_message_bytes, max_sessions=args.max_sessions,
        max_sessions_per_client=args.max_sessions_per_client, audio_rate_x=args.audio_rate_x,
        audio_burst_s=args.audio_burst_s, idle_timeout_s=args.idle_timeout_s, heartbeat_ms=args.heartbeat_ms,
        request_rate_per_s=args.request_rate, max_load=args.max_load, livelink_target=livelink_target)


def parse_autoscale(text: str) -> tuple[int, int]:
    """--autoscale MIN..MAX -> (MIN, MAX)."""
    from vasa_bridge.errors import VasaBridgeError

    low, sep, high = text.partition("..")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise VasaBridgeError(f"--autoscale {text!r}: write MIN..MAX, e.g. --autoscale 1..4")
    return int(low), int(high)


def _run_cluster(args: argparse.Namespace, server_config) -> int:
    from vasa_bridge.cluster.config import ClusterConfig
    from vasa_bridge.errors import VasaBridgeError

    if args.render or args.livelink:
        raise VasaBridgeError("--ray serves motion only for now: drop --render / --livelink (docs/cluster.md)")
    try:
        from vasa_bridge.cluster.app import serve_cluster_forever
    except ImportError as e:
        raise VasaBridgeError(f"--ray needs Ray Serve ({e}): pip install -e '.[cluster]'") from None
    low, high = parse_autoscale(args.autoscale) if args.autoscale else (0, 0)
    config = ClusterConfig(
        replicas=args.replicas, autoscale_min=low, autoscale_max=high, target_sessions_per_replica=args.target_sessions,
        ray_address=args.ray_address, http_host=args.host, http_port=args.ws_port,
        directory_port=None if args.no_zmq else args.zmq_port, advertise_host=args.host, backend=args.backend,
        engine=args.engine, replica_num_cpus=args.replica_cpus, deploy=not args.directory_only,
        server=server_config)
    return serve_cluster_forever(config)


def _livelink_target(text: str) -> tuple[str, int]:
    """--livelink HOST:PORT, resolved once at start: a wrong host fails here, not in every session's open."""
    import socket

    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.interop.live_link_udp import parse_host_port

    try:
        host, port = parse_host_port(text)
        address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4]
    except (ValueError, OSError) as e:
        raise VasaBridgeError(f"--livelink: {e}") from None
    return str(address[0]), port
