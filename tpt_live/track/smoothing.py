"""One-Euro filtering of keypoint tracks (Casiez, Roussel and Vogel, CHI 2012).

The filter is a first-order low-pass whose cutoff rises with the signal's speed: still joints are
smoothed hard (jitter goes), fast joints follow with little lag. It works elementwise on arrays of any
shape, so one class serves 2D keypoints (J, 2) in source pixels and 3D keypoints (J, 3) in the
lifter's units. Raw values are never overwritten: callers keep both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tpt_live.errors import InputError


@dataclass(frozen=True)
class SmoothingConfig:
    enabled: bool = True  # False passes values through untouched
    min_cutoff: float = 1.0  # Hz: cutoff at rest; lower = smoother still joints, more lag
    beta: float = 0.01  # speed coefficient (1 / unit of the signal); higher = less lag when moving
    d_cutoff: float = 1.0  # Hz: cutoff of the speed estimate itself
    min_score: float = 0.0  # keypoints scoring below this do not update the filter (held instead)

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0:
            raise InputError(f"min_cutoff {self.min_cutoff} and d_cutoff {self.d_cutoff} must be > 0 Hz")
        if self.beta < 0:
            raise InputError(f"beta {self.beta} must be >= 0")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with `cutoff` Hz sampled every `dt` seconds."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Elementwise One-Euro filter over arrays of a fixed shape, with explicit timestamps.

    Timestamps may be irregular (dropped frames, variable frame rate): the smoothing factor is computed
    from the actual gap. A time that does not advance returns the previous output unchanged.
    """

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the history (a new video, a cut, a lost subject)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Filter one sample.

        x: array of any fixed shape (e.g. (J, 2)); t: seconds; mask: boolean array broadcastable to x,
        False where the sample should be ignored (the previous filtered value is held). Returns a new
        float64 array of x's shape.
        """
        x = np.asarray(x, dtype=np.float64)
        if not self.config.enabled:
            return x.copy()
        if self._x is None or self._t is None or self._dx is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        cfg = self.config
        dx = (x - self._x) / dt
        dx_hat = self._dx + _alpha(cfg.d_cutoff, dt) * (dx - self._dx)
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(dx_hat)
        x_hat = self._x + _alpha(cutoff, dt) * (x - self._x)
        if mask is not None:
            keep = np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
            x_hat = np.where(keep, x_hat, self._x)
            dx_hat = np.where(keep, dx_hat, self._dx)
        self._x, self._dx, self._t = x_hat, dx_hat, t
        return x_hat.copy()


class PoseSmoother:
    """One filter for 2D keypoints and one for 3D keypoints of a single subject."""

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self.kp2d = OneEuroFilter(config)
        self.kp3d = OneEuroFilter(config)

    def reset(self) -> None:
        self.kp2d.reset()
        self.kp3d.reset()

    def smooth(
        self, xy: np.ndarray, score: np.ndarray, t: float, kp3d: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """xy: (J, 2) source pixels; score: (J,); t: seconds; kp3d: (J, 3) or None.

        Returns (smoothed xy (J, 2), smoothed kp3d (J, 3) or None). Scores are not filtered.
        """
        mask = (np.asarray(score) >= self.config.min_score)[:, None]
        out2 = self.kp2d(xy, t, mask)
        out3 = self.kp3d(kp3d, t, mask) if kp3d is not None else None
        return out2, out3
