"""The temporal lifter's training step (trainer/lifter_train.py with `LifterConfig.window` > 1).

Each sample is a causal window of W consecutive normalised frames of one run, ending at a random frame
(frames before the run's start replaced by its first frame, as a live track starts). The whole window is
lifted (`TemporalLifter.lift_window`), rotated to one random view, projected and lifted again: the same
lift-reproject-lift cycle and the same 2D-only losses as the per-frame lifter, on every frame of the
window; bone lengths are kept constant between consecutive frames of the window. No 3D labels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tpt_live.lifter import TemporalLifter
from trainer.lifter_losses import bone_loss, cycle_losses, gravity_loss, limit_loss, smooth_loss, temporal_loss


def run_starts(lengths: list[int]) -> Tensor:
    """(N,) index of the first frame of each frame's run, for runs of `lengths` frames laid end to end."""
    starts = torch.cumsum(torch.tensor([0, *lengths[:-1]]), 0)
    return torch.repeat_interleave(starts, torch.tensor(lengths))


def window_index(idx: Tensor, first: Tensor, window: int) -> Tensor:
    """(B, W) frame indices of the windows ending at frames `idx` (B,): idx - W + 1 .. idx, clamped to the
    run's first frame `first[idx]` (never a frame of another run, never a later frame)."""
    idx = idx[:, None] + torch.arange(1 - window, 1)[None]
    return torch.maximum(idx, first[idx[:, -1:]])


def window_terms(
    lifter: TemporalLifter,
    x: Tensor,
    R: Tensor,
    ref: Tensor,
    w_limits: float,
    w_smooth: float,
    w_gravity: float,
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Loss terms of windows x (B, W, J, 2) (noisy, normalised, root-centred) under view rotations R (B, 3, 3).

    Returns ({name: term}, the lifts of every frame (B * W, J, 3), the random views (B * W, J, 2) for the
    2D prior, not yet normalised). Terms as
    the per-frame step: cycle2d, cycle3d, bone, temporal (consecutive frames of each window), and limits,
    smooth, gravity when weighted.
    """
    c, rn = lifter.cfg.camera_distance, lifter.cfg.root_neck
    l2d, l3d, Y, xr = cycle_losses(x, lifter.lift_window, R[:, None], c, rn)
    frames = Y.flatten(0, 1)
    Y0, Y1 = Y[:, :-1].flatten(0, 1), Y[:, 1:].flatten(0, 1)
    terms = {"cycle2d": l2d, "cycle3d": l3d, "bone": bone_loss(frames, ref), "temporal": temporal_loss(Y0, Y1)}
    if w_limits > 0:
        terms["limits"] = limit_loss(frames)
    if w_smooth > 0:
        terms["smooth"] = smooth_loss(Y0, Y1)
    if w_gravity > 0:
        terms["gravity"] = gravity_loss(frames)
    return terms, frames, xr.flatten(0, 1)
