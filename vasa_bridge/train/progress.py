"""The loss log every training loop keeps: a mean every few steps, shown on the progress bar and kept for the
loss-curve plot and the checkpoint."""

from __future__ import annotations

import numpy as np


class LossLog:
    def __init__(self, bar, every: int, history: list[tuple[int, float]] | None = None, digits: int = 4) -> None:
        self.bar, self.every, self.digits = bar, every, digits
        self.history: list[tuple[int, float]] = history if history is not None else []
        self._running: list[float] = []

    def add(self, step: int, loss: float) -> None:
        self._running.append(loss)
        if len(self._running) == self.every:
            self.history.append((step, float(np.mean(self._running))))
            self.bar.set_postfix(loss=f"{self.history[-1][1]:.{self.digits}f}")
            self._running = []
        self.bar.update(1)

    @property
    def last(self) -> float | None:
        return self.history[-1][1] if self.history else None
