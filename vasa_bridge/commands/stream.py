"""`vasa-bridge stream SPEECH.wav`: play a speech file into a sidecar session and save the motion that comes back."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", help="speech file (wav, flac, mp3, ...)")
    parser.add_argument("--ws", action="store_true", help="use the WebSocket binding instead of ZeroMQ")
    parser.add_argument("--url", help="server address (default tcp://127.0.0.1:5570, or ws://127.0.0.1:5572/ "
                                      "with --ws)")
    parser.add_argument("--local", action="store_true", help="start a private sidecar for this run instead")
    parser.add_argument("--speed", type=float, default=1.0, help="x real time (0 = as fast as the server allows)")
    parser.add_argument("--chunk-ms", type=float, default=40.0, help="audio per request")
    parser.add_argument("--token", help="server token, if it requires one")
    parser.add_argument("--emotion", default=None, help="initial emotion control")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default="out/stream.csv", help="clip to write (.csv Live Link Face, or .json)")


def run(args: argparse.Namespace) -> int:
    from vasa_bridge.client.core import DEFAULT_WS_URL, DEFAULT_ZMQ_URL
    from vasa_bridge.client.stream import stream_file_result
    from vasa_bridge.motion import clip_io

    url = None if args.local else (args.url or (DEFAULT_WS_URL if args.ws else DEFAULT_ZMQ_URL))
    if args.url and args.url.startswith("ws"):
        args.ws = True
    controls = {"emotion": args.emotion} if args.emotion else None
    result = stream_file_result(args.audio, url, ws=args.ws, speed=args.speed, chunk_ms=args.chunk_ms,
                                controls=controls, seed=args.seed, token=args.token)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clip_io.write_clip(result.clip, out)
    md = result.clip.metadata
    print(f"{len(result.clip)} frames ({result.clip.duration_s:.2f} s) over {md['binding']} -> {out}; "
          f"latency p50 {md['latency_ms_p50']:.1f} ms, p95 {md['latency_ms_p95']:.1f} ms; "
          f"{md['bytes_per_frame']:.0f} bytes/frame; synthetic")
    return 0

