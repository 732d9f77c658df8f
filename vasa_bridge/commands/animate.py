"""vasa-bridge animate --portrait IMG --audio SPEECH -o out.mp4 [--size 512] [--strip strip.png]

One photo + speech → a talking-face mp4 (H.264 + AAC). Motion comes from the audio (the motion model / teacher
via `vasa_bridge.motion_source`), or from a baked clip (`--clip clip.csv|json`). Every frame carries a visible
"synthetic" mark and the file says it is AI-generated (docs/responsible-use.md)."""

from __future__ import annotations

import argparse

EMOTIONS_FALLBACK = ("neutral", "happy", "sad", "angry", "surprised")
RENDER_BATCH = 16


def _parse_gaze(text: str) -> tuple[float, float]:
    try:
        yaw, pitch = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gaze takes YAW,PITCH in radians (e.g. 0.1,0), got {text!r}") from None
    return yaw, pitch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--portrait", default=None,
                        help="portrait photo (jpg/png/webp/...); default: scikit-image's astronaut")
    parser.add_argument("--audio", default=None, help="speech audio (wav, flac, ogg, mp3, m4a)")
    parser.add_argument("--clip", default=None,
                        help="baked motion (.csv Live Link Face or .json) instead of motion from the audio")
    parser.add_argument("--text", default=None,
                        help="transcript of the audio: drives the phonetic teacher when no audio-only model is in "
                             "this build")
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
    parser.add_argument("--emotion", choices=EMOTIONS_FALLBACK, default="neutral")
    parser.add_argument("--emotion-intensity", type=float, default=1.0, metavar="0..1")
    parser.add_argument("--gaze", type=_parse_gaze, default=None, metavar="YAW,PITCH",
                        help="gaze target in radians (default: the performer looks around by itself)")
    parser.add_argument("--head-distance", type=float, default=0.6, metavar="METRES")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same performance")


def _controls(args: argparse.Namespace):
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.motion.controls import Controls
    gaze = args.gaze or (None, None)
    try:
        return Controls(emotion=args.emotion, emotion_intensity=args.emotion_intensity, gaze_yaw_rad=gaze[0],
                        gaze_pitch_rad=gaze[1], head_distance_m=args.head_distance)
    except ValueError as e:
        raise VasaBridgeError(str(e)) from None


def motion_from_args(args: argparse.Namespace, audio_16k: "object | None"):
    """The motion clip for this run: a baked clip, or motion generated from the audio."""
    from vasa_bridge.errors import VasaBridgeError
    if args.clip:
        from vasa_bridge.motion.clip_io import read_clip
        return read_clip(args.clip)
    if audio_16k is None:
        raise VasaBridgeError("give --audio SPEECH (motion from speech) or --clip CLIP.csv|json (baked motion)")
    controls = _controls(args)
    try:
        from vasa_bridge.motion_source import motion_for_audio
    except ImportError:
        motion_for_audio = None
    if motion_for_audio is not None:
        return motion_for_audio(audio_16k, controls, args.seed)
    try:
        from vasa_bridge.motion_source import teacher_performance
    except ImportError:
        teacher_performance = None
    if teacher_performance is not None and args.text:
        return teacher_performance(audio_16k, args.text, controls, args.seed, source_name=args.audio).clip
    raise VasaBridgeError(
        "this build has no audio-only motion source (vasa_bridge.motion_source.motion_for_audio); pass --text "
        "with the transcript, or a baked clip with --clip CLIP.csv|json")


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
        _controls(args)                                    # validates the range
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
    from vasa_bridge.render.portrait import Portrait
    from vasa_bridge.render.video import animate_to_files

    if not str(args.output).lower().endswith(".mp4"):
        raise VasaBridgeError(f"-o must name an .mp4 file, got {args.output}")
    if args.portrait is None:
        import skimage.data
        portrait_src: object = skimage.data.astronaut()
        portrait_name = "astronaut (scikit-image)"
    else:
        portrait_src, portrait_name = args.portrait, args.portrait
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
