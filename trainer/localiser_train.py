"""Training the localisation stage (`tpt_live.localise`) on the wide synthetic world.

Data: `tpt-live synth` scenes of the wide world (any in-plane turn, the body 15-90% of the frame height,
anywhere in the frame; mixed postures) at several aspect ratios (4:3, 3:4, 16:9, 9:16, 1:1), letterboxed to
S x S exactly as `Localiser.locate` does; the target is the pelvis-to-head axis of the ground-truth 2D
(`localise.body_axis`). No human annotation anywhere.

Augmentation per batch (so that the shape, not the synthetic look, has to be learned): horizontal flips and
quarter turns (targets mapped), colour gains and offsets, greyscale (night-vision cameras), Gaussian blur,
sensor noise, JPEG re-compression.

Loss per image: cross-entropy of the centre's cell over the G x G grid (target softened with a Gaussian of
0.75 cells), and L1 on the offset (from each cell to the centre) and log length, squared error on (cos, sin), on
every cell weighted by a Gaussian of `reg_sigma` cells around the centre (since stop 49; 0: the true cell alone), so
that a peak one cell off still reads regressions that were trained there.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from tpt_live.crop import to_model
from tpt_live.localise import LOOK_AGAIN, body_axis, letterboxed
from tpt_live.localiser_net import STRIDE, Localiser, LocaliserConfig, LocaliserNet, save_localiser
from tpt_live.synth import SynthConfig, render_clip
from trainer.real_frames import RealFrames, check_counts, check_real_share, real_backdrop, recipe_names

log = logging.getLogger(__name__)
ASPECTS = ((160, 120), (120, 160), (128, 128), (176, 100), (100, 176), (144, 112))
# a training set's synth look: one of synth's, or a mix whose scenes take its looks in turn
MIXED_LOOKS = {"mixed": ("plain", "varied"), "mixed_random": ("plain", "varied", "random")}
TRAIN_LOOKS = ("plain", "varied", "random", *MIXED_LOOKS)


def check_look(look: str) -> None:
    """InputError unless `look` is one of TRAIN_LOOKS."""
    from tpt_live.errors import InputError

    if look not in TRAIN_LOOKS:
        raise InputError(f"--look {look!r}: use one of {', '.join(TRAIN_LOOKS)}")


TRAIN_WORLDS = ("wide", "room")  # synth worlds a training set may come from (docs/SYNTH.md)


def check_world(world: str) -> None:
    """InputError unless `world` is one of TRAIN_WORLDS."""
    from tpt_live.errors import InputError

    if world not in TRAIN_WORLDS:
        raise InputError(f"--world {world!r}: use wide or room")


def scene_look(look: str, index: int) -> str:
    """The synth look of scene `index` of a training set in `look` (one of TRAIN_LOOKS)."""
    looks = MIXED_LOOKS.get(look, (look,))
    return looks[index % len(looks)]


@dataclass(frozen=True)
class LocaliserTrainConfig:
    out: str = "runs/localiser"
    clips: int = 3000  # wide-world scenes rendered for training
    frames: int = 4  # frames kept per scene (1 s apart)
    val_clips: int = 120  # scenes of another seed, for the validation figures
    steps: int = 2000
    batch: int = 32
    lr: float = 1e-3  # head
    trunk_lr: float = 3e-4  # EfficientNet-Lite0 blocks 3-10 (the stem and blocks 0-2 stay ImageNet's)
    frozen_blocks: int = 3
    seed: int = 0
    threads: int = 1
    size: int = 128
    look: str = "plain"  # synth look of the scenes: one of TRAIN_LOOKS
    world: str = "wide"  # synth world of the scenes: one of TRAIN_WORLDS
    backgrounds: tuple[str, ...] = ()  # real footage with no infant (videos or image folders), see real_frames
    real_share: float = 0.5  # with backgrounds: share of the training scenes drawn over a window of a real frame
    propped: float = 0.0  # share of prone bodies propped on forearms or hands (`tpt-live synth --propped`)
    sitting: float = 0.0  # share of bodies on their back drawn sitting up (`tpt-live synth --sitting`)
    reg_sigma: float = 0.75  # regressions trained around the centre's cell (Gaussian, cells; 0: that cell only)

    def __post_init__(self) -> None:
        check_look(self.look)
        check_world(self.world)
        check_real_share(self.real_share)
        SynthConfig(propped=self.propped, sitting=self.sitting)  # the scenes' own share checks
        check_counts(self, ("clips", "frames", "val_clips", "steps", "batch", "threads"))
        if not self.reg_sigma >= 0:
            from tpt_live.errors import InputError

            raise InputError(f"--reg-sigma {self.reg_sigma} must be >= 0 (0: the centre's cell alone)")


def render_set(
    clips: int,
    frames: int,
    seed: int,
    size: int,
    look: str = "plain",
    world: str = "wide",
    real: RealFrames | None = None,
    real_share: float = 0.5,
    propped: float = 0.0,
    sitting: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S, 3) uint8 letterboxed frames and (N, 4) targets (x, y, length, angle) in input pixels;
    `look` "mixed" renders every other scene in the varied look. With `real`, a share `real_share` of the
    scenes is drawn over a window of a real frame instead of its own backdrop (own generator: the other scenes
    do not change). `propped` and `sitting` are synth's shares of babies in tummy time and sitting up."""
    images, targets = [], []
    real_rng = np.random.default_rng([seed, 78])
    for i in range(clips):
        w, h = ASPECTS[i % len(ASPECTS)]
        scene = SynthConfig(
            w, h, frames=frames, fps=1.0, seed=seed, index=i, pose="mixed", world=world, look=scene_look(look, i),
            propped=propped, sitting=sitting,
        )  # fmt: skip
        clip = render_clip(scene, real_backdrop(real, real_share, w, h, real_rng))
        for f, frame in enumerate(clip.frames):
            image, box = letterboxed(frame, size)  # exactly what `Localiser.locate` feeds the network
            images.append(image)
            kp = to_model(np.asarray(clip.gt["frames"][f]["kp2d"]), box, size)
            targets.append(body_axis(kp))
    return np.stack(images), np.stack(targets).astype(np.float32)


