"""vasa-bridge eval-render [--portrait IMG] [--clip CLIP] [--size 512]

Render a portrait and measure the result by running the face mesh afresh on the rendered pixels: lip gap vs
jawOpen, lips sealed by mouthClose, eye openness on blinks, iris shift with gaze, and how much the photo outside
the face changed. Without --clip it uses a probe clip that sweeps exactly those controls; with --clip it measures
that clip's frames (the jaw correlation over all of them) and runs the probe for blinks and gaze.

With --set it measures the whole portrait set (vasa_bridge/render/portrait_set.py: photos, paintings, a drawing,
greyscale, tight crops, 3/4 views; extracted from installed and Debian packages on first use) and prints a table
with pass/fail per portrait against the goals; --sheet writes a contact sheet PNG."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--portrait", default=None, help="portrait photo; default: scikit-image's astronaut")
    parser.add_argument("--landmarks", default=None, help="landmarks JSON for portraits the detector misses")
    parser.add_argument("--clip", default=None, help="motion clip (.csv or .json) whose jaw motion to measure")
    parser.add_argument("--size", type=int, choices=(256, 512), default=None, help="default 512 (256 with --set)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-frames", type=int, default=200, help="measure at most this many clip frames")
    parser.add_argument("--face", type=int, default=None, help="which face in a photo of several (1 = leftmost)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--set", action="store_true", help="measure the whole portrait set instead (at 256 px "
                        "unless --size is given)")
    parser.add_argument("--set-cache", default=None, help="where the set's extracted images are kept "
                        "(default ~/.cache/vasa_bridge/portrait_set)")
    parser.add_argument("--sheet", default=None, help="with --set: write a contact sheet PNG here")
    parser.add_argument("--strip", default=None, help="write a frame strip PNG: the portrait at rest, jawOpen 0.5 "
                        "and 1, sealed lips (0.3, 0.7), blink, rest, gaze left/right; with --set the README's strip "
                        "(a smile, glasses, a painting, greyscale: photo, closed, open, sealed, blink)")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    import numpy as np

    from vasa_bridge.motion import layout
    from vasa_bridge.render import measure
    from vasa_bridge.render.portrait import Portrait, portrait_source
    from vasa_bridge.render.renderer import Renderer

    if args.set:
        return _run_set(args)
    args.size = args.size or 512
    src, name = portrait_source(args.portrait)
    portrait = Portrait.prepare(src, args.size, landmarks_json=args.landmarks, face=args.face)
    for note in portrait.notes:
        print(f"note: {note}")
    renderer = Renderer(portrait, args.device)
    frames, parts = measure.probe_clip()
    if args.clip:
        from vasa_bridge.motion.clip_io import read_clip
        clip = read_clip(args.clip)
        picks = np.linspace(0, len(clip) - 1, min(args.max_frames, len(clip))).round().astype(int)
        own = clip.frames[picks]
        # The clip's frames stand in for the jaw sweep; the probe's sealed/blink/gaze frames follow.
        rest = frames[parts["jaw"].stop:]
        offset = len(own) - parts["jaw"].stop
        parts = {k: (slice(0, len(own)) if k == "jaw" else slice(v.start + offset, v.stop + offset))
                 for k, v in parts.items()}
        frames = np.concatenate([own, rest]).astype(np.float32)
        if np.ptp(own[:, layout.channel("jawOpen")]) < 1e-3:
            print("note: the clip's jawOpen is constant; the jaw correlation is undefined (printed as 0)")
    report = measure.evaluate(portrait, renderer, frames, parts)
    if args.strip:
        from vasa_bridge.render.video import save_strip
        save_strip(args.strip, renderer.render(strip_frames()), columns=9, tile_px=160)
    if args.json:
        print(json.dumps({"portrait": name, "size": args.size, **asdict(report)}, indent=2))
    else:
        print(f"portrait {name}, {args.size}x{args.size}" + (f", clip {args.clip}" if args.clip else ", probe clip"))
        for line in report.lines():
            print("  " + line)
    return 0


def strip_frames():
    """(9, 60): rest, jawOpen 0.5 and 1, sealed lips over an open jaw (0.3, 0.7), blink, rest, gaze left/right."""
    import numpy as np

    from vasa_bridge.motion import layout
    frames = np.zeros((9, layout.N_CHANNELS), np.float32)
    frames[:, layout.channel("headZ")] = layout.DEFAULT_HEAD_DISTANCE_M
    for i, (name, value) in enumerate([("jawOpen", 0.0), ("jawOpen", 0.5), ("jawOpen", 1.0), ("jawOpen", 0.3),
                                       ("jawOpen", 0.7), ("eyeBlinkLeft", 1.0), ("jawOpen", 0.0),
                                       ("gazeYaw", -0.4), ("gazeYaw", 0.4)]):
        frames[i, layout.channel(name)] = value
    frames[3, layout.channel("mouthClose")] = 0.3
    frames[4, layout.channel("mouthClose")] = 0.7
    frames[5, layout.channel("eyeBlinkRight")] = 1.0
    return frames


README_PORTRAITS = ("astronaut", "grace-hopper", "dwarf-explorer", "grace-hopper-grey")


def _run_set(args: argparse.Namespace) -> int:
    """Every portrait of the set: figures, pass/fail, a contact sheet. Exit status 1 if any portrait fails."""
    import json
    from pathlib import Path

    from vasa_bridge.render import portrait_set, set_eval

    cache = Path(args.set_cache) if args.set_cache else portrait_set.DEFAULT_CACHE
    images = portrait_set.fetch_portrait_set(cache)
    results = set_eval.evaluate_set(images, args.size or 256)
    if args.json:
        print(json.dumps([{"portrait": r.entry.name, "covers": r.entry.covers, "refusal": r.refusal,
                           "failures": r.failures, **r.figures} for r in results], indent=2))
    else:
        print("\n".join(set_eval.table_lines(results)))
    if args.sheet:
        set_eval.save_contact_sheet(results, args.sheet)
        print(f"wrote {args.sheet}")
    if args.strip:
        set_eval.save_readme_strip(results, README_PORTRAITS, args.strip)
        print(f"wrote {args.strip}")
    median_ok = set_eval.frontal_median_r(results) >= set_eval.LIP_R_FRONTAL_MEDIAN_MIN
    return 0 if median_ok and all(r.passed for r in results) else 1
