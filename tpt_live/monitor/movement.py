"""Movement of a lying infant from tracked keypoints: per-frame energy and per-window features.

Convention: keypoints are (J, >=2) image pixels (x = col, y = row), `JOINT_NAMES` order; times are stream
seconds. Every distance is divided by the trunk length (pelvis to thorax, pixels, median over the recent
frames), so the figures do not depend on the camera distance or the image size: speeds are in trunk
lengths per second (TL/s), accelerations in TL/s^2. Limb speeds are taken relative to the pelvis, so
the whole body sliding on the mat is not limb movement; the movement energy counts the trunk's own
motion as well.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpt_live.skeleton import JOINT_INDEX

ENDS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")
_END_IDX = np.array([JOINT_INDEX[n] for n in ENDS])
_BODY_IDX = np.array([JOINT_INDEX[n] for n in ("pelvis", "thorax", "left_elbow", "right_elbow", "left_knee",
                                               "right_knee", *ENDS)])  # fmt: skip
_P, _T = JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]


def trunk_length(kp: np.ndarray) -> float:
    """Pelvis-thorax distance of one pose (J, >=2), pixels."""
    return float(np.linalg.norm(kp[_T, :2] - kp[_P, :2]))


@dataclass(frozen=True)
class MovementConfig:
    energy_window: float = 0.5  # seconds over which the per-frame energy is averaged
    moving_threshold: float = 0.15  # TL/s: energy above this counts as movement
    feature_window: float = 60.0  # seconds per row of movement features

    def __post_init__(self) -> None:
        from tpt_live.errors import InputError

        if self.energy_window <= 0 or self.feature_window <= 0 or self.moving_threshold < 0:
            raise InputError(
                f"movement windows ({self.energy_window}, {self.feature_window} s) must be > 0 and the "
                f"threshold ({self.moving_threshold} TL/s) >= 0"
            )


class MovementMeter:
    """Movement energy per frame: mean joint speed (trunk, elbows, knees, wrists, ankles) in TL/s, averaged
    over `energy_window` seconds of stream time. `reset()` after a gap (camera lost, infant absent)."""

    def __init__(self, config: MovementConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[float, np.ndarray] | None = None
        self._trunks: deque[float] = deque(maxlen=90)
        self._speeds: deque[tuple[float, float]] = deque()

    @property
    def trunk(self) -> float:
        """Median trunk length over the recent frames (pixels); 0 before the first frame."""
        return float(np.median(self._trunks)) if self._trunks else 0.0

    def update(self, kp: np.ndarray, t: float) -> float | None:
        """The averaged energy after the pose kp (J, >=2) pixels at stream time t; None until two frames."""
        self._trunks.append(trunk_length(kp))
        xy = kp[:, :2].astype(np.float64)
        prev, self._prev = self._prev, (t, xy)
        if prev is None or t <= prev[0] or self.trunk <= 0:
            return None
        speed = np.linalg.norm(xy[_BODY_IDX] - prev[1][_BODY_IDX], axis=1).mean() / (t - prev[0]) / self.trunk
        self._speeds.append((t, float(speed)))
        while self._speeds and self._speeds[0][0] <= t - self.config.energy_window:
            self._speeds.popleft()
        return float(np.mean([s for _, s in self._speeds]))


FEATURE_COLUMNS = (
    ["t_start", "t_end", "frames", "present_fraction", "activity"]
    + [f"{n}_{q}_{s}" for n in ENDS for q in ("speed", "accel") for s in ("median", "iqr")]
    + ["wrists_lr_corr", "ankles_lr_corr"]
)


def window_features(t: np.ndarray, kp: np.ndarray, trunk: float) -> dict[str, float]:
    """Wrist and ankle speed and acceleration (median, IQR) and left-right correlation of one window.

    t: (N,) seconds; kp: (N, J, >=2) pixels of frames with the infant present; trunk: pixels. Speeds are
    relative to the pelvis, finite differences over stream time. NaN where fewer than 3 frames.
    """
    out: dict[str, float] = {}
    ok = len(t) >= 3 and trunk > 0 and np.all(np.diff(t) > 0)
    speeds = {}
    for k, name in enumerate(ENDS):
        if not ok:
            for q in ("speed", "accel"):
                out[f"{name}_{q}_median"] = out[f"{name}_{q}_iqr"] = math.nan
            continue
        rel = (kp[:, _END_IDX[k], :2] - kp[:, _P, :2]) / trunk
        vel = np.gradient(rel, t, axis=0)
        acc = np.gradient(vel, t, axis=0)
        speeds[name] = np.linalg.norm(vel, axis=1)
        for q, v in (("speed", speeds[name]), ("accel", np.linalg.norm(acc, axis=1))):
            q1, q2, q3 = np.percentile(v, [25, 50, 75])
            out[f"{name}_{q}_median"], out[f"{name}_{q}_iqr"] = float(q2), float(q3 - q1)
    for pair, (a, b) in (("wrists", ENDS[:2]), ("ankles", ENDS[2:])):
        if ok and speeds[a].std() > 1e-9 and speeds[b].std() > 1e-9:
            out[f"{pair}_lr_corr"] = float(np.corrcoef(speeds[a], speeds[b])[0, 1])
        else:
            out[f"{pair}_lr_corr"] = math.nan
    return out


class FeatureWriter:
    """Collects frames and writes one CSV row of `FEATURE_COLUMNS` per `feature_window` of stream time."""

    def __init__(self, path: Path | None, config: MovementConfig) -> None:
        self.config, self.path = config, path
        self.rows: list[dict[str, float]] = []
        self._file = open(path, "w", newline="") if path is not None else None  # noqa: SIM115 - closed in close()
        self._csv = csv.DictWriter(self._file, FEATURE_COLUMNS) if self._file else None
        if self._csv is not None:
            self._csv.writeheader()
        self._start: float | None = None
        self._frames = 0
        self._t: list[float] = []
        self._kp: list[np.ndarray] = []
        self._moving = 0

    def add(self, t: float, kp: np.ndarray | None, present: bool, moving: bool, trunk: float) -> None:
        """One frame: its pose (J, >=2) pixels or None, presence, movement, current trunk length (pixels)."""
        if self._start is None:
            self._start = t
        if t - self._start >= self.config.feature_window:
            self._flush(t, trunk)
            self._start = t
        self._frames += 1
        if present and kp is not None:
            self._t.append(t)
            self._kp.append(kp[:, :2].astype(np.float64))
            self._moving += bool(moving)
        self._trunk = trunk

    def _flush(self, t_end: float, trunk: float) -> None:
        if self._start is None or self._frames == 0:
            return
        n = len(self._t)
        row = {"t_start": round(self._start, 3), "t_end": round(t_end, 3), "frames": self._frames,
               "present_fraction": n / self._frames, "activity": self._moving / n if n else math.nan}  # fmt: skip
        kp = np.stack(self._kp) if n else np.zeros((0, 16, 2))
        row.update(window_features(np.array(self._t), kp, trunk))
        self.rows.append(row)
        if self._csv is not None and self._file is not None:
            self._csv.writerow({k: (f"{v:.5g}" if isinstance(v, float) else v) for k, v in row.items()})
            self._file.flush()
        self._frames, self._t, self._kp, self._moving = 0, [], [], 0

    def close(self, t_end: float | None) -> None:
        """Write the last (partial) window and close the file."""
        if t_end is not None:
            self._flush(t_end, getattr(self, "_trunk", 0.0))
        if self._file is not None:
            self._file.close()
            self._file = None
