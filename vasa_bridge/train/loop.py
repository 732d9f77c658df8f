"""Training loop: EDM denoising of windows of teacher latents, conditioned on audio and controls.

Resumable (a checkpoint every `checkpoint_every` steps and on Ctrl-C or the time budget; run again to continue),
tqdm progress, loss curve PNG. The final file is the EMA of the weights (what diffusion models sample best with).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vasa_bridge.audio.constants import FEATURES_PER_MOTION_FRAME
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.model.conditioning import SPAN_BACK_FEATURES, SPAN_FEATURES
from vasa_bridge.model.denoiser import ModelConfig, MotionDenoiser
from vasa_bridge.model.edm import edm_loss_weight
from vasa_bridge.model.inputs import CONTEXT, NEW, PAD
from vasa_bridge.model.latent import PcaLatent
from vasa_bridge.model.weights import save_weights
from vasa_bridge.motion import layout
from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW
from vasa_bridge.train.data import PairSet
from vasa_bridge.train.progress import LossLog

# Mouth and jaw carry lip sync, the thing viewers judge first: their errors count this much more.
MOUTH_WEIGHT = 4.0
MOUTH_CHANNELS = tuple(n for n in layout.ARKIT_NAMES if n.startswith(("mouth", "jaw", "cheekPuff", "tongue")))
# Blinks are short and their timing uncertain, so the x0 estimate averaged them into half-closures (median peak
# 0.45); weighted like the mouth they reach 0.67 and the streamed blink rate fell from 31 to 17/min.
BLINK_WEIGHT = 4.0
BLINK_CHANNELS = ("eyeBlinkLeft", "eyeBlinkRight")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 6_000               # optimizer steps (the cosine schedule spans them)
    batch_windows: int = 96
    lr: float = 1e-3
    warmup_steps: int = 300
    weight_decay: float = 0.01
    ema_decay: float = 0.998
    p_drop_audio: float = 0.1        # classifier-free guidance: train the null-audio model too
    p_drop_controls: float = 0.1
    context_noise: float = 0.05      # committed frames at inference are the model's own: don't trust them fully
    # Windows whose context is replaced by padding: with a context the controls are redundant (the committed frames
    # already show the gaze, smile, distance), so without these the model learns to ignore them.
    p_context_drop: float = 0.25
    velocity_weight: float = 1.0     # first differences across the context/new seam and among new frames
    # Frames whose lips are closed in the teacher's performance (p/b/m, pauses) count this much more: the x0 estimate
    # otherwise leaves them a few hundredths open, and closures are what viewers check first.
    closure_weight: float = 3.0
    p_mean: float = -1.0             # log-normal σ sampling (EDM)
    p_std: float = 1.4
    seed: int = 0
    checkpoint_every: int = 500


def channel_weights() -> np.ndarray:
    w = np.ones(layout.N_CHANNELS, np.float32)
    for name in MOUTH_CHANNELS:
        w[layout.channel(name)] = MOUTH_WEIGHT
    for name in BLINK_CHANNELS:
        w[layout.channel(name)] = BLINK_WEIGHT
    return w


class WindowSampler:
    """Random training windows: (latent, kind, audio spans, controls) with the last n ∈ [1, max_new] tokens new."""

    def __init__(self, pairs: PairSet, latent: PcaLatent, config: ModelConfig, seed: int,
                 p_context_drop: float = 0.0) -> None:
        self.pairs, self.config, self.p_context_drop = pairs, config, p_context_drop
        self.latents = latent.encode(pairs.frames)                    # (total_frames, L)
        self.rng = np.random.default_rng(seed)
        self.p_item = pairs.n_frames / pairs.n_frames.sum()

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        c, p, rng = self.config, self.pairs, self.rng
        w = c.window_frames
        item = rng.choice(len(p.n_frames), size=batch, p=self.p_item)
        t = p.n_frames[item]
        n_new = np.minimum(rng.integers(1, c.max_new_frames + 1, size=batch), t)
        end = (n_new + np.floor(rng.random(batch) * (t - n_new + 1))).astype(np.int64)   # last new frame + 1
        frame = end[:, None] - w + np.arange(w)[None, :]                                 # (B, W) item frame index
        kind = np.where(frame < 0, PAD, np.where(frame < (end - n_new)[:, None], CONTEXT, NEW))
        drop = rng.random(batch) < self.p_context_drop
        kind[drop] = np.where(kind[drop] == CONTEXT, PAD, kind[drop])
        rows = p.frame_start[item][:, None] + np.maximum(frame, 0)
        x0 = np.where((kind == PAD)[..., None], 0.0, self.latents[rows]).astype(np.float32)  # (B, W, L)
        feat_rows = (p.feature_start[item][:, None, None] + FEATURES_PER_MOTION_FRAME * frame[..., None]
                     - SPAN_BACK_FEATURES + np.arange(SPAN_FEATURES)[None, None, :])        # (B, W, SPAN)
        audio = p.features[feat_rows].astype(np.float32)                                  # (B, W, SPAN, F)
        return {"x0": torch.from_numpy(x0), "kind": torch.from_numpy(kind.astype(np.int64)),
                "audio": torch.from_numpy(audio), "controls": torch.from_numpy(p.controls[item].astype(np.float32))}


def closed_lips(x0: torch.Tensor, latent: PcaLatent) -> torch.Tensor:
    """(B, W, 1) 1.0 where the decoded target frame's lips touch (motion/measures.py's aperture)."""
    frames = x0 @ torch.from_numpy(latent.decode_matrix) + torch.from_numpy(latent.mean)          # (B, W, C)

    def ch(*names: str) -> torch.Tensor:
        return torch.stack([frames[..., layout.channel(n)] for n in names]).mean(0)

    gap = (ch("jawOpen") - ch("mouthClose") + 0.4 * ch("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                                                      "mouthLowerDownRight")
           + 0.2 * ch("mouthFunnel") - 0.3 * ch("mouthPressLeft", "mouthPressRight")
           - 0.3 * ch("mouthRollLower", "mouthRollUpper"))
    return (gap < LIPS_CLOSED_BELOW).float().unsqueeze(-1)


def denoising_loss(net: MotionDenoiser, batch: dict[str, torch.Tensor], decode_w: torch.Tensor,
                   cfg: TrainConfig, gen: torch.Generator, latent: PcaLatent | None = None) -> torch.Tensor:
    """EDM-weighted x0 error, measured in (channel-scaled, mouth-weighted) frame space, plus velocity error."""
    x0, kind = batch["x0"], batch["kind"]
    b = x0.shape[0]
    sigma = torch.exp(cfg.p_mean + cfg.p_std * torch.randn(b, generator=gen))                     # (B,)
    is_new = (kind == NEW).unsqueeze(-1).float()                                                 # (B, W, 1)
    is_ctx = (kind == CONTEXT).unsqueeze(-1).float()
    noise = torch.randn(x0.shape, generator=gen)
    x = x0 + is_new * sigma[:, None, None] * noise + is_ctx * cfg.context_noise * torch.randn(x0.shape, generator=gen)
    audio_keep = (torch.rand(b, generator=gen) >= cfg.p_drop_audio).float()
    controls_keep = (torch.rand(b, generator=gen) >= cfg.p_drop_controls).float()
    denoised = net(x, sigma, kind, batch["audio"], batch["controls"], audio_keep, controls_keep)
    weight = edm_loss_weight(sigma, net.config.sigma_data)[:, None, None]                        # λ(σ)
    err = (denoised - x0) @ decode_w                                                              # (B, W, C)
    frame_w = 1.0 if latent is None else 1.0 + (cfg.closure_weight - 1.0) * closed_lips(x0, latent)   # (B, W, 1)
    x0_loss = (weight * frame_w * is_new * err ** 2).sum() / (is_new.sum() * err.shape[-1])
    # Velocity: frame-to-frame change of each new frame vs its predecessor (context or new) — the seam term.
    has_prev = is_new[:, 1:] * (kind[:, :-1] != PAD).unsqueeze(-1).float()                      # (B, W-1, 1)
    clean_prev = torch.where((kind[:, :-1] == CONTEXT).unsqueeze(-1), x[:, :-1], denoised[:, :-1])
    vel_err = ((denoised[:, 1:] - clean_prev) - (x0[:, 1:] - x0[:, :-1])) @ decode_w
    vel_loss = (weight * has_prev * vel_err ** 2).sum() / (has_prev.sum().clamp_min(1) * err.shape[-1])
    return x0_loss + cfg.velocity_weight * vel_loss


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def plot_losses(history: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, losses = np.array(history).T
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, losses, lw=0.6, alpha=0.4, label="per 50 steps")
    k = max(1, len(losses) // 40)
    ax.plot(steps[k - 1:], np.convolve(losses, np.ones(k) / k, mode="valid"), lw=1.5, label=f"mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(pairs: PairSet, out_dir: Path, cfg: TrainConfig, model_cfg: ModelConfig = ModelConfig(),
          max_minutes: float | None = None, progress: bool = True, info: dict | None = None) -> Path:
    """Train (or resume) in `out_dir`; returns the path of the weights file written there."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    latent = PcaLatent.fit(pairs.frames, model_cfg.latent_dim)
    feats = torch.from_numpy(pairs.features.astype(np.float32))
    net = MotionDenoiser(model_cfg, feats.mean(0), feats.std(0).clamp_min(1e-3))
    del feats
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = WindowSampler(pairs, latent, model_cfg, cfg.seed, cfg.p_context_drop)
    decode_w = torch.from_numpy((latent.components * latent.stddev[:, None]) * channel_weights()[None, :] ** 0.5)
    step, history = 0, []
    ckpt_path = out_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt["train_config"] != asdict(cfg) or ckpt["model_config"] != model_cfg.to_dict():
            raise VasaBridgeError(f"{ckpt_path} was made with another config; delete it or use another --out")
        net.load_state_dict(ckpt["net"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["opt"])
        gen.set_state(ckpt["gen"])
        sampler.rng.bit_generator.state = ckpt["sampler_rng"]
        step, history = ckpt["step"], ckpt["history"]
        latent = PcaLatent.from_dict(ckpt["latent"])

    def checkpoint() -> None:
        torch.save({"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "sampler_rng": sampler.rng.bit_generator.state, "step": step,
                    "history": history, "latent": latent.to_dict(), "train_config": asdict(cfg),
                    "model_config": model_cfg.to_dict()}, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)

    t0 = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not progress)
    log = LossLog(bar, 50, history)
    try:
        net.train()
        while step < cfg.steps:
            for group in opt.param_groups:
                group["lr"] = _lr(step, cfg)
            loss = denoising_loss(net, sampler.sample(cfg.batch_windows), decode_w, cfg, gen, latent)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                decay = min(cfg.ema_decay, (1 + step) / (10 + step))
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(p, 1 - decay)
            step += 1
            log.add(step, loss.item())
            if step % cfg.checkpoint_every == 0:
                checkpoint()
            if max_minutes is not None and time.monotonic() - t0 > 60 * max_minutes:
                bar.write(f"time budget of {max_minutes} min reached at step {step}; run again to resume")
                break
    except KeyboardInterrupt:
        bar.write(f"interrupted at step {step}; checkpoint saved, run again to resume")
    finally:
        bar.close()
        checkpoint()
    if history:
        plot_losses(history, out_dir / "loss.png")
    weights_path = out_dir / "motion_dit.pt"
    save_weights(weights_path, ema, latent, {**(info or {}), "steps": step, "train_config": asdict(cfg),
                                             "final_loss": history[-1][1] if history else None,
                                             "latent_explained_variance": latent.explained_variance(pairs.frames),
                                             "complete": step >= cfg.steps})
    (out_dir / "history.json").write_text(json.dumps(history))
    return weights_path
