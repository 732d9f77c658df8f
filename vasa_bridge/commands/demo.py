"""vasa-bridge demo: speak a line, turn it into face motion, and write what a user would look at."""

from __future__ import annotations

import argparse

DEMO_LINE = "Maybe Bob bought a map of the bumpy path before the movie began. Fine, we will find it together."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the demo's outputs")
    parser.add_argument("--text", default=DEMO_LINE)
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice that speaks the line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", action="store_true",
                        help="bake with forced alignment + the phonetic teacher instead of the audio-only model")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import soundfile as sf

    from vasa_bridge.audio import load_audio
    from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
    from vasa_bridge.motion.clip_io import write_clip
    from vasa_bridge.motion_source import model_performance, teacher_performance
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.plots import plot_clip

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    speech = synthesize(args.text, voice=args.voice)
    wav_path = out / "line.wav"
    sf.write(wav_path, speech.audio, speech.sample_rate_hz)
    print(f"1. spoke the line with espeak-ng ({args.voice}): {wav_path}")

    audio = load_audio(wav_path)
    if args.teacher:
        performance = teacher_performance(audio, args.text, seed=args.seed, source_name=str(wav_path))
        how = "forced alignment + phonetic teacher"
    else:
        performance = model_performance(audio, seed=args.seed)
        how = "audio-only diffusion motion model, no transcript"
    csv_path, json_path, png_path = out / "line.csv", out / "line.json", out / "line.png"
    write_clip(performance.clip, csv_path)
    write_clip(performance.clip, json_path)
    plot_clip(performance.clip, audio, MODEL_SAMPLE_RATE_HZ, png_path, performance.phones,
              title=f'"{args.text}"')
    print(f"2. baked it ({how}): {len(performance.clip)} frames at 25 fps")
    print(f"   Live Link Face CSV: {csv_path}")
    print(f"   JSON clip:          {json_path}")
    print(f"   plot:               {png_path}")

    from vasa_bridge.private_sidecar import stream_file_private

    result = stream_file_private(wav_path, speed=1.0)  # a private sidecar on free loopback ports, real-time pacing
    streamed_csv, streamed_png = out / "streamed.csv", out / "streamed.png"
    write_clip(result.clip, streamed_csv)
    plot_clip(result.clip, audio, MODEL_SAMPLE_RATE_HZ, streamed_png, title="received from the sidecar "
              f"(backend: {result.clip.metadata.get('backend', 'default')})")
    print(f"3. streamed it through the sidecar (ZeroMQ, 40 ms chunks in real time): {len(result.clip)} frames, "
          f"chunk→frames latency p50 {result.latency_ms(50):.0f} ms / p95 {result.latency_ms(95):.0f} ms, "
          f"{result.bytes_per_frame:.0f} bytes per frame")
    print(f"   received clip:      {streamed_csv}")
    print(f"   plot:               {streamed_png}")

    from vasa_bridge.render.portrait import Portrait, portrait_source
    from vasa_bridge.render.video import animate_to_files

    mp4_path, strip_path = out / "out.mp4", out / "strip.png"
    portrait = Portrait.prepare(portrait_source(None)[0], 512)
    n = animate_to_files(portrait, performance.clip.frames, audio, mp4_path, strip_path)
    print(f"4. animated the astronaut portrait with that motion: {n} frames, 512×512, H.264 + AAC, marked synthetic")
    print(f"   video:              {mp4_path}")
    print(f"   frame strip:        {strip_path}")
    return 0
