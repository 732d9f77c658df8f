"""vasa-bridge bake SPEECH -o clip.csv [--text "..."] [--plot clip.png]: audio only → the motion model;
with --text → forced alignment + the phonetic teacher.

The audio is read block by block, so files of any length bake in bounded memory with the motion model; with
--text or --plot the whole 16 kHz signal is held (230 MB per hour)."""

from __future__ import annotations

import argparse

from vasa_bridge.commands.common import add_motion_source_arguments, performance_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("speech", help="speech audio: wav, flac, ogg, mp3 (any rate, any channel count)")
    parser.add_argument("-o", "--output", required=True, help="clip path: .csv (Live Link Face) or .json")
    parser.add_argument("--preset", action="append", default=[], metavar="NAME", help="also write per-frame "
                        "weights of a rig preset: vrm1, vrm0, oculus_visemes, cc4_extended, arkit_lr (repeatable; "
                        "inside a .json clip, or next to a .csv as NAME.<preset>.csv)")
    parser.add_argument("--fps", type=int, choices=(30, 60), default=60, help="frame rate of a .csv clip: the "
                        "motion (25 fps) is resampled to it, numbered in 60-fps units as the Live Link Face app does")
    parser.add_argument("--plot", default=None, help="also write a PNG of the waveform, phones and curves")
    add_motion_source_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vasa_bridge.audio import load_audio
    from vasa_bridge.audio.blocks import AudioFile
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.interop.presets import get_preset
    from vasa_bridge.motion.clip_io import write_clip

    for name in args.preset:  # fail before the performance is computed, not after
        get_preset(name)

    # The plot draws the whole waveform, so it needs the whole signal; otherwise blocks as they are decoded.
    audio = load_audio(args.speech) if args.plot else AudioFile(args.speech).blocks()
    performance = performance_from_args(args, audio, source_name=args.speech)
    written = write_clip(performance.clip, args.output, csv_fps=args.fps, presets=args.preset)
    rate = f"{args.fps} fps rows" if args.output.lower().endswith(".csv") else f"{performance.clip.fps:g} fps"
    print(f"wrote {args.output}: {len(performance.clip)} frames ({performance.clip.duration_s:.2f} s) as {rate}, "
          + (f"{len(performance.phones)} phones" if args.text else "audio-only motion model"))
    for extra in written[1:]:
        print(f"wrote {extra}")
    if args.plot:
        from vasa_bridge.plots import plot_clip

        plot_clip(performance.clip, audio, MODEL_SAMPLE_RATE_HZ, args.plot, performance.phones,
                  title=f"{args.speech}: \"{args.text}\"" if args.text else f"{args.speech} (motion model)")
        print(f"wrote {args.plot}")
    return 0
