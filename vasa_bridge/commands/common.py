"""Arguments shared by the commands that perform speech (bake, animate): controls and where motion comes from."""

from __future__ import annotations

import argparse

from vasa_bridge.motion.controls import EMOTIONS
from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE


def parse_gaze(text: str) -> tuple[float, float]:
    try:
        yaw, pitch = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gaze takes YAW,PITCH in radians (e.g. 0.1,0), got {text!r}") from None
    return yaw, pitch


def add_control_arguments(parser: argparse.ArgumentParser) -> None:
    """Controls shared by every command that performs speech."""
    parser.add_argument("--emotion", choices=EMOTIONS, default="neutral")
    parser.add_argument("--emotion-intensity", type=float, default=1.0, metavar="0..1")
    parser.add_argument("--gaze", type=parse_gaze, default=None, metavar="YAW,PITCH",
                        help="gaze target in radians (default: the performer looks around by itself)")
    parser.add_argument("--head-distance", type=float, default=0.6, metavar="METRES")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same performance")


def controls_from_args(args: argparse.Namespace):
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.motion.controls import Controls

    gaze = args.gaze or (None, None)
    try:
        return Controls(emotion=args.emotion, emotion_intensity=args.emotion_intensity, gaze_yaw_rad=gaze[0],
                        gaze_pitch_rad=gaze[1], head_distance_m=args.head_distance)
    except ValueError as e:
        raise VasaBridgeError(str(e)) from None


def performance_from_args(args: argparse.Namespace, audio_16k, source_name: str):
    """With --text: forced alignment + the phonetic teacher; otherwise the audio-only motion model.

    `audio_16k`: the whole 16 kHz signal or an iterable of its blocks. The model consumes blocks as they come
    (memory bounded whatever the duration); the teacher's forced alignment needs the whole signal, so with --text
    the blocks are joined (230 MB of RAM per hour of audio)."""
    import numpy as np

    from vasa_bridge.motion_source import model_performance, teacher_performance

    controls = controls_from_args(args)
    if args.text is None:
        return model_performance(audio_16k, controls, args.seed, args.guidance_scale, args.weights,
                                 whisper_ear=args.ear == "whisper")
    if not isinstance(audio_16k, np.ndarray):
        audio_16k = np.concatenate([np.zeros(0, np.float32), *audio_16k])
    return teacher_performance(audio_16k, args.text, controls, args.seed, source_name=source_name)


def add_motion_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", default=None, help="what is said (English): use the phonetic teacher on its "
                        "aligned phones instead of the audio-only motion model")
    parser.add_argument("--guidance-scale", type=float, default=DEFAULT_GUIDANCE_SCALE,
                        help="model only: classifier-free guidance (1 = off; 2 follows the audio more closely, at "
                        "twice the compute)")
    parser.add_argument("--weights", default=None, help="model only: weights file (default: the shipped one)")
    parser.add_argument("--ear", choices=("model", "whisper"), default="model", help="model only: what hears when "
                        "the lips close: the model's own causal ear (as streamed), or Whisper's encoder over the "
                        "whole clip (offline; pip install -e '.[whisper]'; closer lip sync on real voices)")
    add_control_arguments(parser)
