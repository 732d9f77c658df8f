"""`vasa-bridge stream SPEECH.wav`: play a speech file into a sidecar session and save the motion that comes back
(and, with --video, the rendered frames of a portrait as an mp4)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vasa_bridge.errors import VasaBridgeError


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
    parser.add_argument("--preset", action="append", default=[], metavar="NAME", help="also write per-frame "
                        "weights of a rig preset: vrm1, vrm0, oculus_visemes, cc4_extended, arkit_lr (repeatable; "
                        "inside a .json clip, or next to a .csv as NAME.<preset>.csv)")
    parser.add_argument("--fps", type=int, choices=(30, 60), default=60, help="frame rate of a .csv --out (the "
                        "25-fps motion resampled, numbered in 60-fps units as the Live Link Face app does)")
    parser.add_argument("--livelink", metavar="HOST:PORT", help="also send the motion live to Unreal as Live Link "
                        "Face UDP packets (60 fps, paced in real time; Unreal's default port is 11111)")
    parser.add_argument("--subject", default="vasa_bridge", help="Live Link subject name for --livelink")
    parser.add_argument("--video", metavar="MP4", help="also ask for rendered frames (the server needs --render; "
                        "--local has it) and write them with the audio to this mp4")
    parser.add_argument("--portrait", help="face image to upload for --video (default: the server's demo portrait)")
    parser.add_argument("--render-size", type=int, default=None, choices=(256, 512), help="render size for --video")


def run(args: argparse.Namespace) -> int:
    from vasa_bridge.client.core import DEFAULT_WS_URL, DEFAULT_ZMQ_URL
    from vasa_bridge.client.stream import stream_file_result
    from vasa_bridge.interop.presets import get_preset
    from vasa_bridge.motion import clip_io

    url = None if args.local else (args.url or (DEFAULT_WS_URL if args.ws else DEFAULT_ZMQ_URL))
    if args.url and args.url.startswith("ws"):
        args.ws = True
    controls = {"emotion": args.emotion} if args.emotion else None
    if args.portrait and not args.video:
        raise VasaBridgeError("--portrait is for --video (rendered frames)")
    render = {"size": args.render_size} if args.render_size else None
    for name in args.preset:  # fail before streaming, not after
        get_preset(name)
    pacer = _live_link_pacer(args) if args.livelink else None
    options = dict(speed=args.speed, chunk_ms=args.chunk_ms, controls=controls, seed=args.seed, token=args.token,
                   image_format="jpeg" if args.video else None, portrait=args.portrait, render=render,
                   on_motion=(lambda b: pacer.push(b.frames)) if pacer else None)
    try:
        if url is None:
            from vasa_bridge.private_sidecar import stream_file_private

            result = stream_file_private(args.audio, ws=args.ws, **options)
        else:
            result = stream_file_result(args.audio, url, **options)
    except BaseException:
        if pacer:
            pacer.close(drain=False)
            pacer.sender.close()
        raise
    sent = pacer.close() if pacer else 0  # the packets still queued go out in real time
    if pacer:
        pacer.sender.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = clip_io.write_clip(result.clip, out, csv_fps=args.fps, presets=args.preset)
    md = result.clip.metadata
    print(f"{len(result.clip)} frames ({result.clip.duration_s:.2f} s) over {md['binding']} -> {out}; "
          f"latency p50 {md['latency_ms_p50']:.1f} ms, p95 {md['latency_ms_p95']:.1f} ms; "
          f"{md['bytes_per_frame']:.0f} bytes/frame; synthetic")
    for extra in paths[1:]:
        print(f"wrote {extra}")
    if pacer:
        print(f"{sent} Live Link Face packets (60 fps) -> {args.livelink} as subject {args.subject!r}"
              + (f"; {pacer.send_errors} failed to send ({pacer.last_error})" if pacer.send_errors else ""))
    if args.video:
        written = write_rendered_video(result, args.audio, args.video)
        print(f"{written} rendered frames -> {args.video}; image latency p50 "
              f"{np.percentile(result.render_latency_ms, 50):.1f} ms, p95 "
              f"{np.percentile(result.render_latency_ms, 95):.1f} ms")
    return 0


def _live_link_pacer(args: argparse.Namespace):
    from vasa_bridge.interop.live_link_pacer import LiveLinkPacer
    from vasa_bridge.interop.live_link_udp import LiveLinkSender, parse_host_port
    from vasa_bridge.motion.layout import FPS

    try:
        host, port = parse_host_port(args.livelink)
        return LiveLinkPacer(LiveLinkSender(host, port, subject_name=args.subject), motion_fps=FPS)
    except (ValueError, OSError) as e:
        raise VasaBridgeError(f"--livelink: {e}") from None


def write_rendered_video(result: "object", audio_path: str, mp4_path: str) -> int:
    """The JPEG frames a session streamed, in seq order, muxed with the speech into an mp4 (marked synthetic)."""
    from vasa_bridge.audio import load_audio
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.motion import layout
    from vasa_bridge.render.video import write_mp4

    renders = sorted(result.renders, key=lambda b: b.seq)
    expected = sum(len(b.frames) for b in result.batches)
    got = sum(len(b.images) for b in renders)
    if got != expected:
        raise VasaBridgeError(f"the stream carried {got} images for {expected} motion frames")

    def batches():
        for batch in renders:
            yield np.stack([batch.decode(i) for i in range(len(batch.images))])

    return write_mp4(mp4_path, batches(), layout.FPS, load_audio(audio_path), MODEL_SAMPLE_RATE_HZ)

