"""vasa-bridge loadtest: sessions a sidecar sustains in real time, and their lateness, with and without a flooder."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None,
                        help="a running sidecar's ZeroMQ request URL (tcp://...); default: start one here "
                             "(amplitude backend, in its own process)")
    parser.add_argument("--stream-url", default=None, help="its ZeroMQ stream URL (default: request port + 1)")
    parser.add_argument("--flood-url", default=None,
                        help="where the flooder connects: tcp://... or ws://... (default: the request URL)")
    parser.add_argument("--sessions", default="8,16,32,48,64,96,128",
                        help="session counts to try, in order, until one is not sustained")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per session and step")
    parser.add_argument("--p95-limit-ms", type=float, default=200.0,
                        help="a step is sustained while chunk lateness p95 stays within this")
    parser.add_argument("--no-flooder", action="store_true", help="skip the runs with a flooding client")


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.transport.config import ServerConfig
    from vasa_bridge.bench.loadtest import ramp
    from vasa_bridge.transport.runner import SubprocessServer

    try:
        steps = tuple(int(n) for n in args.sessions.split(","))
    except ValueError:
        raise VasaBridgeError(f"--sessions must be comma-separated counts, got {args.sessions!r}") from None
    own = None
    if args.url is None:
        own = SubprocessServer(ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0, max_sessions=max(steps) + 8,
                                            max_sessions_per_client=64))
    with own if own is not None else nullcontext():
        url = own.endpoints.zmq_url if own is not None else args.url
        stream_url = own.endpoints.zmq_stream_url if own is not None else args.stream_url
        flood_url = args.flood_url or url
        flood_binding = "ws" if flood_url.startswith(("ws://", "wss://")) else "zmq"
        summary = []
        for flooded in ((False,) if args.no_flooder else (False, True)):
            best, done = ramp(url, stream_url, steps, args.seconds, args.p95_limit_ms,
                              flood_url if flooded else None, flood_binding)
            at_best = next((s for s in done if s.sessions == best), None)
            summary.append((flooded, best, at_best.p95_lateness_ms if at_best else float("nan")))
    print()
    print(f"{'flooder':<8} {'sessions sustained':>18} {'p95 lateness ms':>16}   (limit {args.p95_limit_ms:g} ms)")
    for flooded, best, p95 in summary:
        print(f"{'yes' if flooded else 'no':<8} {best:>18d} {p95:>16.1f}")
    return 0
