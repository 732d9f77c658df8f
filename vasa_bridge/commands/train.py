"""vasa-bridge train [--corpus DIR] [--out out/train] [--max-minutes M] [--install]: train the motion model.

Without --corpus, training pairs are synthesised (espeak-ng voices → phonetic teacher), which is what reproduces
the shipped weights. Run it again after an interruption or the time budget: it resumes from the checkpoint."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", default=None, help="built corpus folder (vasa-bridge datagen); default: "
                        "synthesise pairs with espeak-ng + the teacher")
    parser.add_argument("--out", default="out/train", help="checkpoint, cached pairs, loss curve, weights")
    parser.add_argument("--items", type=int, default=None, help="synthesised training lines (default: config)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: config)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (on a shared 2-core machine one "
                        "thread ran 7× faster than two)")
    parser.add_argument("--install", action="store_true",
                        help="copy the finished weights to vasa_bridge/data/weights/ (what ships)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import shutil
    from pathlib import Path

    import torch

    from vasa_bridge.model.weights import DEFAULT_WEIGHTS
    from vasa_bridge.train.data import PairSet, corpus_pairs, synth_pairs
    from vasa_bridge.train.loop import TrainConfig, train

    torch.set_num_threads(args.threads)
    cfg = TrainConfig()
    if args.items is not None:
        cfg = dataclasses.replace(cfg, train_items=args.items)
    if args.steps is not None:
        cfg = dataclasses.replace(cfg, steps=args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = f"corpus:{Path(args.corpus).resolve()}" if args.corpus else f"espeak-teacher:{cfg.train_items}:{cfg.seed}"
    cache = out / "pairs.npz"
    source_file = out / "pairs.source"
    if cache.exists() and source_file.exists() and source_file.read_text() == source:
        pairs = PairSet.load(cache)
    else:
        raw = corpus_pairs(args.corpus, "train") if args.corpus else synth_pairs(cfg.train_items, cfg.seed,
                                                                                   progress=True)
        pairs = PairSet.pack(raw)
        pairs.save(cache)
        source_file.write_text(source)
    print(f"training pairs: {len(pairs.n_frames)} lines, {pairs.hours:.2f} h of audio ({source})")
    weights = train(pairs, out, cfg, max_minutes=args.max_minutes, info={"data": source, "hours": pairs.hours})
    print(f"wrote {weights} and {out / 'loss.png'}")
    if args.install:
        if not torch.load(weights, weights_only=False)["info"].get("complete"):
            print("training not finished: run again to resume before --install copies the weights")
            return 1
        DEFAULT_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, DEFAULT_WEIGHTS)
        print(f"installed {DEFAULT_WEIGHTS}")
    return 0