def turn_batch(x: Tensor, t: Tensor, turns: int, flip: bool) -> tuple[Tensor, Tensor]:
    """Images (B, 3, S, S) and targets (B, 4) turned `turns` quarter turns clockwise after an optional
    horizontal flip; the targets follow (points x = col, y = row, centres at integers; angle clockwise)."""
    s = x.shape[-1]
    t = t.clone()
    if flip:
        x = x.flip(-1)
        t[:, 0] = s - 1 - t[:, 0]
        t[:, 3] = (-t[:, 3]) % 360.0
    for _ in range(turns % 4):  # one clockwise quarter turn: (x, y) -> (S-1-y, x)
        x = x.rot90(-1, dims=(-2, -1))
        t[:, 0], t[:, 1] = s - 1 - t[:, 1], t[:, 0].clone()
        t[:, 3] = (t[:, 3] + 90.0) % 360.0
    return x, t


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric augmentation of (B, S, S, 3) uint8 images (see the module docstring)."""
    b = len(images)
    out: np.ndarray = images.astype(np.float32)
    out = out * rng.uniform(0.6, 1.4, (b, 1, 1, 3)) + rng.uniform(-40, 40, (b, 1, 1, 3))
    grey = rng.random(b) < 0.25
    out[grey] = out[grey].mean(-1, keepdims=True)
    for i in np.flatnonzero(rng.random(b) < 0.3):
        out[i] = cv2.GaussianBlur(out[i], (0, 0), float(rng.uniform(0.5, 1.5)))
    out += rng.normal(0, 1, out.shape) * rng.uniform(0, 8, (b, 1, 1, 1))
    final = np.clip(out, 0, 255).astype(np.uint8)
    for i in np.flatnonzero(rng.random(b) < 0.3):
        _, enc = cv2.imencode(".jpg", final[i], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 70))])
        final[i] = np.asarray(cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)).reshape(final[i].shape)
    return final


def erase(x: np.ndarray, which: np.ndarray, rng: np.random.Generator) -> None:
    """Paint 1-3 rectangles (each 2-12% of the area, sides 1:3 to 3:1, anywhere in the input) over the inputs of
    (B, S, S, 3) uint8 `x` where `which` (B,) is set, in place: half of them per-pixel noise, half one colour (random
    erasing). The labels stay: the network must place the parts the rectangles hide from what they leave."""
    s = x.shape[1]
    for i in np.flatnonzero(which):
        for _ in range(int(rng.integers(1, 4))):
            area, aspect = rng.uniform(0.02, 0.12) * s * s, math.exp(rng.uniform(-math.log(3), math.log(3)))
            w = min(s, max(1, round(math.sqrt(area * aspect))))
            h = min(s, max(1, round(math.sqrt(area / aspect))))
            x0, y0 = int(rng.integers(0, s - w + 1)), int(rng.integers(0, s - h + 1))
            if rng.random() < 0.5:
                x[i, y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            else:
                x[i, y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3, dtype=np.uint8)


def localiser_loss(out: Tensor, target: Tensor, reg_sigma: float = 0.0) -> Tensor:
    """out (B, 6, G, G), target (B, 4) input pixels -> scalar (see the module docstring). `reg_sigma` > 0 trains the
    regressions on every cell, weighted by a Gaussian of that many cells around the centre (each cell's offset
    measured from itself), so that a peak one cell off still reads a trained regression; 0: the centre's cell only."""
    b, _, g, _ = out.shape
    cell = (target[:, :2] + 0.5) / STRIDE  # continuous cell coordinates (x, y)
    col = cell[:, 0].clamp(0, g - 1e-3).floor().long()
    row = cell[:, 1].clamp(0, g - 1e-3).floor().long()
    centres = torch.arange(g, dtype=out.dtype) + 0.5
    d2 = (centres.view(1, 1, g) - cell[:, 0].view(b, 1, 1)) ** 2 + (
        centres.view(1, g, 1) - cell[:, 1].view(b, 1, 1)
    ) ** 2
    soft = torch.exp(-d2 / (2 * 0.75**2)).flatten(1)
    soft = soft / soft.sum(1, keepdim=True).clamp_min(1e-8)
    ce = -(soft * out[:, 0].flatten(1).log_softmax(1)).sum(1).mean()
    a = torch.deg2rad(target[:, 3])
    log_length = torch.log(target[:, 2].clamp_min(1.0) / (g * STRIDE))
    if reg_sigma > 0:
        w = torch.exp(-d2 / (2 * reg_sigma**2))
        w = w / w.sum((1, 2), keepdim=True).clamp_min(1e-8)  # (B, G, G)
        dx = cell[:, 0].view(b, 1, 1) - centres.view(1, 1, g)
        dy = cell[:, 1].view(b, 1, 1) - centres.view(1, g, 1)
        reg_map = (out[:, 1] - dx).abs() + (out[:, 2] - dy).abs() + (out[:, 3] - log_length.view(b, 1, 1)).abs()
        ang_map = (out[:, 4] - a.cos().view(b, 1, 1)) ** 2 + (out[:, 5] - a.sin().view(b, 1, 1)) ** 2
        return ce + ((reg_map + ang_map) * w).sum((1, 2)).mean()
    at = out[torch.arange(b), :, row, col]  # (B, 6)
    offset = torch.stack([cell[:, 0] - col - 0.5, cell[:, 1] - row - 0.5], 1)
    reg = (at[:, 1:3] - offset).abs().sum(1) + (at[:, 3] - log_length).abs()
    ang = (at[:, 4] - a.cos()) ** 2 + (at[:, 5] - a.sin()) ** 2
    return ce + (reg + ang).mean()


