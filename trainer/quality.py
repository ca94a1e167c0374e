"""Label-free quality signals of a training run, measured on a fixed probe set of the user's own frames.

No labels exist on the user's footage, so training reports what can be checked without them:
- `bone_cv`: part-length consistency over time: per scene and bone, the coefficient of variation
  (std / mean) of the bone's length over the probe frames, averaged; a body whose limbs stretch and
  shrink from frame to frame scores high (with a static camera and one subject, true lengths barely change).
- `flip_err_pct`: left-right flip consistency: keypoints of the mirrored frame, mirrored back with left
  and right swapped, against the keypoints of the frame, mean distance in % of the input size S. The
  mirror runs across the subject's long axis: columns reversed for a head-up subject (`axis="x"`), rows
  for one lying sideways (`axis="y"`, `tpt-live train --init-rotation 90`); mirroring a sideways subject
  left-right would turn its head to the other side, which no fixed-orientation model can follow.
- `outside_share`: share of keypoints outside the input (parts leaving the frame).
- `bone_scale`: mean bone length over the template's (identity) bone lengths; near 0 = the body shrank.
`collapse_warnings` turns these and `template_gain` into warnings. `keypoint_shift_pct` says how far
training moved the keypoints (before vs after), in % of S.

Convention: keypoints (N, J, 2) are model-input pixels, x = column, y = row, pixel centres at integers,
so mirroring maps x (or y) to S - 1 - x.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from tpt_live.model import TptModel
from tpt_live.skeleton import BONE_INDEX, FLIP_INDEX
from trainer.data import Scene

_BONES = torch.tensor(BONE_INDEX)
_FLIP = torch.tensor(FLIP_INDEX)


class QualityProbe:
    """Up to `count` frames spread evenly over the scenes (at least 2 per scene), fixed for the run.

    frames: (N, 3, S, S) uint8; scene_ids: (N,) int.
    """

    def __init__(self, scenes: Sequence[Scene], count: int = 32, axis: str = "x") -> None:
        self.axis = axis
        per = max(2, count // max(len(scenes), 1))
        frames, ids = [], []
        for k, scene in enumerate(scenes):
            n = len(scene.frames)
            index = np.unique(np.linspace(0, n - 1, min(n, per)).round().astype(int))
            frames.append(scene.frames[index])
            ids += [k] * len(index)
        self.frames = torch.from_numpy(np.ascontiguousarray(np.concatenate(frames).transpose(0, 3, 1, 2)))
        self.scene_ids = torch.tensor(ids)

    def keypoints(self, model: TptModel) -> Tensor:
        """(N, J, 2) float32 keypoints of the probe frames."""
        return eval_keypoints(model, self.frames)

    @torch.no_grad()
    def measure(self, model: TptModel) -> dict[str, float]:
        size = model.cfg.input_size
        kp = self.keypoints(model)
        flipped = _flipped_keypoints(model, self.frames, size, self.axis)
        lengths = (kp[:, _BONES[:, 0]] - kp[:, _BONES[:, 1]]).norm(dim=-1)  # (N, bones)
        cvs = []
        for k in self.scene_ids.unique():
            part = lengths[self.scene_ids == k]
            if len(part) >= 2:
                cvs.append((part.std(0) / part.mean(0).clamp_min(1e-3)).mean())
        identity = model.read_out(torch.eye(2, 3).expand(1, model.template.num_parts, 2, 3).to(model.maps.device))
        ref = identity.keypoints[0].float().cpu()
        ref_len = (ref[_BONES[:, 0]] - ref[_BONES[:, 1]]).norm(dim=-1).clamp_min(1e-3)
        outside = ((kp < -0.5) | (kp > size - 0.5)).any(-1).float().mean()
        return {
            "bone_cv": round(float(torch.stack(cvs).mean()) if cvs else 0.0, 4),
            "flip_err_pct": round(float((kp - flipped).norm(dim=-1).mean()) / size * 100, 3),
            "outside_share": round(float(outside), 4),
            "bone_scale": round(float((lengths / ref_len).mean()), 3),
        }


def _flipped_keypoints(model: TptModel, frames: Tensor, size: int, axis: str = "x") -> Tensor:
    """Keypoints of the mirrored frames (across columns for axis x, rows for y), mirrored back with left and
    right swapped (N, J, 2)."""
    c = 0 if axis == "x" else 1
    mirrored = eval_keypoints(model, frames.flip(-1 if axis == "x" else -2))
    mirrored[..., c] = size - 1 - mirrored[..., c]
    return mirrored[:, _FLIP]


@torch.no_grad()
def eval_keypoints(model: TptModel, frames: Tensor) -> Tensor:
    """Eval-mode keypoints (N, J, 2) float32 of uint8 frames (N, 3, S, S); the model's mode is restored."""
    was_training = model.training
    model.eval()
    dev = model.maps.device
    out = torch.cat([model.poses(f.to(dev)).keypoints.float().cpu() for f in frames.split(64)])
    model.train(was_training)
    return out


def keypoint_shift_pct(before: Tensor, after: Tensor, size: int) -> dict[str, float]:
    """How far the keypoints moved: mean and 90th percentile distance over frames and joints, % of S."""
    d = (after - before).norm(dim=-1).flatten() / size * 100
    return {"moved_mean_pct": round(float(d.mean()), 2), "moved_p90_pct": round(float(d.quantile(0.9)), 2)}


def collapse_warnings(row: dict, warm: bool) -> list[str]:
    """Warnings for a metrics row holding the probe signals (and maybe template_gain).

    `warm` is False during the decoder warm-up, when a template_gain near 0 is expected.
    """
    out = []
    gain = row.get("template_gain")
    if warm and gain is not None and gain < 0.02:
        out.append(f"template_gain {gain:.3f} near 0: the reconstruction ignores the template (no pose signal)")
    if row.get("outside_share", 0.0) > 0.25:
        out.append(f"{row['outside_share']:.0%} of the keypoints are outside the frame: parts are leaving it")
    if row.get("bone_scale", 1.0) < 0.5:
        out.append(f"bones are {row['bone_scale']:.2f}x the template's length: the body is collapsing")
    return out
