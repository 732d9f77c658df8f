"""vasa-bridge datagen --out DIR [--hours H] [--workers N] [--seed S] [--small]: build or resume the corpus."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="data/corpus", help="corpus directory (an unfinished build resumes)")
    parser.add_argument("--hours", type=float, default=3.0, help="hours of audio to plan (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2, one per core)")
    parser.add_argument("--seed", type=int, default=0, help="planning seed (default 0)")
    parser.add_argument("--families", nargs="*", default=None,
                        help="voice families to use (default all: espeak flite piper kokoro)")
    parser.add_argument("--items-per-shard", type=int, default=None, help="items per shard (default 200)")
    parser.add_argument("--small", action="store_true", help="a tiny corpus (about a minute of audio) for tests")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from vasa_bridge.datagen.build import ITEMS_PER_SHARD, BuildConfig, build_corpus
    from vasa_bridge.datagen.voices import FAMILIES
    from vasa_bridge.errors import VasaBridgeError

    families = tuple(args.families) if args.families else FAMILIES
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise VasaBridgeError(f"unknown voice families {unknown}; choose from {' '.join(FAMILIES)}")
    if args.hours <= 0 or args.workers < 1:
        raise VasaBridgeError("--hours must be positive and --workers at least 1")
    hours = 1.0 / 60 if args.small else args.hours
    per_shard = args.items_per_shard or (5 if args.small else ITEMS_PER_SHARD)
    config = BuildConfig(out_dir=Path(args.out), hours=hours, seed=args.seed, workers=args.workers,
                         items_per_shard=per_shard, families=families, progress=not args.quiet)
    stats = build_corpus(config)
    print(json.dumps(stats, indent=1))
    if stats["complete"]:
        manifest = json.loads((config.out_dir / "manifest.json").read_text())
        print(f"corpus: {manifest['hours_total']:.2f} h in {manifest['items']} items "
              f"({manifest['failed_items']} failed), neural share {manifest['neural_share']:.0%}; "
              f"by family {manifest['hours_by_family']}; held out: {', '.join(manifest['held_out_voices'])}")
    return 0
