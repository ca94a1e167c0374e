"""Train and measure the presence CNN (`tpt_live.monitor.presence`) on synthetic monitoring scenarios.

Frames come from `tpt_live.synth.scenarios` (infant present, absent, leaving and returning, still,
rolling) at several frame shapes, letterboxed into the S x S model input exactly as the decoder does
(`tpt_live.crop.plan_resize` + `paste`), labelled with the ground truth `present`. Training seeds and
evaluation seeds are disjoint, so the evaluation sees new bodies, clothes, mats, lights and cameras.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tpt_live.crop import full_box, paste, plan_resize
from tpt_live.errors import InputError
from tpt_live.monitor.presence import INPUT, LAYERS, PresenceEnsemble, PresenceNet, presence_input
from tpt_live.synth import SynthConfig
from tpt_live.synth.scenarios import render_scenario
from trainer.presence_data import camera_augment, crop_box, model_input, texture
from trainer.real_frames import RealFrames, check_counts, real_backdrop

log = logging.getLogger(__name__)

# scenario mix of a dataset: (scenario, weight); absent frames come from "absent" and "leave_return"
MIX: tuple[tuple[str, float], ...] = (("active", 0.25), ("absent", 0.3), ("leave_return", 0.25), ("roll", 0.1),
                                      ("still", 0.1))  # fmt: skip
WIDTHS = (16, 32, 64)  # channels of the three convolutions (the shipped file's)
MEMBER_SEED_STRIDE = 1000  # seed offset between ensemble members (a dataset uses seed .. seed + 500)
SHAPES: tuple[tuple[int, int], ...] = ((64, 64), (80, 64), (64, 80), (96, 64), (64, 48))  # (width, height)


@dataclass(frozen=True)
class PresenceTrainConfig:
    seed: int = 1000  # first dataset seed of the training clips (evaluation uses other seeds)
    clips: int = 800  # plain training clips (full frames, as rendered)
    hard_clips: int = 600  # hard training clips (textures, roi-like crops, camera augmentation)
    widths: tuple[int, int, int] = WIDTHS  # channels of the three convolutions
    frames: int = 24  # frames per clip (every 2nd is used)
    size: int = 64  # model input S the frames are letterboxed into
    epochs: int = 16  # passes over the training frames
    batch: int = 64  # frames per step
    lr: float = 3e-3  # Adam learning rate
    textured: float = 0.7  # share of the hard clips rendered over a procedural texture instead of their mat
    texture_negatives: float = 0.3  # texture-only frames added, as a share of the hard frames
    calibration_clips: int = 60  # clips of another seed (seed + 500) that fit the temperature
    backgrounds: tuple[str, ...] = ()  # real footage with no infant (videos or image folders), see real_frames
    real_share: float = 0.5  # with backgrounds: share of the hard clips drawn over a real frame
    real_negatives: float = 0.3  # with backgrounds: real-only crops added, as a share of the hard frames
    hard_world: str = "room"  # synth world of the hard clips ("room": also filmed across the room; "mixed": both)
    members: int = 1  # nets in the file (`train_ensemble`): member i trains on seed + MEMBER_SEED_STRIDE x i
    sitting: float = 0.0  # share of the babies on their back drawn sitting up instead (`tpt-live synth --sitting`)

    def __post_init__(self) -> None:
        if self.members < 1:
            raise InputError(f"presence members {self.members} must be >= 1")
        check_counts(self, ("clips", "epochs", "batch", "frames", "calibration_clips"))
        if self.size < 16 or not self.lr > 0:
            raise InputError(f"--size {self.size} must be 16 or more and --lr {self.lr} positive")
        if self.hard_clips < 0:
            raise InputError(f"--hard-clips {self.hard_clips} must be >= 0")
        SynthConfig(sitting=self.sitting)  # the scenes' own share check


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame -> (S, S, 3) model input, the decoder's full-frame crop (area resize)."""
    h, w = rgb.shape[:2]
    plan = plan_resize(w, h, full_box(w, h), size)
    scaled = cv2.resize(rgb, (plan.scaled_w, plan.scaled_h), interpolation=cv2.INTER_AREA)
    return paste(scaled, plan, size)


