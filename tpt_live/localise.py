"""The localisation stage: where the body is in the whole frame, how big, and which way its head points.

A `LocaliserNet` sees the whole frame letterboxed to S x S (S = 128 by default; `crop.letterbox`) and predicts
the body axis, the segment from the pelvis to the head: its midpoint (x, y), its length and its direction.
The direction `angle` is where the head points, in degrees clockwise from "up" in the picture (0 head up,
90 head right, 180 head down, 270 head left). Points are pixels, x = col, y = row, centres at integers.

Network: EfficientNet-Lite0 stem + blocks 0-10 (`tpt_live.effnet`, stride 16, ImageNet initialisation when
trained) and a 1x1 head giving, per cell of the G x G grid (G = S / 16): a centre logit, the centre's offset
from the cell centre (cells), log(length / S) and (cos, sin) of the angle. Read-out: the cell with the
largest softmax probability; `score` is the probability mass of its 3 x 3 neighbourhood.

`crop_for` turns a location into what the part model needs: a square source box framed the way the model was
trained (the template's framing: the box side is `BOX_PER_AXIS` axis lengths, its centre `SHIFT_PER_AXIS`
axis lengths from the axis midpoint towards the feet) and the quarter turns that bring the head up
(`crop.turn_input`), or by the located angle itself (`crop_along`, `crop.turned_crop`). `LocationFilter`
smooths locations over a video by time: the direction more slowly than the centre, since a baby turns over in
seconds while single frames' directions scatter by tens of degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.crop import CropBox, letterbox, paste, to_source
from tpt_live.effnet import EffNetLite0Trunk
from tpt_live.skeleton import JOINT_INDEX

FORMAT = "tpt-live/localiser"
FORMAT_VERSION = 1
STRIDE = 16
# The template's framing (canonical skeleton at 256 px: head 56.74, pelvis 151.71, box centre 127.5).
BOX_PER_AXIS = 256.0 / 94.97  # box side / pelvis-to-head length
SHIFT_PER_AXIS = 23.275 / 94.97  # box centre's distance from the axis midpoint towards the feet / length


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
        self.trunk = EffNetLite0Trunk(self.config.blocks, taps=(self.config.blocks - 1,))
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


def body_axis(kp2d: np.ndarray) -> np.ndarray:
    """Keypoints (..., J, 2) -> (..., 4): axis midpoint x, y, pelvis-to-head length, head angle (degrees)."""
    head, pelvis = kp2d[..., JOINT_INDEX["head"], :], kp2d[..., JOINT_INDEX["pelvis"], :]
    v = head - pelvis
    mid = (head + pelvis) / 2
    length = np.linalg.norm(v, axis=-1)
    angle = np.degrees(np.arctan2(v[..., 0], -v[..., 1])) % 360.0
    return np.concatenate([mid, length[..., None], angle[..., None]], axis=-1)


@dataclass(frozen=True)
class Location:
    """The body axis in source pixels (see the module docstring)."""

    x: float
    y: float
    length: float
    angle: float  # head direction, degrees clockwise from up, [0, 360)
    score: float  # 0-1: how concentrated the centre estimate is

    @property
    def turns(self) -> int:
        """Counter-clockwise quarter turns that bring the head up (`crop.turn_input`)."""
        return round(self.angle / 90.0) % 4


def _framed(loc: Location, degrees: float) -> CropBox:
    """The square box framing `loc` the way the template expects once the input is turned by `degrees`."""
    a = math.radians(degrees)
    up = np.array([math.sin(a), -math.cos(a)])  # the turn's head direction, picture coordinates
    centre = np.array([loc.x, loc.y]) - SHIFT_PER_AXIS * loc.length * up
    side = max(round(BOX_PER_AXIS * loc.length), 2)  # the box's pixels x .. x+side-1 are centred on `centre`
    return CropBox(round(centre[0] - (side - 1) / 2), round(centre[1] - (side - 1) / 2), side, side)


def crop_for(loc: Location, turns: int | None = None) -> tuple[CropBox, int]:
    """The square source box the part model should see for `loc`, and the input's quarter turns.

    The box is framed along the turn's axis (a body at 30 degrees is boxed like one at 0), so after the
    turn the body sits where the template expects it.
    """
    turns = loc.turns if turns is None else turns % 4
    return _framed(loc, 90.0 * turns), turns


def crop_along(loc: Location) -> tuple[CropBox, float]:
    """Like `crop_for`, framed along the located direction itself: the box (to turn with `crop.turned_crop`)
    and the turn, `loc.angle` degrees counter-clockwise, that brings the head exactly up."""
    return _framed(loc, loc.angle), loc.angle


@dataclass(frozen=True)
class FilterConfig:
    position_tau: float = 0.2  # seconds: time constant of the running average of centre and log length
    direction_tau: float = 1.0  # seconds: the same for the head direction (rolling over takes seconds)
    # The crop is held still while the average stays within these of it (axis lengths, ratio, degrees): a
    # still baby gets the same pixels frame after frame, so its keypoints do not jitter with the localiser.
    hold_centre: float = 0.1
    hold_length: float = 0.1
    hold_angle: float = 10.0

    def __post_init__(self) -> None:
        if min(self.position_tau, self.direction_tau, self.hold_centre, self.hold_length, self.hold_angle) < 0:
            raise ValueError(f"location filter {self}: time constants and hold bands must be >= 0 (0: off)")


def _weight(dt: float, tau: float) -> float:
    """Weight of a new sample `dt` seconds after the last one in an exponential average of time constant tau."""
    return 1.0 if tau <= 0 else 1.0 - math.exp(-max(dt, 0.0) / tau)


class LocationFilter:
    """Exponential running average of a video's locations, by time (frame rates differ): centre and log
    length with `position_tau`, the direction (as a unit vector) with `direction_tau`. `held` is what the crop
    follows: the average, renewed only when the average leaves the hold bands around it."""

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self.state: Location | None = None
        self.held: Location | None = None
        self._t: float | None = None

    def update(self, loc: Location, t: float | None = None) -> Location:
        """Add the location of the frame at time `t` (seconds; None: no history) and return the held location."""
        state = self._average(loc, t)
        h, c = self.held, self.config
        if (
            h is None
            or math.hypot(state.x - h.x, state.y - h.y) > c.hold_centre * h.length
            or abs(math.log(state.length / h.length)) > math.log1p(c.hold_length)
            or abs((state.angle - h.angle + 180.0) % 360.0 - 180.0) > c.hold_angle
        ):
            self.held = h = state
        return h

    def _average(self, loc: Location, t: float | None) -> Location:
        s = self.state
        if s is None or t is None or self._t is None:
            self.state = loc
        else:
            a = _weight(t - self._t, self.config.position_tau)
            b = _weight(t - self._t, self.config.direction_tau)
            c = (1 - b) * np.exp(1j * math.radians(s.angle)) + b * np.exp(1j * math.radians(loc.angle))
            self.state = Location(
                (1 - a) * s.x + a * loc.x, (1 - a) * s.y + a * loc.y,
                math.exp((1 - a) * math.log(s.length) + a * math.log(loc.length)),
                math.degrees(np.angle(c)) % 360.0, loc.score,
            )  # fmt: skip
        self._t = t
        assert self.state is not None
        return self.state


def letterboxed(frame: np.ndarray, size: int) -> tuple[np.ndarray, CropBox]:
    """The localiser's input: a whole RGB frame (H, W, 3) letterboxed into (S, S, 3) by `crop.letterbox` (area
    filter when shrinking, bilinear when growing), and the source box it shows."""
    h, w = frame.shape[:2]
    plan = letterbox(w, h, size)
    interp = cv2.INTER_AREA if max(w, h) > size else cv2.INTER_LINEAR
    return paste(cv2.resize(frame, (plan.scaled_w, plan.scaled_h), interpolation=interp), plan, size), plan.box


def default_localiser_path() -> Path:
    return Path(__file__).with_name("weights") / "localiser.safetensors"


class LocateGraph(nn.Module):
    """uint8 (B, S, S, 3) RGB letterboxed frames -> (B, 5) `decode` rows: the whole network step, as
    `Localiser` runs it and as `engines.localiser_onnx` exports it."""

    def __init__(self, net: LocaliserNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor) -> Tensor:
        return decode(self.net(frames.permute(0, 3, 1, 2).float() / 255.0))


class Locator:
    """Whole RGB frames in, `Location`s in source pixels out, around a runtime's `rows` (the network step on
    letterboxed S x S frames): `Localiser` (PyTorch) here, `engines.localiser_onnx.OrtLocaliser`."""

    size: int  # S

    def rows(self, batch: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 letterboxed frames -> (B, 5) float64: x, y, length (input pixels), angle, score."""
        raise NotImplementedError

    def locate(self, frames: list[np.ndarray], bgr: bool = False) -> list[Location]:
        """frames: RGB uint8 (H, W, 3) whole frames (sizes may differ; BGR with `bgr`, turned to RGB after the
        letterbox, where it is cheap) -> one Location each."""
        if not frames:
            return []
        batch, boxes = zip(*(letterboxed(frame, self.size) for frame in frames), strict=True)
        inputs = np.stack(batch)[..., ::-1] if bgr else np.stack(batch)
        out = []
        for (cx, cy, length, angle, score), box in zip(self.rows(np.ascontiguousarray(inputs)), boxes, strict=True):
            sx, sy = to_source(np.array([cx, cy]), box, self.size)
            out.append(Location(float(sx), float(sy), float(length * box.w / self.size), float(angle), float(score)))
        return out


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