def score_locations(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """pred (N, >=4) and target (N, 4) (x, y, length, angle) -> centre error / length, length ratio error,
    angle error, and `found`: centre within half a length, length within 30% and turn right."""
    centre = np.linalg.norm(pred[:, :2] - target[:, :2], axis=1) / np.maximum(target[:, 2], 1e-6)
    ratio = np.abs(np.log(np.maximum(pred[:, 2], 1e-6) / np.maximum(target[:, 2], 1e-6)))
    ang = np.abs((pred[:, 3] - target[:, 3] + 180.0) % 360.0 - 180.0)
    found = (centre < 0.5) & (ratio < math.log(1.3)) & (ang < 45.0)
    return {
        "centre_err": float(np.median(centre)),
        "length_err": float(np.median(np.exp(ratio) - 1)),
        "angle_err_deg": float(np.median(ang)),
        "turn_right": float(np.mean(ang < 45.0)),
        "found": float(np.mean(found)),
    }


def train_localiser(cfg: LocaliserTrainConfig) -> dict[str, float]:
    """Render, train, validate and write `cfg.out`/localiser.safetensors; returns the validation figures."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    real = RealFrames(cfg.backgrounds) if cfg.backgrounds else None
    scenes = partial(
        render_set, size=cfg.size, look=cfg.look, world=cfg.world, propped=cfg.propped, sitting=cfg.sitting
    )
    images, targets = scenes(cfg.clips, cfg.frames, 1000 + cfg.seed, real=real, real_share=cfg.real_share)
    val_images, val_targets = scenes(cfg.val_clips, 2, 70000 + cfg.seed)
    log.info(
        "rendered %d training and %d validation frames in %.0f s",
        len(images),
        len(val_images),
        time.perf_counter() - t0,
    )
    net = LocaliserNet(LocaliserConfig(size=cfg.size))
    net.trunk.load_imagenet()
    frozen = net.trunk.first(cfg.frozen_blocks)
    for m in frozen:
        m.requires_grad_(False)
    trunk = [p for p in net.trunk.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": trunk, "lr": cfg.trunk_lr}, {"params": net.head.parameters(), "lr": cfg.lr}])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [cfg.trunk_lr, cfg.lr], total_steps=cfg.steps, pct_start=0.1)
    for step in range(cfg.steps):
        net.train()
        for m in frozen:
            m.eval()
        pick = rng.integers(0, len(images), cfg.batch)
        x = torch.from_numpy(augment(images[pick], rng)).permute(0, 3, 1, 2).float() / 255.0
        x, t = turn_batch(x, torch.from_numpy(targets[pick]), int(rng.integers(4)), bool(rng.random() < 0.5))
        loss = localiser_loss(net(x), t, cfg.reg_sigma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == cfg.steps - 1:
            log.info("step %d/%d loss %.3f (%.0f s)", step + 1, cfg.steps, loss.item(), time.perf_counter() - t0)
    located = Localiser(net)
    located.look_again = 0.0  # the network's own figures; `found_second_look`: what `track` gets
    found = located.locate(list(val_images))  # S x S frames: the letterbox is the identity
    metrics = score_locations(np.array([[f.x, f.y, f.length, f.angle] for f in found]), val_targets)
    located.look_again = LOOK_AGAIN
    again = np.array([[f.x, f.y, f.length, f.angle] for f in located.locate(list(val_images))])
    metrics["found_second_look"] = score_locations(again, val_targets)["found"]
    metrics.update(train_frames=len(images), val_frames=len(val_images), minutes=(time.perf_counter() - t0) / 60)
    save_localiser(net, Path(cfg.out) / "localiser.safetensors", {**metrics, "train": recipe_names(asdict(cfg))})
    log.info("validation: %s", metrics)
    return metrics
