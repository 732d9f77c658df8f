"""vasa-bridge eval [--weights W] [--lines N] [--corpus DIR] [--out out/eval]: score the motion model on held-out
voices and languages against the amplitude baseline and the teacher; print a table, write a plot and JSON."""

from __future__ import annotations

import argparse

from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped one)")
    parser.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "torch", "tensorrt"))
    parser.add_argument("--lines", type=int, default=24, help="lines per evaluation set")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the runtime's)")
    parser.add_argument("--sampler", default=None, choices=("ddim", "dpmpp_2m"))
    parser.add_argument("--guidance-scale", type=float, default=DEFAULT_GUIDANCE_SCALE,
                        help="classifier-free guidance scale")
    parser.add_argument("--corpus", default=None, help="also evaluate each held-out voice of a built corpus' "
                        "test split (--lines per voice)")
    parser.add_argument("--out", default="out/eval", help="folder for eval.png and eval.json")
    parser.add_argument("--no-controls", action="store_true", help="skip the control-adherence runs")
    parser.add_argument("--real", choices=("none", "final", "dev", "all"), default="final",
                        help="real human voices (scripts/fetch_real_speech.sh): 'final' = read English, klettres "
                        "and the untouched sets (default); 'dev' = read English, klettres and the other sets "
                        "choices were made on (Warzone 2100's pseudo-labelled voices need the frontend-train "
                        "extra the first time); 'all' = both; 'none' skips them")
    parser.add_argument("--real-only", action="store_true", help="only the real-voice sets")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from vasa_bridge.runtime.diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, DiffusionBackend
    from vasa_bridge.train.data import corpus_pairs, synth_pairs
    from vasa_bridge.train.evaluate import control_adherence, evaluate_set, format_table, plot_results

    backend = DiffusionBackend(args.engine, weights=args.weights, sampler=args.sampler or DEFAULT_SAMPLER,
                               steps=args.steps or DEFAULT_STEPS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.real != "none":
        _real_voices(backend, args, out)
        if args.real_only:
            return 0
    # Clean audio and neutral controls with free gaze: lip sync is measured on the plain case.
    sets = {"held-out voice en-us+f4": synth_pairs(args.lines, 9001, "heldout-voice", corrupt=False,
                                                   controls=_neutral()),
            "held-out language de": synth_pairs(args.lines, 9002, "heldout-language", corrupt=False,
                                                controls=_neutral())}
    if args.corpus:   # every held-out corpus voice on its own: neural voices are where audio-only models slip
        by_voice: dict[str, list] = {}
        for pair in corpus_pairs(args.corpus, "test"):
            group = by_voice.setdefault(f"corpus held-out {pair.voice}", [])
            if len(group) < args.lines:
                group.append(pair)
        sets.update(sorted(by_voice.items()))
    results = {}
    for i, (name, pairs) in enumerate(sets.items()):
        results[name] = evaluate_set(backend, pairs, streamed=(i == 0), guidance_scale=args.guidance_scale)
        print(format_table(name, results[name]), flush=True)
    controls = [] if args.no_controls else control_adherence(backend, sets["held-out voice en-us+f4"][:6], 77,
                                                             args.guidance_scale)
    if controls:
        print("== control adherence (held-out voice, 6 lines): Δ when the control changes")
        print(f"  {'':<38}{'model':>10}{'teacher':>10}  want")
        for what, m, t, want in controls:
            print(f"  {what:<38}{m:>10.3f}{t:>10.3f}  {want}")
    plot_results(results, controls, out / "eval.png")
    summary = {name: {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
                      for k, v in r.items() if k != "example"} for name, r in results.items()}
    summary["control_adherence"] = [list(c) for c in controls]
    (out / "eval.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out / 'eval.png'} and {out / 'eval.json'}")
    return 0


def _real_voices(backend, args: argparse.Namespace, out) -> None:
    import json

    from vasa_bridge.train.real_eval import (evaluate_real_set, format_real_table, plot_real, real_voice_sets,
                                             summary)

    ear = _whisper_ear(args.weights)
    results = {}
    for name, clips in real_voice_sets(dev=args.real in ("dev", "all"), final=args.real in ("final", "all")).items():
        results[name] = evaluate_real_set(backend, clips, guidance_scale=args.guidance_scale, ear=ear)
        print(format_real_table(name, results[name]), flush=True)
    plot_real(results, out / "real.png")
    (out / "real.json").write_text(json.dumps(summary(results), indent=1))
    print(f"wrote {out / 'real.png'} and {out / 'real.json'}")


def _whisper_ear(weights: str | None):
    """The Whisper ear beside the weights for the bake+ear column, or None (with why) when it cannot run here."""
    from vasa_bridge.errors import VasaBridgeError
    from vasa_bridge.model.whisper_ear import ear_beside

    try:
        return ear_beside(weights)
    except VasaBridgeError as e:
        print(f"no bake+ear column: {e}")
        return None


def _neutral():
    from vasa_bridge.motion.controls import Controls

    return Controls()
