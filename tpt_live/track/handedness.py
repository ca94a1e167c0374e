"""Left and right from a second model: the pose model's labels swapped where a handedness model reads them the
other way round.

The shipped default 2D model reads a baby on its tummy as a supine one mirrored: its keypoints sit on the right
body parts but with left and right swapped (docs/MONITOR.md). The handedness model (`--model handedness`, the same
recipe on renders with prone bodies) tells them apart. `Relabel` runs it on the crops the pose model saw, every
`every` seconds of stream time, and compares the two models' signed widths (`tpt_live.skeleton`); a reading
says "swap" when the handedness model is clear (|s| >= BACK_2D) and reads the opposite of the pose model. The
pose model's labels are swapped on frames where more than half of the readings of the last `window` seconds say
so (an unclear reading counts against: a swap needs steady evidence); stills: each photo on its own reading. A
swap exchanges the left and right joints (`FLIP_INDEX`) and mirrors the 3D lift through the picture plane
(z -> -z): the lift of the mirrored labels faced the camera, the relabelled body faces away, and both project to
the same picture. Part affines are left as they are (the overlay draws shapes, not labels).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from tpt_live.backend import PoseBackend, Poses
from tpt_live.checkpoint import resolve_model_file
from tpt_live.errors import InputError, TptError
from tpt_live.skeleton import BACK_2D, FLIP_INDEX, signed_width_2d

log = logging.getLogger(__name__)
SHIPPED_HANDEDNESS = "handedness"  # the shipped handedness model's name (`--model handedness`), the default


class Relabel:
    """Per-track vote of the handedness model against the pose model (module docstring)."""

    def __init__(self, model: PoseBackend, every: float = 0.25, window: float = 2.0, stills: bool = False) -> None:
        self.model, self.every, self.window, self.stills = model, every, window, stills
        self._votes: deque[tuple[float, bool]] = deque()  # (t, a clear reading says the opposite) per reading
        self._read_t = -np.inf

    def swaps(self, crops: np.ndarray, times: list[float], poses: Poses) -> np.ndarray:
        """(B,) bool: which frames of a batch get their labels swapped. crops: (B, S, S, 3) the pose model's
        inputs; times: stream seconds; poses: the pose model's output on them (keypoints in any similar frame)."""
        due = []
        for i, t in enumerate(times):
            if self.stills or not 0.0 <= t - self._read_t < self.every:  # (a clock that went back reads at once)
                due.append(i)
                self._read_t = t
        readings: dict[int, bool] = {}  # frame -> the handedness model clearly reads the opposite
        if due:
            for i, kp in zip(due, self.model.infer(crops[due]).keypoints, strict=True):
                theirs, ours = signed_width_2d(kp), signed_width_2d(poses.keypoints[i])
                readings[i] = abs(theirs) >= BACK_2D and bool(np.sign(theirs) != np.sign(ours))
        out = np.zeros(len(times), bool)
        for i, t in enumerate(times):
            if self.stills:
                out[i] = bool(readings.get(i))
                continue
            if i in readings:
                self._votes.append((t, readings[i]))
            while self._votes and (self._votes[0][0] <= t - self.window or self._votes[0][0] > t):
                self._votes.popleft()
            out[i] = 2 * sum(v for _, v in self._votes) > len(self._votes)
        return out


def swapped(poses: Poses, which: np.ndarray) -> Poses:
    """`poses` with left and right exchanged (and the lift mirrored in depth) on the frames `which` marks."""
    if not which.any():
        return poses
    keypoints, consistency = poses.keypoints.copy(), poses.consistency.copy()
    keypoints[which] = keypoints[which][:, list(FLIP_INDEX)]
    consistency[which] = consistency[which][:, list(FLIP_INDEX)]
    kp3d = None
    if poses.kp3d is not None:
        kp3d = poses.kp3d.copy()
        kp3d[which] = kp3d[which][:, list(FLIP_INDEX)] * np.array([1.0, 1.0, -1.0], np.float32)
    return replace(poses, keypoints=keypoints, consistency=consistency, kp3d=kp3d)


def open_handedness(
    model: str | None, open_backend: Callable[..., PoseBackend], pose: PoseBackend, **kwargs: Any
) -> PoseBackend | None:
    """The handedness model `model` (a file or a shipped name; None: none) on the runtime `open_backend` gives
    with `kwargs`, beside the pose backend `pose`, or None. It reads the pose model's own crops, so it must take
    the same input; the pose model itself needs none (its own keypoints give its handedness). The shipped one (the
    default, `SHIPPED_HANDEDNESS`) is skipped with a log line where it is absent, cannot open or cannot share the
    crops; any other model is then an error (InputError, or the runtime's own)."""
    optional = model == SHIPPED_HANDEDNESS
    if model is None or (optional and not _installed(model)):
        return None
    try:
        backend = open_backend(model, **kwargs)
    except TptError as exc:  # e.g. --backend tensorrt without an engine for it
        if not optional:
            raise
        log.warning("no handedness model (a prone baby's left and right stay unread): %s", exc)
        return None
    if backend.model_digest == pose.model_digest:
        backend.close()
        return None
    if (backend.input_size, backend.framing) == (pose.input_size, pose.framing):
        return backend
    backend.close()
    why = (
        f"it takes {backend.input_size}-px {backend.framing} inputs, the pose model {pose.input_size}-px {pose.framing}"
    )
    if optional:
        log.info("no handedness model: %s", why)
        return None
    raise InputError(f"--handedness {model}: {why}")


def _installed(model: str) -> bool:
    try:
        resolve_model_file(model)  # raises for a file that is not there
    except TptError:
        return False
    return True


def relabelled(pose: PoseBackend, handedness: PoseBackend | None) -> Callable[[np.ndarray], np.ndarray]:
    """Keypoints of a batch of unrelated stills (B, S, S, 3) -> (B, J, 2), each relabelled on its own reading."""
    relabel = Relabel(handedness, stills=True) if handedness is not None else None

    def infer(frames: np.ndarray) -> np.ndarray:
        poses = pose.infer(frames)
        if relabel is None:
            return poses.keypoints
        return swapped(poses, relabel.swaps(frames, [0.0] * len(frames), poses)).keypoints

    return infer
