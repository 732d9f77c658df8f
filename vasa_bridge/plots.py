"""Pictures of a clip: the waveform with phone labels above the curves that matter for lip-sync and liveliness."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vasa_bridge.motion.clip import MotionClip
from vasa_bridge.phones.types import Phone

PLOT_CURVES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("jawOpen", ("jawOpen",)),
    ("mouthClose", ("mouthClose",)),
    ("mouthFunnel", ("mouthFunnel",)),
    ("eyeBlink", ("eyeBlinkLeft", "eyeBlinkRight")),
    ("headPitch (rad)", ("headPitch",)),
)


def plot_clip(clip: MotionClip, audio: np.ndarray, sample_rate_hz: int, path: str | Path,
              phones: Sequence[Phone] = (), title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n_rows = 1 + len(PLOT_CURVES)
    fig, axes = plt.subplots(n_rows, 1, figsize=(14, 1.3 * n_rows + 1), sharex=True,
                             gridspec_kw={"height_ratios": [1.6] + [1] * len(PLOT_CURVES)})
    t_audio = np.arange(len(audio)) / sample_rate_hz
    axes[0].plot(t_audio, audio, lw=0.4, color="0.3")
    axes[0].set_ylabel("audio")
    top = float(np.max(np.abs(audio))) if len(audio) else 1.0
    for i, p in enumerate(phones):
        colour = "tab:red" if p.viseme == "PP" else ("tab:orange" if p.viseme == "FF" else "tab:blue")
        axes[0].axvspan(p.start_s, p.end_s, color=colour if p.viseme in ("PP", "FF") else "none", alpha=0.15)
        if p.viseme != "sil":
            axes[0].text(0.5 * (p.start_s + p.end_s), top * (0.95 if i % 2 else 0.75), p.symbol, ha="center",
                         va="top", fontsize=7, color=colour)
    t = clip.times_s
    for ax, (label, names) in zip(axes[1:], PLOT_CURVES):
        values = np.mean([clip[n] for n in names], axis=0)
        ax.plot(t, values, lw=1.2, drawstyle="steps-post" if label == "eyeBlink" else "default")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        if "rad" not in label:
            ax.set_ylim(-0.05, 1.05)
        for p in phones:
            if p.viseme == "PP":
                ax.axvspan(p.start_s, p.end_s, color="tab:red", alpha=0.08)
    axes[-1].set_xlabel("time (s)   — red bands: p/b/m (lips must close), orange: f/v")
    fig.suptitle(title or "vasa_bridge clip", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
