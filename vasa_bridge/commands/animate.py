"""vasa-bridge animate --portrait IMG --audio SPEECH -o out.mp4 [--size 512] [--strip strip.png]

One photo + speech → a talking-face mp4 (H.264 + AAC). Motion comes from the audio (the motion model / teacher
via `vasa_bridge.motion_source`), or from a baked clip (`--clip clip.csv|json`). Every frame carries a visible
"synthetic" mark and the file says it is AI-generated (docs/responsible-use.md)."""

from __future__ import annotations

import argparse

from vasa_bridge.commands.common import add_motion_source_arguments, controls_from_args, performance_from_args

RENDER_BATCH = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--portrait", default=None,
                        help="portrait photo (jpg/png/webp/...); default: scikit-image's astronaut")
    parser.add_argument("--audio", default=None, help="speech audio (wav, flac, ogg, mp3, m4a)")
    parser.add_argument("--clip", default=None,
                        help="baked motion (.csv Live Link Face or .json) instead of motion from the audio")
    parser.add_argument("-o", "--output", default="out.mp4", help="mp4 to write")
    parser.add_argument("--size", type=int, choices=(256, 512), default=512, help="frame size in pixels")
    parser.add_argument("--strip", default=None, help="also write a PNG strip of frames (for docs)")
    parser.add_argument("--landmarks", default=None,
                        help="landmarks JSON for portraits the face detector misses (paintings, cartoons): "
                             "see docs/renderer.md")
    parser.add_argument("--face", type=int, default=None,
                        help="in a photo of several people, which face to animate, numbered from 1 left to right "
                             "(default: the largest)")
    parser.add_argument("--mark-position", default="bottom-right",
                        choices=("bottom-right", "bottom-left", "top-right", "top-left"),
                        help="corner for the visible 'synthetic' mark (it cannot be removed)")
    parser.add_argument("--device", default="cpu", help="torch device for rendering (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for rendering on the CPU (default 1: on a busy CPU more threads "
                             "spin-wait on each other and ran up to 10x slower; see docs/renderer.md)")
    add_motion_source_arguments(parser)


def motion_from_args(args: argparse.Namespace, audio_16k: "object | None"):
    """The motion clip for this run: a baked clip, or motion generated from the audio (an array or blocks)."""
    from vasa_bridge.errors import VasaBridgeError
    if args.clip:
        from vasa_bridge.motion.clip_io import read_clip
        return read_clip(args.clip)
    if audio_16k is None:
        raise VasaBridgeError("give --audio SPEECH (motion from speech) or --clip CLIP.csv|json (baked motion)")
    return performance_from_args(args, audio_16k, source_name=args.audio).clip


def apply_overrides(frames: "object", args: argparse.Namespace):
    """With a baked clip, --gaze and --head-distance set those channels (the clip was performed already, so
    --emotion and --seed have nothing to act on)."""
    import numpy as np

    from vasa_bridge.motion import layout
    frames = np.array(frames, np.float32)
    if args.gaze is not None:
        frames[:, layout.channel("gazeYaw")] = args.gaze[0]
        frames[:, layout.channel("gazePitch")] = args.gaze[1]
    if args.head_distance != layout.DEFAULT_HEAD_DISTANCE_M:
        controls_from_args(args)                           # validates the range
        frames[:, layout.channel("headZ")] = args.head_distance
    return frames


def fit_to_duration(frames: "object", n_frames: int):
    """Trim or extend (holding the last frame) so video and audio have the same length."""
    import numpy as np
    frames = np.asarray(frames, np.float32)
    if len(frames) >= n_frames:
        return frames[:n_frames]
    pad = np.repeat(frames[-1:], n_frames - len(frames), axis=0)
    return np.concatenate([frames, pad])


def run(args: argparse.Namespace) -> int:
    """Two passes over the audio, neither holding it in RAM: decode + resample it block by block into the motion
    source while a temporary file next to the output keeps the 16 kHz samples; then render, and mux the audio
    back from that file. RAM is bounded by a block plus the motion frames (60 float32 a frame), whatever the
    duration; with --text the teacher's alignment holds the whole 16 kHz signal (230 MB per hour)."""
    from pathlib import Path

    from vasa_bridge.audio.blocks import AudioFile, AudioSpool
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.motion import layout
    from vasa_bridge.render.errors import RenderOutputError
    from vasa_bridge.render.portrait import Portrait, portrait_source

    if not str(args.output).lower().endswith(".mp4"):
        raise VasaBridgeError(f"-o must name an .mp4 file, got {args.output}")
    if args.threads < 1:
        raise VasaBridgeError(f"--threads must be at least 1, got {args.threads}")
    if args.device == "cpu":
        import torch

        torch.set_num_threads(args.threads)
    audio_file = AudioFile(args.audio) if args.audio else None      # a bad audio file fails before the slow part
    portrait_src, portrait_name = portrait_source(args.portrait)
    portrait = Portrait.prepare(portrait_src, args.size, landmarks_json=args.landmarks, face=args.face)
    for note in portrait.notes:
        print(f"note: {note}")
    if audio_file is None:
        return _render(args, motion_from_args(args, None), None, portrait, portrait_name)
    out_dir = Path(args.output).parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        spool = AudioSpool(directory=out_dir)   # beside the output, not in /tmp, which may be RAM (tmpfs)
    except OSError as e:
        raise RenderOutputError(f"cannot write in {out_dir}: {e}") from None
    with spool:
        blocks = spool.tee(audio_file.blocks(MODEL_SAMPLE_RATE_HZ))
        clip = motion_from_args(args, blocks)
        for _ in blocks:       # a baked clip reads no audio: spool it all the same, for its length and the mux
            pass
        n_frames = max(1, int(round(spool.n_samples / MODEL_SAMPLE_RATE_HZ * layout.FPS)))
        return _render(args, clip, spool, portrait, portrait_name, n_frames)


def _render(args: argparse.Namespace, clip: "object", spool: "object | None", portrait: "object",
            portrait_name: str, n_frames: int | None = None) -> int:
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.motion import layout
    from vasa_bridge.render.video import animate_to_files

    if abs(clip.fps - layout.FPS) > 1e-3:
        raise VasaBridgeError(f"motion clip is at {clip.fps:g} fps; the renderer expects {layout.FPS}")
    if len(clip) == 0:
        raise VasaBridgeError("the motion clip has no frames")
    frames = apply_overrides(clip.frames, args) if args.clip else clip.frames
    if n_frames is not None:
        frames = fit_to_duration(frames, n_frames)
    try:
        written = animate_to_files(portrait, frames, None if spool is None else spool.blocks(), args.output,
                                   args.strip, args.device, args.mark_position, RENDER_BATCH)
    except ValueError as e:
        raise VasaBridgeError(f"cannot animate {portrait_name}: {e}") from None
    print(f"wrote {args.output}: {written} frames at {layout.FPS} fps ({written / layout.FPS:.2f} s), "
          f"{args.size}x{args.size}, portrait {portrait_name}")
    if args.strip:
        print(f"wrote {args.strip}")
    return 0