def scenario_frames(
    seed: int,
    clips: int,
    frames: int,
    size: int,
    step: int = 2,
    textured: float = 0.0,
    hard: bool = False,
    real: RealFrames | None = None,
    real_share: float = 0.0,
    world: str = "default",
    sitting: float = 0.0,
) -> Iterator[tuple[np.ndarray, dict]]:
    """(model input (S, S, 3) uint8 RGB, ground-truth frame dict) pairs of `clips` scenario clips of `seed`.

    textured: share of clips drawn over a procedural texture (`trainer.presence_data.texture`); hard: crop
    each frame as an `--roi` would and pass it through `camera_augment` (else the full frame, as is);
    real, real_share: that share of clips drawn over a window of a real frame instead (before textures);
    sitting: share of the babies on their back drawn sitting up (`SynthConfig.sitting`).
    """
    rng = np.random.default_rng(seed)
    names, weights = zip(*MIX, strict=True)
    for i in range(clips):
        scenario = str(rng.choice(names, p=np.array(weights) / sum(weights)))
        width, height = SHAPES[int(rng.integers(len(SHAPES)))]
        scene_world = ("default", "room")[i % 2] if world == "mixed" else world
        config = SynthConfig(width=width, height=height, frames=frames, fps=10.0, seed=seed, index=i, pose="mixed",
                             world=scene_world, sitting=sitting)  # fmt: skip
        background = real_backdrop(real, real_share, width, height, rng)  # no draw without real frames
        if background is None and textured > 0 and rng.random() < textured:
            background = texture(height, width, rng)
        clip = render_scenario(config, scenario, background)
        for k in range(0, frames, step):
            gt = clip.gt["frames"][k]
            present = bool(gt["present"])
            if not hard:
                yield letterbox(clip.frames[k], size), gt
                continue
            box = crop_box(width, height, np.asarray(gt["kp2d"])[:, :2], present, rng)
            yield camera_augment(model_input(clip.frames[k], box, size), rng), gt


def texture_frames(seed: int, count: int, size: int) -> Iterator[np.ndarray]:
    """`count` texture-only model inputs (S, S, 3) uint8 RGB: negatives with no infant anywhere."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        w, h = SHAPES[int(rng.integers(len(SHAPES)))]
        rgb = (255 * texture(h, w, rng)).astype(np.uint8)
        box = crop_box(w, h, None, False, rng)
        yield camera_augment(model_input(rgb, box, size), rng)


def real_negative_frames(real: RealFrames, seed: int, count: int, size: int) -> Iterator[np.ndarray]:
    """`count` model inputs (S, S, 3) uint8 RGB cut from real frames with no infant: any part of a frame as an
    `--roi` would be, or the whole frame, then `camera_augment`."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        rgb = real.pick(rng)
        box = crop_box(rgb.shape[1], rgb.shape[0], None, False, rng)
        yield camera_augment(model_input(np.ascontiguousarray(rgb), box, size), rng)


