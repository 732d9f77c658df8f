"""Train the articulation head (model/articulation.py) on the packed training lines: each frame's audio span →
is the teacher's mouth closed (lip aperture < LIPS_CLOSED_BELOW), and how open is it.

Closures inside speech (runs of ≤ SHORT_CLOSURE_FRAMES closed frames between open ones: the /p b m/ contacts) are a
tenth of the frames but the ones viewers miss, so they weigh SHORT_CLOSURE_WEIGHT× in the loss (read English dev
set: p/b/m closed 85 % → 90 % with 3×). Dropout 0.2: a larger or longer-trained head fits the synthetic voices
better and real ones worse (held-out synthetic accuracy flat at 0.86, real aperture r 0.76 → 0.69).

A line's closures can be left out of the closure loss (`closure_weights`, per line): the pseudo-labelled real voices
(train/pseudo_labels.py) teach the head how open a shouting mouth is, but their closure times come from an aligner
on shouts. Learnt from too, the head sealed fewer lips: dev sets p/b/m closed 100 → 95 %
(read English) and 89 → 79 % (hedgewars dev packs); left out, 99 % and 100 %, aperture r 0.807 → 0.803 and 0.607 →
0.600 (both still above the head that never heard them: 0.788, 0.596).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.model.articulation import ArticulationConfig, ArticulationHead, save_articulation
from vasa_bridge.model.conditioning import SPAN_FEATURES, frame_spans
from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW, lip_aperture

SHORT_CLOSURE_FRAMES = 4
SHORT_CLOSURE_WEIGHT = 3.0
APERTURE_LOSS_WEIGHT = 10.0   # aperture MSE (values ~0.1) brought to the scale of the closure cross-entropy


@dataclass(frozen=True)
class ArticulationTrainConfig:
    steps: int = 3000
    batch: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    seed: int = 0


def articulation_examples(packed, silence_row: np.ndarray, closure_weights: np.ndarray | None = None,
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spans (N, SPAN, F) float16, teacher lip aperture (N,), closure loss weight (N,)) for every frame of every
    line; `closure_weights` (lines,) scales each line's closure weights (default 1)."""
    spans, apertures, weights = [], [], []
    for k in range(len(packed.n_frames)):
        n, row = int(packed.n_frames[k]), int(packed.feature_start[k])
        rows = packed.features[row: row + 4 * n + SPAN_FEATURES].astype(np.float32)   # past the end: silence rows
        spans.append(frame_spans(rows, 0, n, silence_row).astype(np.float16))
        aperture = lip_aperture(packed.frames[packed.frame_start[k]: packed.frame_start[k] + n])
        apertures.append(aperture)
        weight = 1.0 + (SHORT_CLOSURE_WEIGHT - 1.0) * short_closures(aperture < LIPS_CLOSED_BELOW)
        weights.append(weight * (1.0 if closure_weights is None else float(closure_weights[k])))
    return np.concatenate(spans), np.concatenate(apertures).astype(np.float32), np.concatenate(weights)


def short_closures(closed: np.ndarray) -> np.ndarray:
    """(T,) bool: frames in runs of at most SHORT_CLOSURE_FRAMES closed frames with open frames on both sides."""
    out = np.zeros(len(closed), bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], closed.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if start > 0 and end < len(closed) and end - start <= SHORT_CLOSURE_FRAMES:
            out[start:end] = True
    return out


def train_articulation(packed, frontend, out_path: str | Path,
                       cfg: ArticulationTrainConfig = ArticulationTrainConfig(),
                       closure_weights: np.ndarray | None = None) -> ArticulationHead:
    """Fit the head (torch, CPU: ~30 s for 3000 steps on the shipped lines) and write it to `out_path`."""
    import torch
    from tqdm import tqdm

    spans, aperture, weight = articulation_examples(packed, frontend.silence_row, closure_weights)
    config = ArticulationConfig(n_features=spans.shape[2])
    torch.manual_seed(cfg.seed)
    x = torch.from_numpy(spans.reshape(len(spans), -1))
    a, w = torch.from_numpy(aperture), torch.from_numpy(weight.astype(np.float32))
    closed = (a < LIPS_CLOSED_BELOW).float()
    drop = torch.nn.Dropout(cfg.dropout)
    net = torch.nn.Sequential(drop, torch.nn.Linear(config.n_in, config.hidden), torch.nn.GELU("tanh"),
                              torch.nn.Dropout(cfg.dropout), torch.nn.Linear(config.hidden, config.hidden),
                              torch.nn.GELU("tanh"), torch.nn.Dropout(cfg.dropout),
                              torch.nn.Linear(config.hidden, 2))
    opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(range(cfg.steps), desc="articulation head", unit="step")
    for step in bar:
        i = torch.randint(0, len(x), (cfg.batch,), generator=generator)
        out = net(x[i].float())
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], closed[i], weight=w[i])
                + APERTURE_LOSS_WEIGHT * torch.nn.functional.mse_loss(out[:, 1], a[i]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    params = {}
    for j, layer in enumerate(linears, start=1):
        params[f"w{j}"] = layer.weight.detach().numpy().T.copy()
        params[f"b{j}"] = layer.bias.detach().numpy().copy()
    head = ArticulationHead(config, params, frontend_sha256=frontend.sha256)
    save_articulation(out_path, head, {"frames": int(len(x)), "steps": cfg.steps, "final_loss": loss.item()})
    return head


__all__ = ["ArticulationTrainConfig", "articulation_examples", "short_closures", "train_articulation"]
