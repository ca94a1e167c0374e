"""Start the template in the subject's orientation: a global rotation folded into the regressor.

The template is head-up; a subject lying sideways in the crop (a side-view camera, a crib filmed across)
is a 90-degree turn the regressor does not find from the template's start (docs/TRAINING.md, real
footage). `rotate_model` composes a rotation R about the input's centre c with every part's affine,
A' = G A with G = [R | c - R c], and folds it into the last linear layer, so the model file stays an
ordinary model that `tpt-live track` runs unchanged.

Convention: x = column, y = row (y down), pixel centres at integers, c = ((S - 1) / 2, (S - 1) / 2);
`degrees` turn counterclockwise as seen on screen: +90 takes a head-up template to head-left, -90 to
head-right. In image coordinates that is R = [[cos t, sin t], [-sin t, cos t]].

Folding: the regressor outputs A = I + D * scale with D = (W h + b) viewed as (K, 2, 3) and scale =
[1, 1, S] per row. Then G A = I + D' * scale with D' = R D + [R - I | (c - R c) / S], which is linear in
D: W' = R W and b' = R b + [R - I | (c - R c) / S], applied per part.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tpt_live.errors import InputError
from tpt_live.model import TptModel


def rotation(degrees: float, size: int) -> np.ndarray:
    """G (2, 3) float64: the screen-counterclockwise rotation by `degrees` about the centre of an S x S input."""
    t = math.radians(degrees)
    r = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    c = np.full(2, (size - 1) / 2)
    return np.concatenate([r, (c - r @ c)[:, None]], 1)


@torch.no_grad()
def rotate_model(model: TptModel, degrees: float) -> None:
    """Compose a rotation of the whole pose about the input's centre into `model` (in place)."""
    if degrees % 360 == 0:
        return
    if model.cfg.head != "dense":
        raise InputError(f"a starting rotation needs a model with the dense head; this one's is {model.cfg.head!r}")
    size = model.cfg.input_size
    g = torch.from_numpy(rotation(degrees, size)).float()
    r = g[:, :2]
    head = model.regressor.head
    k = model.template.num_parts
    w = head.weight.view(k, 2, 3, -1)
    head.weight.copy_(torch.einsum("im,kmjh->kijh", r, w).reshape_as(head.weight))
    b = head.bias.view(k, 2, 3)
    offset = torch.cat([r - torch.eye(2), g[:, 2:] / size], 1)
    head.bias.copy_((torch.einsum("im,kmj->kij", r, b) + offset).reshape_as(head.bias))