def dataset(
    seed: int,
    clips: int,
    frames: int,
    size: int,
    hard_clips: int = 0,
    textured: float = 0.0,
    negatives: float = 0.0,
    real: RealFrames | None = None,
    real_share: float = 0.0,
    real_negatives: float = 0.0,
    hard_world: str = "default",
    sitting: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, INPUT, INPUT, 3) float32, y (N,) float32 0/1): `clips` plain scenario clips of `seed` (full
    frames, as rendered), `hard_clips` clips of seed + 1 (`real_share` of them over real frames, `textured` of
    the rest over textures, roi-like crops, camera augmentation), texture-only negatives (seed + 2),
    `negatives` times the hard frames, and with `real` real-only negatives (seed + 3), `real_negatives` times
    the hard frames; `sitting` goes to both sets of clips (`scenario_frames`)."""
    xs, ys = [], []
    for rgb, gt in scenario_frames(seed, clips, frames, size, sitting=sitting):
        xs.append(presence_input(rgb))
        ys.append(float(gt["present"]))
    n_plain = len(xs)
    hard = scenario_frames(seed + 1, hard_clips, frames, size, textured=textured, hard=True, real=real,
                           real_share=real_share, world=hard_world, sitting=sitting)  # fmt: skip
    for rgb, gt in hard:
        xs.append(presence_input(rgb))
        ys.append(float(gt["present"]))
    n_hard = len(xs) - n_plain
    for rgb in texture_frames(seed + 2, int(negatives * n_hard), size):
        xs.append(presence_input(rgb))
        ys.append(0.0)
    if real is not None:
        for rgb in real_negative_frames(real, seed + 3, int(real_negatives * n_hard), size):
            xs.append(presence_input(rgb))
            ys.append(0.0)
    return np.stack(xs), np.array(ys, np.float32)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the log loss of the calibrated probabilities against y, on a log grid in
    [0.25, 8]: sigmoid(logits / T) for (N,) logits and 0/1 labels (a softmax over (0, logit)), softmax(logits / T)
    for (N, K) logits and class indices."""
    if logits.ndim == 1:
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    y = np.asarray(y).astype(np.int64)
    best, best_t = float("inf"), 1.0
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 61)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def _torch_net(widths: tuple[int, int, int] = WIDTHS):  # `cnn_logits` in torch, for training
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c0, c1, c2 = widths
            self.conv0, self.conv1, self.conv2 = (
                nn.Conv2d(3, c0, 3, 2, 1),
                nn.Conv2d(c0, c1, 3, 2, 1),
                nn.Conv2d(c1, c2, 3, 2, 1),
            )
            self.head = nn.Linear(2 * c2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, 3, INPUT, INPUT)
            for conv in (self.conv0, self.conv1, self.conv2):
                x = torch.relu(conv(x))
            return self.head(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1))[:, 0]

    return Net()


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast jitter, mirror flips and a little noise; x (B, INPUT, INPUT, 3) in [-0.5, 0.5]."""
    b = len(x)
    gain = rng.uniform(0.7, 1.3, (b, 1, 1, 1)).astype(np.float32)
    shift = rng.uniform(-0.15, 0.15, (b, 1, 1, 1)).astype(np.float32)
    out = np.clip(x * gain + shift, -0.5, 0.5)
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, :, ::-1]
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, ::-1]
    return (out + rng.normal(0, 0.02, out.shape)).astype(np.float32)


def fit_cnn(
    net: Any,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable[[Any, Any], Any],
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    on_log: Callable[[dict], None] | None = None,
) -> dict[str, np.ndarray]:
    """Fit a `_torch_net` on prepared inputs x (N, INPUT, INPUT, 3) and labels y: Adam, cosine decay, `_augment`
    per batch, `loss_fn(logits, labels)`; returns the weights as numpy (the `cnn_logits` layout)."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    steps = max(1, len(x) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    for epoch in range(epochs):
        order, total = rng.permutation(len(x)), 0.0
        for s in range(steps):
            idx = order[s * batch : (s + 1) * batch]
            xb = torch.from_numpy(np.ascontiguousarray(_augment(x[idx], rng).transpose(0, 3, 1, 2)))
            loss = loss_fn(net(xb), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        if on_log is not None:
            on_log({"epoch": epoch + 1, "loss": round(total / steps, 4), "frames": len(x)})
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    assert set(weights) == {f"{n}.{p}" for n in (*LAYERS, "head") for p in ("weight", "bias")}
    return weights


def train_presence(config: PresenceTrainConfig, on_log: Callable[[dict], None] | None = None) -> PresenceNet:
    """Render the training frames, fit the CNN, return it as numpy weights."""
    import torch

    torch.manual_seed(config.seed)
    real = RealFrames(config.backgrounds) if config.backgrounds else None
    mixing: dict[str, Any] = {"real": real, "real_share": config.real_share, "real_negatives": config.real_negatives,
                              "hard_world": config.hard_world, "sitting": config.sitting}  # fmt: skip
    x, y = dataset(config.seed, config.clips, config.frames, config.size, config.hard_clips, config.textured,
                   config.texture_negatives, **mixing)  # fmt: skip
    loss = torch.nn.functional.binary_cross_entropy_with_logits
    weights = fit_cnn(_torch_net(config.widths), x, y, loss, config.epochs, config.batch, config.lr, config.seed,
                      on_log)  # fmt: skip
    about: dict[str, Any] = {"train_frames": len(x), "train_seed": config.seed, "input": INPUT}
    if config.backgrounds:
        about["backgrounds"] = [Path(p).name for p in config.backgrounds]
    about["recipe"] = {k: v for k, v in asdict(config).items() if k != "backgrounds"}
    net = PresenceNet(weights, about)
    if config.calibration_clips <= 0:
        return net
    n = config.calibration_clips  # the same mix, half plain and half hard, on other seeds
    cx, cy = dataset(config.seed + 500, n // 2, config.frames, config.size, n - n // 2, config.textured,
                     config.texture_negatives, **mixing)  # fmt: skip
    temperature = fit_temperature(np.concatenate([net.logits(cx[i : i + 256]) for i in range(0, len(cx), 256)]), cy)
    metrics = {**net.metrics, "calibration_frames": len(cx), **accuracy(net, cx, cy)}
    log.info("presence temperature %.3f on %d calibration frames", temperature, len(cx))
    return PresenceNet(weights, metrics, temperature)


def train_ensemble(config: PresenceTrainConfig, on_log: Callable[[dict], None] | None = None) -> PresenceEnsemble:
    """`config.members` nets, each `train_presence` on draws of its own seeds (member i: seed + MEMBER_SEED_STRIDE
    x i, so no two members share a scene or a calibration frame). Metrics: the recipe and background names, and
    each member's own figures under "members"."""
    members = [train_presence(replace(config, seed=config.seed + MEMBER_SEED_STRIDE * i), on_log)
               for i in range(config.members)]  # fmt: skip
    shared: dict[str, Any] = {"recipe": {k: v for k, v in asdict(config).items() if k != "backgrounds"}}
    if "backgrounds" in members[0].metrics:
        shared["backgrounds"] = members[0].metrics["backgrounds"]
    own = [{k: v for k, v in m.metrics.items() if k not in shared} | {"temperature": m.temperature} for m in members]
    return PresenceEnsemble(tuple(members), {**shared, "members": own})


def accuracy(net: PresenceNet, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Per-frame accuracy of `net` on prepared inputs x (N, INPUT, INPUT, 3), labels y (N,) 0/1."""
    pred = np.concatenate([net.logits(x[i : i + 256]) for i in range(0, len(x), 256)]) > 0
    truth = y > 0.5
    return {
        "frames": int(len(y)),
        "accuracy": float((pred == truth).mean()),
        "accuracy_present": float(pred[truth].mean()) if truth.any() else float("nan"),
        "accuracy_absent": float((~pred[~truth]).mean()) if (~truth).any() else float("nan"),
    }
