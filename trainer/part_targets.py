"""A loss on the spatial head's softmax itself: each part's grid softmax against a Gaussian at its labelled centre.

The pretraining's joint loss (`part_pretrain.pretrain_loss`) only asks each part's softmax for the right expected
position: mass spread over the body, or split between two limbs, pays nothing as long as its mean lands right.
`heatmap_loss` adds the cross-entropy of each part's softmax (from `EffnetRegressor.last_logits`) against a Gaussian
of `sigma` grid cells around where the part's centre belongs, so every cell gets a gradient and a part's mass has to
sit on the part (`tpt-live pretrain --heatmap W`, docs/TRAINING.md).

Where a part's centre belongs: the labels give joints, not part centres. Each part reads out some joints
(`Template.joint_copies`); the similarity (turn, scale, shift) that carries the template's positions of those joints
onto their labels, least squares, carries the template's part centre to its label. A part that reads out one joint
(a hand, a foot) borrows the joints of the parts linked to it (the forearm's elbow, the shin's knee). The map is
linear in the labels, so it is precomputed once per template as one (K, J) complex weight per part and joint.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from tpt_live.model import EffnetRegressor
from tpt_live.template import Template


@lru_cache(maxsize=4)
def part_centre_map(template: Template, size: int) -> Tensor:
    """(2, K, J) float32: the real and imaginary parts of W with centres = W @ joints in complex numbers (x + iy):
    each part's centre from the labelled joints, carried as the template's by a least-squares similarity. Built once
    per template and size (read only, shared by every call)."""
    pts, _ = template.anchor_array(size)
    centres = pts[:, 3].astype(np.float64)  # (K, 2) x, y: slot 3 holds the part's Gaussian centre
    joints = template.joints(size).astype(np.float64)
    reads: list[set[int]] = [set() for _ in range(template.num_parts)]
    for j, copies in enumerate(template.joint_copies):
        for part, _ in copies:
            reads[part].add(j)
    w = np.zeros((template.num_parts, len(joints)), np.complex128)
    for k in range(template.num_parts):
        used = set(reads[k])
        if len(used) < 2:  # one joint fixes no turn: borrow the linked parts' joints
            for a, _, b, _ in template.links:
                if k in (a, b):
                    used |= reads[b if a == k else a]
        js = sorted(used)
        z = joints[js, 0] + 1j * joints[js, 1]
        c = centres[k, 0] + 1j * centres[k, 1]
        mean = z.mean()
        spread = (np.abs(z - mean) ** 2).sum()
        # similarity z -> alpha z + beta fitted to the labels g: alpha = sum conj(z - mean) g / spread, so the centre
        # alpha (c - mean) + mean(g) is linear in g
        w[k, js] = 1.0 / len(js) + (c - mean) * np.conj(z - mean) / spread
    return torch.tensor(np.stack([w.real, w.imag]), dtype=torch.float32)


def part_centres(joints: Tensor, centre_map: Tensor) -> Tensor:
    """Labelled joints (B, J, 2) x, y -> (B, K, 2) the parts' centres (`part_centre_map`)."""
    wr, wi = centre_map.to(joints)
    x, y = joints[..., 0], joints[..., 1]
    return torch.stack([x @ wr.T - y @ wi.T, y @ wr.T + x @ wi.T], -1)


def heatmap_loss(regressor: EffnetRegressor, joints: Tensor, centre_map: Tensor, sigma: float) -> Tensor:
    """Mean over inputs and parts of the cross-entropy between each part's grid softmax in the last training pass
    (from `regressor.last_logits`, (B, K, N), which it takes: the regressor must have `keep_logits` set) and a
    Gaussian of `sigma` cells around its labelled centre, normalised over the grid. `joints` (B, J, 2) are the labels
    the joint loss took for each input (with a swap-tolerant loss, as given or left/right swapped)."""
    logits, regressor.last_logits = regressor.last_logits, None
    if logits is None:
        raise RuntimeError("heatmap_loss needs a forward pass of the spatial head in training mode with keep_logits")
    grid = regressor.grid
    cell = grid[1, 0] - grid[0, 0]  # the grid's step, input pixels (a tensor: no device sync per step)
    d2 = ((grid[None, None] - part_centres(joints, centre_map).unsqueeze(2)) ** 2).sum(-1)  # (B, K, N)
    wanted = torch.softmax(-d2 / (2 * (sigma * cell) ** 2), -1)
    return -(wanted * logits.log_softmax(-1)).sum(-1).mean()
