"""Perceptual features for the reconstruction loss: the early blocks of ImageNet EfficientNet-Lite0.

The paper's perceptual loss uses VGG-19 (`trainer.losses.Vgg19Relu32`, from a file the user supplies).
EfficientNet-Lite0's ImageNet weights install from the package registry (`tpt_live.effnet`, read with
`weights_only=True`, never downloaded). Only the stem and the first three MBConv blocks are used (stride 2 and
stride 4 features, 16 and 24 channels), frozen, BN statistics ImageNet's.
"""

from __future__ import annotations

from pathlib import Path

from tpt_live.effnet import EffNetLiteTrunk, effnet_weights_path

__all__ = ["EffNetLite0Early", "effnet_weights_path"]


class EffNetLite0Early(EffNetLiteTrunk):
    """Frozen EfficientNet-Lite0 stem + blocks 0-2: images (B, 3, H, W) in [0, 1] -> two feature maps.

    Returns [(B, 16, H/2, W/2), (B, 24, H/4, W/4)] (block 0 and block 2 outputs), ImageNet mean/std applied.
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__(blocks=3, taps=(0, 2))
        self.load_imagenet(weights)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> EffNetLite0Early:
        return super().train(False)  # BN statistics stay ImageNet's
