"""Losses of TPT (METHOD.md 1.5): reconstruction, anchor links, boundary on all anchors."""

from __future__ import annotations

import pickle
from pathlib import Path

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.errors import InputError, ModelError

# torchvision vgg19.features indices up to relu3_2 (conv layers carry weights)
_VGG19_TO_RELU3_2 = (
    (3, 64), "relu", (64, 64), "relu", "pool", (64, 128), "relu", (128, 128), "relu", "pool",
    (128, 256), "relu", (256, 256), "relu",
)  # fmt: skip


def load_failure(exc: BaseException) -> str:
    """A short reason for a weights file torch.load (weights_only) or safetensors refused."""
    if isinstance(exc, pickle.UnpicklingError) or str(exc).startswith("Weights only load failed"):
        return "not PyTorch weights, or weights that would run code: refused"
    return (str(exc).splitlines() or [exc.__class__.__name__])[0][:120]


class Vgg19Relu32(nn.Module):
    """VGG-19 features up to relu3_2, frozen, weights from a torchvision-format file (no download)."""

    mean: Tensor
    std: Tensor

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for spec in _VGG19_TO_RELU3_2:
            if spec == "relu":
                layers.append(nn.ReLU(inplace=False))
            elif spec == "pool":
                layers.append(nn.MaxPool2d(2, 2))
            elif isinstance(spec, tuple):
                layers.append(nn.Conv2d(spec[0], spec[1], 3, padding=1))
        self.features = nn.Sequential(*layers)
        path = Path(weights)
        if not path.is_file():
            raise InputError(f"--vgg-weights {path} does not exist (torchvision vgg19 .pth or .safetensors)")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling, header and zip errors all mean "not weights"
            raise ModelError(
                f"--vgg-weights {path}: not a weights file ({load_failure(exc)}); use torchvision's vgg19 .pth "
                "or a .safetensors"
            ) from None
        if not isinstance(state, dict):
            raise ModelError(f"--vgg-weights {path}: holds no state dict; use torchvision's vgg19 .pth")
        wanted = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}
        own = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        missing = [k for k in own if k not in wanted]
        if missing:
            raise ModelError(f"{path} is not a torchvision VGG-19 state dict (missing {missing[0]})")
        self.load_state_dict({k: wanted[k] for k in own})
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.features((x - self.mean) / self.std)


def reconstruction_loss(
    target: Tensor, recon: Tensor, perceptual: nn.Module | None = None, weight: Tensor | None = None
) -> Tensor:
    """Pixel L1 + SSIM (window 7), plus feature L1 when `perceptual` is given. Images (B, 3, S, S) in [0, 1].

    `perceptual` maps images to a feature map or a list of them (VGG relu3_2, EfficientNet-Lite0 early
    blocks). `weight` (B, 1, S, S) in [0, 1] (see `trainer.background`) makes every term a weighted mean
    over pixels, resized to each feature map's resolution (area); pixels of weight 0 do not count. The
    weight sum is floored at 1% of the pixels so that a pair with almost no foreground is not blown up.
    """
    if weight is None:
        loss = F.l1_loss(recon, target) + kornia.losses.ssim_loss(recon, target, window_size=7)
    else:
        dssim = (1 - kornia.metrics.ssim(recon, target, window_size=7)) / 2
        loss = _weighted_mean((recon - target).abs(), weight) + _weighted_mean(dssim, weight)
    if perceptual is not None:
        fr, ft = perceptual(recon), perceptual(target)
        for a, b in zip(fr if isinstance(fr, list) else [fr], ft if isinstance(ft, list) else [ft], strict=True):
            if weight is None:
                loss = loss + F.l1_loss(a, b)
            else:
                loss = loss + _weighted_mean((a - b).abs(), F.interpolate(weight, size=a.shape[-2:], mode="area"))
    return loss


def _weighted_mean(err: Tensor, weight: Tensor) -> Tensor:
    """err (B, C, H, W), weight (B, 1, H, W) -> scalar: sum(w * err) / sum(w), channel-averaged."""
    total = weight.sum() * err.shape[1]
    floor = 0.01 * weight.numel() * err.shape[1]
    return (err * weight).sum() / total.clamp_min(floor)


def anchor_loss(anchors: Tensor, links: Tensor, size: int) -> Tensor:
    """Sum over links of the batch-mean squared gap between linked anchor copies, in units of the image.

    anchors: (B, K, 4, 2) image pixels; links: (L, 2) indices into the flattened (K*4) anchors.
    """
    flat = anchors.flatten(1, 2) / size
    gap = flat[:, links[:, 0]] - flat[:, links[:, 1]]
    return (gap**2).sum(-1).mean(0).sum()


def boundary_loss(anchors: Tensor, mask: Tensor, size: int) -> Tensor:
    """Penalty |c| - 1 for every real anchor coordinate c outside [-1, 1] (image mapped to [-1, 1]).

    anchors: (B, K, 4, 2) image pixels; mask: (K, 4) bool, True for real anchors (all of them, not
    only the core's).
    """
    c = anchors[:, mask] * (2.0 / (size - 1)) - 1.0
    return F.relu(c.abs() - 1.0).sum((1, 2)).mean()
