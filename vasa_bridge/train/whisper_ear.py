"""Train the Whisper ear (model/whisper_ear.py): a probe from Whisper's encoder rows to the teacher's closed lips.

It needs no new Whisper runs: the front end's distillation set already holds Whisper's rows of every synthesised
line's clean audio (its first items, in the lines' order), and each line's teacher frames say when the lips are
closed. Closures inside speech (brief, as for /p b m/) weigh 3×, as in the articulation head's loss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.model.whisper_ear import EarConfig, WhisperEar, save_ear
from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW, lip_aperture
from vasa_bridge.train.articulation import short_closures


@dataclass(frozen=True)
class EarTrainConfig:
    steps: int = 3000
    batch: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    pca_rows: int = 100_000
    seed: int = 0


def fit_whitened_pca(rows: np.ndarray, k: int, rng: np.random.Generator, max_rows: int) -> dict[str, np.ndarray]:
    sample = rows[rng.choice(len(rows), min(max_rows, len(rows)), replace=False)].astype(np.float64)
    mean = sample.mean(0)
    _, s, vt = np.linalg.svd(sample - mean, full_matrices=False)
    return {"mean": mean, "components": vt[:k], "scale": s[:k] / np.sqrt(len(sample))}


def ear_examples(distill, lines, config: EarConfig, pca: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, n_in), closed (N,), weights (N,)) over every frame of the lines whose distillation item matches
    them (item k is line k's heard/clean pair)."""
    mean, components, scale = (pca[k].astype(np.float32) for k in ("mean", "components", "scale"))
    xs, ys, ws = [], [], []
    for k, line in enumerate(lines):
        start, n = int(distill.starts[k]), int(distill.lengths[k])
        if abs(n - -(-len(line.audio_16k) // 160)) > 1:
            raise ValueError(f"distillation item {k} ({n} rows) is not line {k}: rebuild the distillation set")
        z = ((distill.targets[start:start + n].astype(np.float32) - mean) @ components.T) / scale
        frames = len(line.frames)
        rows = 4 * np.arange(frames)[:, None] + np.array(config.row_offsets)[None, :]
        xs.append(z[np.clip(rows, 0, n - 1)].reshape(frames, -1).astype(np.float32))
        closed = lip_aperture(line.frames) < LIPS_CLOSED_BELOW
        ys.append(closed)
        ws.append(1.0 + 2.0 * short_closures(closed))
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32), np.concatenate(ws).astype(np.float32)


def train_whisper_ear(distill, lines, out_path: str | Path, cfg: EarTrainConfig = EarTrainConfig(),
                      config: EarConfig = EarConfig(), progress: bool = True) -> WhisperEar:
    """`lines`: the training lines with clean audio, in the distillation set's order."""
    import torch
    from tqdm import tqdm

    rng = np.random.default_rng(cfg.seed)
    pca = fit_whitened_pca(distill.targets, config.components, rng, cfg.pca_rows)
    x, y, w = (torch.from_numpy(a) for a in ear_examples(distill, lines, config, pca))
    torch.manual_seed(cfg.seed)
    net = torch.nn.Sequential(torch.nn.Dropout(cfg.dropout), torch.nn.Linear(config.n_in, config.hidden),
                              torch.nn.GELU(approximate="tanh"), torch.nn.Dropout(cfg.dropout),
                              torch.nn.Linear(config.hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    bar = tqdm(range(cfg.steps), desc="Whisper ear", unit="step", disable=not progress, mininterval=5)
    for _ in bar:
        i = torch.randint(0, len(x), (cfg.batch,))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[i])[:, 0], y[i], weight=w[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    first, last = net[1], net[4]
    params = {**pca, "w1": first.weight.detach().numpy().T, "b1": first.bias.detach().numpy(),
              "w2": last.weight.detach().numpy()[0], "b2": last.bias.detach().numpy()[0]}
    ear = WhisperEar(config, params)
    save_ear(out_path, ear, {"frames": int(len(x)), "closed_share": float(y.mean()), "final_loss": float(loss.item()),
                             "train_config": cfg.__dict__})
    return ear


__all__ = ["EarTrainConfig", "train_whisper_ear", "ear_examples", "fit_whitened_pca"]
