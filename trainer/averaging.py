"""A running uniform average of a network's state over training steps (stochastic weight averaging, as
`tpt-live pretrain --average-from` saves it; docs/TRAINING.md)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def running_average(average: dict[str, Tensor], model: torch.nn.Module, n: int) -> None:
    """Fold the n-th state of `model` (n from 1) into `average`, the uniform mean of its floating tensors
    (parameters and batch-norm statistics; other buffers are the latest)."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if n == 1 or not value.is_floating_point():
                average[key] = value.detach().clone()
            else:
                average[key] += (value.detach() - average[key]) / n


def first_averaged_step(share: float, steps: int) -> int:
    """The first step (from 0) of `--average-from share` in a run of `steps`: at the latest the last step."""
    return min(math.ceil(round(share * steps, 9)), steps - 1)
