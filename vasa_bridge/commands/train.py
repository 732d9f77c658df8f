"""vasa-bridge train [--corpus DIR] [--out out/train] [--max-minutes M] [--install]: train the speech front end and
the motion model.

Without --corpus this is the shipped recipe (train/recipe.py): lines synthesised with espeak-ng and MBROLA voices
and performed by the phonetic teacher, a front end distilled from Whisper's encoder, then the denoiser. Run it
again after an interruption or the time budget: every stage resumes from its cache or checkpoint."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", default=None, help="built corpus folder (vasa-bridge datagen); default: "
                        "synthesise pairs with espeak-ng + the teacher")
    parser.add_argument("--out", default="out/train", help="checkpoint, cached pairs, loss curve, weights")
    parser.add_argument("--items", type=int, default=None, help="synthesised training lines (default: recipe)")
    parser.add_argument("--frontend-steps", type=int, default=None, help="front-end distillation steps")
    parser.add_argument("--data-only", action="store_true", help="build the training lines (synthesised and "
                        "pseudo-labelled real ones) and the front end's distillation targets, then stop (`make data`)")
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

    import numpy as np
    import torch

    from vasa_bridge.audio.frontend import DEFAULT_FRONTEND, load_frontend
    from vasa_bridge.model.denoiser import ModelConfig
    from vasa_bridge.model.weights import DEFAULT_WEIGHTS
    from vasa_bridge.train.data import corpus_pairs
    from vasa_bridge.train.loop import TrainConfig, train
    from vasa_bridge.train.recipe import (Recipe, articulation_head, closure_weights, distillation_set, lines_key,
                                          packed_pairs, real_lines, real_lines_key, speech_frontend, training_lines)

    torch.set_num_threads(args.threads)
    cfg = TrainConfig()
    if args.steps is not None:
        cfg = dataclasses.replace(cfg, steps=args.steps)
    recipe = Recipe() if args.items is None else Recipe(items=args.items)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.corpus:   # a built corpus has no clean twin of its audio: it trains with the shipped front end
        pairs = corpus_pairs(args.corpus, "train")
        frontend_path = out / "speech_frontend.npz"
        shutil.copyfile(DEFAULT_FRONTEND, frontend_path)
        source = lines_id = f"corpus:{Path(args.corpus).resolve()}"
    else:
        pairs = training_lines(out, recipe)
        real = real_lines(out, recipe)
        if args.data_only:
            distillation_set(out, pairs, recipe)
            print(f"training data ready in {out}: run `make train` (or vasa-bridge train --out {out})")
            return 0
        frontend_path = speech_frontend(out, pairs, recipe, args.frontend_steps)
        source = f"espeak+mbrola-teacher:{recipe.items}:{recipe.seed}+{len(real)} real pseudo-labelled"
        lines_id = f"{lines_key(recipe)}+{real_lines_key(recipe)}"
        pairs = pairs + real
    frontend = load_frontend(frontend_path)
    packed = packed_pairs(out, pairs, frontend, lines_id)
    closures = closure_weights(pairs)
    del pairs
    print(f"training pairs: {len(packed.n_frames)} lines, {packed.hours:.2f} h of audio ({source})")
    model_cfg = ModelConfig(n_features=frontend.n_features)
    weights = train(packed, out, cfg, model_cfg, max_minutes=args.max_minutes,
                    info={"data": source, "hours": packed.hours, "frontend_sha256": frontend.sha256})
    head_path = articulation_head(out, packed, frontend, closures)
    written = [weights, frontend_path, head_path]
    complete = torch.load(weights, weights_only=False)["info"].get("complete")
    if complete and not args.corpus:
        from vasa_bridge.train.calibrate import calibrate_weights
        from vasa_bridge.train.recipe import whisper_ear

        lines = training_lines(out, recipe)
        written.append(whisper_ear(out, lines, recipe))
        curves = calibrate_weights(weights, lines)
        for name in ("eyelid", "lips"):
            if f"{name}_in" in curves:
                print(f"{name} curve from {curves['lines']} training lines: "
                      f"{np.round(curves[f'{name}_in'], 2).tolist()} → {np.round(curves[f'{name}_out'], 2).tolist()}")
    print(f"wrote {', '.join(str(p) for p in written)} and {out / 'loss.png'}")
    if args.install:
        if not torch.load(weights, weights_only=False)["info"].get("complete"):
            print("training not finished: run again to resume before --install copies the weights")
            return 1
        DEFAULT_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, DEFAULT_WEIGHTS)
        shutil.copyfile(frontend_path, DEFAULT_FRONTEND)
        for path in written[2:]:
            shutil.copyfile(path, DEFAULT_WEIGHTS.with_name(path.name))
        print(f"installed {DEFAULT_WEIGHTS}, {DEFAULT_FRONTEND} and {', '.join(p.name for p in written[2:])}")
    return 0
