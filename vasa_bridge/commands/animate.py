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
    parser.add_argument("--mark-position", default="bottom-right",
                        choices=("bottom-right", "bottom-left", "top-right", "top-left"),
                        help="corner for the visible 'synthetic' mark (it cannot be removed)")
    parser.add_argument("--device", default="cpu", help="torch device for rendering (cpu, cuda)")
    add_motion_source_arguments(parser)


def motion_from_args(args: argparse.Namespace, audio_16k: "object | None"):
    """The motion clip for this run: a baked clip, or motion generated from the audio."""
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
    from vasa_bridge.audio import load_audio
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.motion import layout
    from vasa_bridge.render.portrait import Portrait, portrait_source
    from vasa_bridge.render.video import animate_to_files

    if not str(args.output).lower().endswith(".mp4"):
        raise VasaBridgeError(f"-o must name an .mp4 file, got {args.output}")
    portrait_src, portrait_name = portrait_source(args.portrait)
    portrait = Portrait.prepare(portrait_src, args.size, landmarks_json=args.landmarks)
    for note in portrait.notes:
        print(f"note: {note}")
    audio = load_audio(args.audio) if args.audio else None
    clip = motion_from_args(args, audio)
    if abs(clip.fps - layout.FPS) > 1e-3:
        raise VasaBridgeError(f"motion clip is at {clip.fps:g} fps; the renderer expects {layout.FPS}")
    if len(clip) == 0:
        raise VasaBridgeError("the motion clip has no frames")
    frames = apply_overrides(clip.frames, args) if args.clip else clip.frames
    if audio is not None:
        n_frames = max(1, int(round(len(audio) / MODEL_SAMPLE_RATE_HZ * layout.FPS)))
        frames = fit_to_duration(frames, n_frames)
    try:
        written = animate_to_files(portrait, frames, audio, args.output, args.strip, args.device, args.mark_position,
                                   RENDER_BATCH)
    except ValueError as e:
        raise VasaBridgeError(f"cannot animate {portrait_name}: {e}") from None
    print(f"wrote {args.output}: {written} frames at {layout.FPS} fps ({written / layout.FPS:.2f} s), "
          f"{args.size}x{args.size}, portrait {portrait_name}")
    if args.strip:
        print(f"wrote {args.strip}")
    return 0
