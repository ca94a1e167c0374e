"""The localiser's network and its PyTorch runtime (what it predicts, and the read-out: `tpt_live.localise`).

Network: EfficientNet-Lite0 stem + blocks 0-10 (`tpt_live.effnet`, stride 16, ImageNet initialisation when
trained) and a 1x1 head giving, per cell of the G x G grid (G = S / 16): a centre logit, the centre's offset
from the cell centre (cells), log(length / S) and (cos, sin) of the angle. Read-out: the cell with the
largest softmax probability; `score` is the probability mass of its 3 x 3 neighbourhood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.effnet import EffNetLiteTrunk
from tpt_live.localise import Locator, default_localiser_path

FORMAT = "tpt-live/localiser"
FORMAT_VERSION = 1
STRIDE = 16


@dataclass(frozen=True)
class LocaliserConfig:
    size: int = 128  # S: the whole frame is letterboxed to S x S
    blocks: int = 11  # EfficientNet-Lite0 blocks kept (11: stride 16, 112 channels)
    hidden: int = 96  # channels of the 1x1 head

    def __post_init__(self) -> None:
        if self.size % STRIDE or self.size < 2 * STRIDE or self.blocks != 11 or self.hidden < 1:
            raise ValueError(f"localiser config {self}: size a multiple of {STRIDE} >= 32, blocks 11")


class LocaliserNet(nn.Module):
    """(B, 3, S, S) RGB in [0, 1] -> (B, 6, G, G): centre logit, offset x, y, log length / S, cos, sin."""

    def __init__(self, config: LocaliserConfig | None = None) -> None:
        super().__init__()
        self.config = config or LocaliserConfig()
        self.trunk = EffNetLiteTrunk(self.config.blocks, taps=(self.config.blocks - 1,))
        self.head = nn.Sequential(
            nn.Conv2d(self.trunk.channels[0], self.config.hidden, 1), nn.ReLU(), nn.Conv2d(self.config.hidden, 6, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.trunk(x)[0])
        return out


def decode(out: Tensor) -> Tensor:
    """Network output (B, 6, G, G) -> (B, 5): x, y, length (input pixels), angle (degrees, [0, 360)), score."""
    b, _, g, _ = out.shape
    prob = out[:, 0].flatten(1).softmax(1).view(b, 1, g, g)
    best = prob.flatten(1).argmax(1)
    row, col = best // g, best % g
    idx = torch.arange(b)
    cell = out[idx, :, row, col]  # (B, 6)
    x = (col.float() + 0.5 + cell[:, 1]) * STRIDE - 0.5
    y = (row.float() + 0.5 + cell[:, 2]) * STRIDE - 0.5
    length = cell[:, 3].exp() * g * STRIDE
    angle = torch.atan2(cell[:, 5], cell[:, 4]) * (180.0 / math.pi) % 360.0  # (rad2deg has no ONNX export)
    score = (F.avg_pool2d(prob, 3, 1, 1, count_include_pad=True) * 9.0)[idx, 0, row, col]
    return torch.stack([x, y, length, angle, score], dim=1)


class LocateGraph(nn.Module):
    """uint8 (B, S, S, 3) RGB letterboxed frames -> (B, 5) `decode` rows: the whole network step, as
    `Localiser` runs it and as `engines.localiser_onnx` exports it."""

    def __init__(self, net: LocaliserNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor) -> Tensor:
        return decode(self.net(frames.permute(0, 3, 1, 2).float() / 255.0))


class Localiser(Locator):
    """A trained localiser in PyTorch, on the CPU or a GPU."""

    def __init__(self, net: LocaliserNet, device: str | torch.device = "cpu") -> None:
        self.graph = LocateGraph(net.to(device).eval()).eval()
        self.device = torch.device(device)
        self.size = net.config.size

    @torch.no_grad()
    def rows(self, batch: np.ndarray) -> np.ndarray:
        return self.graph(torch.from_numpy(batch).to(self.device)).cpu().numpy().astype(np.float64)


def save_localiser(net: LocaliserNet, path: str | Path, metrics: dict | None = None) -> Path:
    """Write the weights (`checkpoint.write_weights` layout: metadata inside, JSON sidecar)."""
    from dataclasses import asdict

    from tpt_live.checkpoint import write_weights

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": asdict(net.config), "metrics": metrics or {}}
    return write_weights(path, dict(net.state_dict()), meta)


def load_localiser(path: str | Path | None = None, device: str | torch.device = "cpu") -> Localiser:
    """Read a localiser file (safetensors only, no pickle); the shipped one when `path` is None."""
    from safetensors.torch import load_file

    from tpt_live.checkpoint import read_meta

    path = Path(path) if path is not None else default_localiser_path()
    meta = read_meta(path, FORMAT, FORMAT_VERSION, "localiser")
    net = LocaliserNet(replace(LocaliserConfig(), **meta.get("config", {})))
    net.load_state_dict(load_file(str(path)))
    return Localiser(net, device)
