"""The temporal lifter's training step (trainer/lifter_train.py with `LifterConfig.window` > 1).

Each sample is a run of 2W - 1 consecutive normalised frames ending at a random frame (frames before the
run's start replaced by its first frame, as a live track starts). Its last W frames are lifted causally,
each from its own window of W frames (exactly what the lifter sees live); those W lifts are rotated to
one random view and projected, and that rotated window is lifted again, giving the last frame in the
random view; rotated back and projected, it must reproduce the input (the lift-reproject-lift cycle of
the per-frame lifter, with the same 2D-only losses: 2D prior on the random views, bones, joint limits,
bone lengths constant between consecutive frames). No 3D labels; every output trained on is causal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tpt_live.lifter import TemporalLifter, project, rotate
from trainer.lifter_losses import bone_loss, gravity_loss, limit_loss, smooth_loss, temporal_loss


def run_starts(lengths: list[int]) -> Tensor:
    """(N,) index of the first frame of each frame's run, for runs of `lengths` frames laid end to end."""
    starts = torch.cumsum(torch.tensor([0, *lengths[:-1]]), 0)
    return torch.repeat_interleave(starts, torch.tensor(lengths))


def window_index(idx: Tensor, first: Tensor, window: int) -> Tensor:
    """(B, window) frame indices of the windows ending at frames `idx` (B,): idx - window + 1 .. idx, clamped
    to the run's first frame `first[idx]` (never a frame of another run, never a later frame)."""
    idx = idx[:, None] + torch.arange(1 - window, 1)[None]
    return torch.maximum(idx, first[idx[:, -1:]])


def causal_lifts(lifter: TemporalLifter, x: Tensor) -> Tensor:
    """Frames x (B, 2W - 1, J, 2) -> (B, W, J, 3): the lifts of the last W frames, each from its own window."""
    w = lifter.cfg.window
    windows = torch.stack([x[:, k : k + w] for k in range(w)], 1)  # (B, W, W, J, 2)
    return lifter(windows.flatten(0, 1)).unflatten(0, (len(x), w))


def window_terms(
    lifter: TemporalLifter,
    x: Tensor,
    R: Tensor,
    ref: Tensor,
    w_limits: float,
    w_smooth: float,
    w_gravity: float,
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Loss terms of frame runs x (B, 2W - 1, J, 2) (noisy, normalised, root-centred) under view rotations R
    (B, 3, 3).

    Returns ({name: term}, the causal lifts (B * W, J, 3), their random views (B * W, J, 2) for the 2D prior,
    not yet normalised). Terms as the per-frame step: cycle2d and cycle3d (on the last frame), bone and
    temporal (consecutive lifts), and limits, smooth, gravity when weighted.
    """
    c, rn = lifter.cfg.camera_distance, lifter.cfg.root_neck
    Y = causal_lifts(lifter, x)  # (B, W, J, 3)
    Yr = rotate(Y, R[:, None])
    xr = project(Yr, c)
    Y2 = lifter(xr)  # the last frame, lifted from the random view's window
    x2 = project(rotate(Y2, R.mT), c)
    cycle2d = ((x[:, -1] - x2) ** 2).sum(-1).mean() / rn**2
    cycle3d = ((Yr[:, -1] - Y2) ** 2).sum(-1).mean()
    frames = Y.flatten(0, 1)
    Y0, Y1 = Y[:, :-1].flatten(0, 1), Y[:, 1:].flatten(0, 1)
    terms = {"cycle2d": cycle2d, "cycle3d": cycle3d, "bone": bone_loss(frames, ref), "temporal": temporal_loss(Y0, Y1)}
    if w_limits > 0:
        terms["limits"] = limit_loss(frames)
    if w_smooth > 0:
        terms["smooth"] = smooth_loss(Y0, Y1)
    if w_gravity > 0:
        terms["gravity"] = gravity_loss(frames)
    return terms, frames, xr.flatten(0, 1)
