"""The TPT pose model: a CNN regresses one affine transform per template part (METHOD.md 1.3).

Convention (kornia / OpenCV `warpAffine`): an affine A (2x3) maps TEMPLATE pixel coordinates to IMAGE
pixel coordinates, x=col, y=row, pixel centres at integers, `[x', y'] = A @ [x, y, 1]`. All points
here are in model-input pixels of an S x S image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpt_live.effnet import EffNetLiteTrunk, stage_end
from tpt_live.errors import InputError, ModelError
from tpt_live.template import CANVAS, Template

LITE = {"effnet": "lite0", "effnet-lite1": "lite1"}  # backbone -> EfficientNet-Lite variant
BACKBONES = ("scratch", *LITE)
HEADS = ("dense", "spatial")


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 64  # S: the model sees S x S RGB frames
    widths: tuple[int, ...] = (32, 64, 128, 192, 256)  # channels of the stride-2 conv stages
    hidden: int = 256  # width of the hidden linear layer
    template: str = "infant"  # built-in template name (the template itself travels in checkpoints)
    consistency_scale: float = 0.03  # copy spread (fraction of S) at which the score falls to 1/e
    backbone: str = "scratch"  # "scratch": the conv stages of `widths`; "effnet": EfficientNet-Lite0 through stage 5
    # (stride 16); "effnet-lite1": EfficientNet-Lite1 (deeper, same widths) likewise
    framing: str = "frame"  # what the model was trained to see: "frame" (a letterboxed frame or box) or
    # "located" (a crop framed and turned upright from the localiser's body axis: `track` then locates by default)
    head: str = "dense"  # effnet only: "dense" (flattened grid -> hidden layer -> affines) or "spatial"
    # (per part a spatial softmax on a stride-8 grid places the part; `EffnetRegressor`)
    peak_radius: float = 0.0  # spatial head, at inference (eval mode): read each part's softmax only within this
    # many grid cells of its peak (0: the whole grid), so a part torn between two places is put at one of them,
    # not between; training always reads the whole grid, so every cell gets gradient

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputError(f"backbone {self.backbone!r}: use one of {', '.join(BACKBONES)}")
        if self.head not in HEADS or (self.head != "dense" and self.backbone == "scratch"):
            raise InputError(f"head {self.head!r}: use dense, or spatial with the effnet backbone")
        if self.framing not in ("frame", "located"):
            raise InputError(f"framing {self.framing!r}: use frame or located")
        if self.backbone != "scratch" and self.input_size % 32:
            raise InputError(f"input_size {self.input_size} must be a multiple of 32 for the effnet backbone")
        if self.backbone == "scratch" and (self.input_size < 16 or self.input_size % (2 ** len(self.widths)) != 0):
            raise InputError(f"input_size {self.input_size} must be >= 16 and divisible by 2**{len(self.widths)}")
        if self.peak_radius < 0 or (self.peak_radius and self.head != "spatial"):
            raise InputError(f"peak_radius {self.peak_radius}: use 0, or a positive radius with the spatial head")
        if not self.widths or any(w <= 0 for w in self.widths):
            raise InputError(f"widths {self.widths} must be positive")


LARGE = ModelConfig(input_size=256, widths=(32, 64, 128, 256, 512, 512), hidden=512)
PRETRAINED = ModelConfig(input_size=128, backbone="effnet", hidden=256, framing="located", head="spatial")


@dataclass
class PoseOutput:
    """One batch of poses, all in model-input pixels (x=col, y=row)."""

    affines: Tensor  # (B, K, 2, 3) template -> image
    keypoints: Tensor  # (B, J, 2)
    consistency: Tensor  # (B, J) in (0, 1]: 1 when every copy of a joint agrees
    anchors: Tensor  # (B, K, 4, 2) moved anchors; slot 3 = moved Gaussian centre
    extras: dict[str, Tensor] = field(default_factory=dict)


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class _AffineRegressor(nn.Module):
    """The read-out both regressors share: features -> hidden layer -> K affines, identity at initialisation."""

    identity: Tensor
    scale: Tensor

    def _make_head(self, features: int, cfg: ModelConfig, num_parts: int) -> None:
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(features, cfg.hidden), nn.LeakyReLU(0.2, True))
        self.head = nn.Linear(cfg.hidden, num_parts * 6)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.num_parts = num_parts
        self.register_buffer("identity", torch.eye(2, 3), persistent=False)
        self.register_buffer("scale", torch.tensor([[1.0, 1.0, float(cfg.input_size)]] * 2), persistent=False)

    def _affines(self, features: Tensor) -> Tensor:
        delta = self.head(self.fc(features)).view(-1, self.num_parts, 2, 3)
        return self.identity + delta * self.scale


class PoseRegressor(_AffineRegressor):
    """Frames (B, 3, S, S) normalised -> affines (B, K, 2, 3); identity at initialisation."""

    def __init__(self, cfg: ModelConfig, num_parts: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, res = 3, cfg.input_size
        for w in cfg.widths:
            res //= 2
            layers.append(_stage(cin, w, 2))
            if res <= 16:  # a second conv per stage only where it is cheap
                layers.append(_stage(w, w, 1))
            cin = w
        self.features = nn.Sequential(*layers)
        cells = (cfg.input_size // 2 ** len(cfg.widths)) ** 2
        self._make_head(cin * cells, cfg, num_parts)

    def forward(self, x: Tensor) -> Tensor:
        return self._affines(self.features(x))


class EffnetRegressor(_AffineRegressor):
    """Like `PoseRegressor` on EfficientNet-Lite0's stem and blocks 0-10 (ImageNet weights when training starts,
    `tpt_live.effnet`). It takes the input `normalise` gives every regressor and maps it back to [0, 1] for the
    trunk, so one preprocessing serves both backbones (and the ONNX graph).

    head "dense": the stride-16 output (112 channels), a 3x3 stride-2 conv to 128 channels, flattened, and the
    hidden layer of `PoseRegressor`; identity at initialisation.
    head "spatial": the stride-8 (block 4) and stride-16 (block 10) outputs fused on the (S/8)^2 grid; per part a
    softmax over the grid (logits plus a learnt prior that starts as a Gaussian of S/8 around the part's
    template centre) whose expected position is the part's centre (soft-argmax), and a linear map of the
    features it pools (and of the whole grid's mean) gives the part's 2x2 linear map, identity at
    initialisation. So a part is placed where its features are, the same way anywhere in the crop, rather than
    decoded from one flattened vector. `centres` (K, 2): the template parts' centres, x, y in input pixels.
    """

    grid: Tensor  # (N, 2) the spatial head's cell centres, x, y in input pixels
    centres: Tensor  # (K, 2) the template parts' centres
    # a loss on the softmax itself (trainer.part_targets) sets `keep_logits`; each forward pass in training mode then
    # leaves each part's grid logits, prior added, in `last_logits` (B, K, N) for it to read once
    keep_logits: bool = False
    last_logits: Tensor | None = None

    def __init__(self, cfg: ModelConfig, num_parts: int, centres: Tensor | None = None) -> None:
        super().__init__()
        self.spatial = cfg.head == "spatial"
        variant = LITE[cfg.backbone]
        s16 = stage_end(variant, 5)  # the trunk ends at stride 16 (112 channels); the spatial head also taps stride 8
        if not self.spatial:
            self.trunk = EffNetLiteTrunk(s16, taps=(s16 - 1,), variant=variant)
            self.reduce = _stage(self.trunk.channels[0], 128, 2)
            self._make_head(128 * (cfg.input_size // 32) ** 2, cfg, num_parts)
            return
        if centres is None or centres.shape != (num_parts, 2):
            raise ModelError(f"the spatial head needs the {num_parts} template part centres")
        self.trunk = EffNetLiteTrunk(s16, taps=(stage_end(variant, 3) - 1, s16 - 1), variant=variant)
        width, cells = 96, cfg.input_size // 8
        self.lateral = nn.Conv2d(self.trunk.channels[0], width, 1)
        self.top = nn.Conv2d(self.trunk.channels[1], width, 1)
        self.mix = _stage(width, width, 1)
        self.logits = nn.Conv2d(width, num_parts, 1)
        nn.init.zeros_(self.logits.weight)
        assert self.logits.bias is not None
        nn.init.zeros_(self.logits.bias)
        axis = (torch.arange(cells, dtype=torch.float32) + 0.5) * 8 - 0.5  # cell centres, input pixels
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)  # (N, 2) x, y
        self.register_buffer("grid", grid, persistent=False)
        self.register_buffer("centres", centres.float().clone(), persistent=False)
        spread = cfg.input_size / 8  # the prior's standard deviation, input pixels (two cells at S = 128)
        self.prior = nn.Parameter(-((grid[None] - self.centres[:, None]) ** 2).sum(-1) / (2 * spread**2))  # (K, N)
        self.linear = nn.Parameter(torch.zeros(num_parts, 2 * width, 4))
        self.linear_bias = nn.Parameter(torch.zeros(num_parts, 4))
        self.num_parts = num_parts
        self.peak_radius = cfg.peak_radius * 8.0  # input pixels

    def _weights(self, logits: Tensor) -> Tensor:
        """(B, K, N) logits -> each part's softmax over the grid; in eval mode within `peak_radius` of its peak
        if set (the masked cells keep a finite logit, so ONNX and TensorRT see plain arithmetic)."""
        if self.peak_radius and not self.training:
            peak = self.grid[logits.argmax(-1)]  # (B, K, 2)
            far = ((self.grid[None, None] - peak.unsqueeze(2)) ** 2).sum(-1) > self.peak_radius**2
            logits = logits.masked_fill(far, -1e4)
        return logits.softmax(-1)

    def forward(self, x: Tensor) -> Tensor:
        if not self.spatial:
            return self._affines(self.reduce(self.trunk(x * 0.25 + 0.5)[0]))
        fine, coarse = self.trunk(x * 0.25 + 0.5)
        f = self.mix(self.lateral(fine) + F.interpolate(self.top(coarse), scale_factor=2.0, mode="nearest"))
        flat = f.flatten(2)  # (B, C, N)
        logits = self.logits(f).flatten(2) + self.prior  # (B, K, N)
        if self.training and self.keep_logits:
            self.last_logits = logits
        weights = self._weights(logits)
        centre = weights @ self.grid  # (B, K, 2)
        pooled = torch.einsum("bkn,bcn->bkc", weights, flat)
        pooled = torch.cat([pooled, flat.mean(-1, keepdim=True).transpose(1, 2).expand_as(pooled)], -1)
        lin = torch.einsum("bkc,kcd->bkd", pooled, self.linear) + self.linear_bias
        lin = lin.view(-1, self.num_parts, 2, 2) + torch.eye(2, device=x.device, dtype=lin.dtype)
        shift = centre - (lin @ self.centres.unsqueeze(-1)).squeeze(-1)
        return torch.cat([lin, shift.unsqueeze(-1)], -1)


def move_points(affines: Tensor, points: Tensor) -> Tensor:
    """Apply affines (B, K, 2, 3) to points (K, N, 2) -> (B, K, N, 2); x=col, y=row."""
    return torch.einsum("bkij,knj->bkni", affines[..., :2], points) + affines[..., None, :, 2]


def mirror_matrices(template: Template, size: int) -> tuple[Tensor, Tensor, Tensor] | None:
    """What `mirror_affines` needs for `template` at input size S: (the parts' mirror partners, the image mirror
    x -> S-1-x and the template mirror about its own axis, both 3x3); None when the template has no mirror
    symmetry (`Template.mirror`)."""
    found = template.mirror()
    if found is None:
        return None
    index, axis = found
    axis_px = (axis + 0.5) * size / CANVAS - 0.5

    def reflect(twice_axis: float) -> Tensor:
        return torch.tensor([[-1.0, 0.0, twice_axis], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])

    return torch.tensor(index), reflect(size - 1.0), reflect(2.0 * axis_px)


def mirror_affines(affines: Tensor, index: Tensor, image: Tensor, template: Tensor) -> Tensor:
    """Affines (B, K, 2, 3) predicted on left-right mirrored inputs -> the affines of the inputs themselves:
    part k takes its mirror partner's affine A, conjugated as image @ A @ template (`mirror_matrices`). For a
    mirror-symmetric template this reads out exactly the mirrored keypoints with left and right swapped."""
    a = affines[:, index]
    pad = torch.zeros_like(a[:, :, :1, :])
    pad[..., 2] = 1.0
    return (image @ torch.cat([a, pad], dim=2) @ template)[:, :, :2, :]


def warp_template(maps: Tensor, affines: Tensor) -> Tensor:
    """Warp template maps (K, S, S) by affines (B, K, 2, 3) -> (B, K, S, S), OpenCV convention."""
    b, k = affines.shape[:2]
    s = maps.shape[-1]
    src = maps.unsqueeze(0).expand(b, k, s, s).reshape(b * k, 1, s, s)
    out = kornia.geometry.transform.warp_affine(src, affines.reshape(b * k, 2, 3), (s, s), align_corners=True)
    return out.view(b, k, s, s)


def normalise(images: Tensor) -> Tensor:
    """uint8 (B, 3, S, S) 0..255 or float 0..1 -> zero-centred float for the regressor."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    return (images - 0.5) / 0.25


class TptModel(nn.Module):
    """Regressor + template buffers. `forward` is warp-free (it is what ONNX exports)."""

    maps: Tensor  # (K, S, S) rendered template
    anchors: Tensor  # (K, 4, 2) padded anchors; slot 3 = Gaussian centre
    anchor_mask: Tensor  # (K, 4) True where an anchor is real
    readout: Tensor  # (J, K*4) joint read-out weights
    links: Tensor  # (L, 2) anchor-loss link indices
    mirror_index: Tensor  # (K,) each part's mirror partner (`mirror_matrices`; identity without symmetry)
    mirror_image: Tensor  # (3, 3) the image's left-right mirror in input pixels
    mirror_template: Tensor  # (3, 3) the template's, about its own axis
    metadata: dict  # set by tpt_live.checkpoint.load_model

    def __init__(self, cfg: ModelConfig, template: Template) -> None:
        super().__init__()
        self.cfg = cfg
        self.template = template
        s = cfg.input_size
        anchors, mask = template.anchor_array(s)
        self.regressor: EffnetRegressor | PoseRegressor
        if cfg.backbone != "scratch":
            self.regressor = EffnetRegressor(cfg, template.num_parts, torch.from_numpy(anchors[:, 3]))
        else:
            self.regressor = PoseRegressor(cfg, template.num_parts)
        self.register_buffer("maps", torch.from_numpy(template.render(s)), persistent=False)
        self.register_buffer("anchors", torch.from_numpy(anchors), persistent=False)
        self.register_buffer("anchor_mask", torch.from_numpy(mask), persistent=False)
        self.register_buffer("readout", torch.from_numpy(template.readout_matrix()), persistent=False)
        self.register_buffer("links", torch.from_numpy(template.link_index()), persistent=False)
        mirror = mirror_matrices(template, s)
        self.can_flip = mirror is not None
        index, image, tmpl = mirror or (torch.arange(template.num_parts), torch.eye(3), torch.eye(3))
        self.register_buffer("mirror_index", index, persistent=False)
        self.register_buffer("mirror_image", image, persistent=False)
        self.register_buffer("mirror_template", tmpl, persistent=False)

    def poses(self, images: Tensor) -> PoseOutput:
        """images: (B, 3, S, S) uint8 0..255 or float 0..1 RGB -> PoseOutput."""
        affines = self.regressor(normalise(images))
        return self.read_out(affines)

    def check_flip(self) -> None:
        """Refuse `--flip` up front (a bad argument) for a template without mirror symmetry."""
        if not self.can_flip:
            raise InputError(f"--flip needs a mirror-symmetric template; {self.template.name!r} is not")

    def regress(self, x: Tensor, flip: bool = False) -> Tensor:
        """Affines (B, K, 2, 3) float32 of normalised inputs x (B, 3, S, S). With `flip`, the mean of the
        affines of x and of x mirrored left-right, mirrored back (`mirror_affines`): test-time flip averaging,
        one regressor call on a batch of 2B (`tpt-live track --flip`)."""
        if not flip:
            return self.regressor(x).float()
        if not self.can_flip:
            raise ModelError(f"template {self.template.name!r} is not mirror-symmetric: --flip needs one that is")
        both = self.regressor(torch.cat([x, x.flip(-1)])).float()
        n = x.shape[0]
        mirrored = mirror_affines(both[n:], self.mirror_index, self.mirror_image, self.mirror_template)
        return (both[:n] + mirrored) / 2

    def read_out(self, affines: Tensor) -> PoseOutput:
        """Keypoints and consistency from affines (B, K, 2, 3)."""
        moved = move_points(affines, self.anchors)  # (B, K, 4, 2)
        flat = moved.flatten(1, 2)  # (B, K*4, 2)
        joints = torch.einsum("jn,bnc->bjc", self.readout, flat)
        second = torch.einsum("jn,bn->bj", self.readout, (flat**2).sum(-1))
        spread = (second - (joints**2).sum(-1)).clamp_min(0).add(1e-12).sqrt()
        consistency = torch.exp(-spread / (self.cfg.consistency_scale * self.cfg.input_size))
        return PoseOutput(affines=affines, keypoints=joints, consistency=consistency, anchors=moved)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.poses(images)
        return out.affines, out.keypoints, out.consistency

    def render(self, affines: Tensor) -> Tensor:
        """The warped template (B, K, S, S) for given affines."""
        return warp_template(self.maps, affines)
