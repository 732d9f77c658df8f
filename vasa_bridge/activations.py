"""The numpy activation our run-time networks share (the speech front end, the articulation head, the Whisper ear).

Their torch twins train with GELU's tanh approximation (`approximate="tanh"`), so numpy and torch agree to float
rounding."""

from __future__ import annotations

import numpy as np


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


__all__ = ["gelu"]
