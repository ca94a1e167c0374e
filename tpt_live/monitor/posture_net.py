"""The image posture classifier's network (`tpt_live.monitor.posture_image` loads and runs it): EfficientNet-Lite0's
stem and blocks 0-10, the mean and maximum of their stride-16 features, a linear map to the
image classes (the three lying postures and sitting up)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from tpt_live.effnet import EffNetLiteTrunk
from tpt_live.monitor.posture import IMAGE_CLASSES

TRUNK_BLOCKS = 11  # Lite0's blocks 0-10: stride 16, 112 channels (the part model's trunk)
FRONT_BLOCKS = 3  # the stem and blocks 0-2 stay at ImageNet's weights in training (trainer.posture_train)


class WindowClassifier(nn.Module):
    """(B, 3, S, S) images in [0, 1] -> (B, 4) logits in the order of `IMAGE_CLASSES` (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = EffNetLiteTrunk(TRUNK_BLOCKS, taps=(TRUNK_BLOCKS - 1,))
        self.head = nn.Linear(2 * self.trunk.channels[0], len(IMAGE_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.back(self.trunk.front(x, FRONT_BLOCKS))

    def back(self, h: Tensor) -> Tensor:
        """Logits from the front's output (`trunk.front(x, FRONT_BLOCKS)`, which nets trained alike share): blocks
        FRONT_BLOCKS-10, the mean and maximum over the window, the linear map."""
        h = self.trunk.blocks_from(h, FRONT_BLOCKS)[0]
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))


def to_tensor(rgb: np.ndarray) -> Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 255.0
