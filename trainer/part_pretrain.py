"""Pretraining the part model on synthetic ground truth, in the crops `track --locate` gives it.

The model (`tpt_live.model.PRETRAINED`: EfficientNet-Lite0 blocks 0-10 from ImageNet, 128 px, one affine per
template part as always) learns where the parts are from our own renderings: no human annotation anywhere.
Its inputs are made exactly as at run time: a wide-world scene (`tpt-live synth --world wide`: any picture
turn, the body 15-90% of the height, anywhere in the frame) is cut along a body axis by `localise.crop_along`
and turned upright by `crop.turned_crop`. The axis is the ground truth's, disturbed as the localiser errs
(centre, length and direction noise, docs/LOCALISE.md; with `wild_turns` some directions anywhere, as when
the localiser takes the feet for the head), so the part model learns to finish the framing the localiser
starts. Scenes have the plain look, the photo-like varied one (`tpt-live synth --look varied`),
or both (`look="mixed"`: every other scene). With `backgrounds` (real footage with no infant in it, as for the
presence net), a share of the scenes is drawn over windows of real frames, people and rooms included, so that
photographed clutter behind the body is seen in training (the validation scenes keep their own backdrops).

Loss: L1 between the read-out joints and the ground truth (fractions of the input side; joints hidden by
the body weigh half), the template's anchor-link loss (copies of one joint agree, METHOD.md 1.5) and a small
penalty on each part's shear and anisotropy beyond the template's, so the drawn parts stay body-like where
the joints leave an affine free. With `stability`, each step shows every crop twice under independent
photometric augmentation and adds the L1 between the two predictions: without it the joints of a still
baby jumped by several pixels from frame to frame with sensor noise alone (docs/TRAINING.md). With `heatmap`, each
part's grid softmax is also asked to sit on the part (`trainer.part_targets`).
Augmentation: horizontal flips (left and right joints swap), colour, greyscale, blur, noise and JPEG
(`trainer.localiser_train.augment`).
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from tpt_live.checkpoint import resolve_device, save_model
from tpt_live.crop import to_model, turn_points_by, turned_crop
from tpt_live.effnet import same_stages
from tpt_live.errors import InputError
from tpt_live.localise import Location, body_axis, crop_along
from tpt_live.model import PRETRAINED, EffnetRegressor, ModelConfig, TptModel
from tpt_live.skeleton import FLIP_INDEX
from tpt_live.synth import SynthConfig, render_clip
from tpt_live.template import load_template
from trainer.averaging import first_averaged_step, running_average
from trainer.localiser_train import augment, check_look, check_world, erase, scene_look
from trainer.losses import anchor_loss
from trainer.part_targets import heatmap_loss, part_centre_map
from trainer.real_frames import RealFrames, check_counts, check_real_share, real_backdrop, recipe_names

log = logging.getLogger(__name__)
ASPECTS = ((320, 240), (240, 320), (256, 256), (352, 198), (198, 352), (288, 224))


# anatomical mirror: the joint each joint becomes when the picture is flipped left-right
@dataclass(frozen=True)
class PretrainConfig:
    out: str = "runs/pretrained"
    clips: int = 3000  # wide-world scenes rendered for training
    frames: int = 4  # frames kept per scene (1 s apart)
    val_clips: int = 100  # scenes of another seed, for the validation figures
    steps: int = 4000
    batch: int = 32
    lr: float = 1e-3  # head
    trunk_lr: float = 3e-4  # EfficientNet-Lite0 blocks 3-10 (the stem and blocks 0-2 stay ImageNet's)
    frozen_blocks: int = 3  # counted in Lite0's blocks: Lite1 keeps the same stages (stem, stages 1-2) ImageNet's
    centre_noise: float = 0.15  # std of the axis centre's displacement, in axis lengths (each direction)
    length_noise: float = 0.15  # std of log(length)
    angle_noise: float = 15.0  # std of the direction, degrees
    wild_turns: float = 0.1  # share of inputs whose direction is drawn anywhere (the localiser's gross misses)
    stability: float = 1.0  # weight of the agreement between two photometric views of one crop (0: off)
    link_weight: float = 1.0
    shape_weight: float = 0.02
    look: str = "mixed"  # synth look of the scenes: "plain", "varied" or "mixed" (every other scene varied)
    world: str = "wide"  # synth world of the scenes: "wide" or "room" (also filmed across the room)
    flexion: float = 0.0  # share of scenes in a young infant's flexed resting posture (`tpt-live synth --flexion`)
    hands: float = 0.0  # share of arms held with the hand at the face or chest (`tpt-live synth --hands`)
    side_gravity: bool = False  # side-lying bodies rest their limbs as gravity would (`tpt-live synth --side-gravity`)
    propped: float = 0.0  # share of prone bodies propped on forearms or hands, chest up (`tpt-live synth --propped`)
    sitting: float = 0.25  # share of bodies on their back drawn sitting up (`tpt-live synth --sitting`; since stop 48)
    seats: float = 0.3  # share of bodies on their back reclined in a bouncer or car seat (`tpt-live synth --seats`;
    # varied and random scenes, none in plain ones; since stop 52)
    backgrounds: tuple[str, ...] = ()  # real footage with no infant (videos or image folders), see real_frames
    real_share: float = 0.5  # with backgrounds: share of the training scenes drawn over a window of a real frame
    input_size: int = 128  # the part model's input side, pixels (a multiple of 32)
    backbone: str = "effnet"  # the part model's trunk: "effnet" (EfficientNet-Lite0) or "effnet-lite1"
    head: str = "spatial"  # the part model's head (`tpt_live.model.EffnetRegressor`): "spatial" or "dense"
    swap_tolerant: bool = True  # the joint loss takes the better of the labels and their left/right swap, per input
    heatmap: float = 0.0  # weight of the cross-entropy of each part's grid softmax against its labelled centre
    # (trainer.part_targets; spatial head only; 0: off)
    heatmap_sigma: float = 1.0  # that target's Gaussian, grid cells
    peak_radius: float = 1.5  # the saved model's decoding at run time (`ModelConfig.peak_radius`; training reads the
    # whole grid): each part within 1.5 cells of its peak, the peak cell and its 8 neighbours
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # where the network trains ("cuda" on a GPU); rendering and augmentation stay on the CPU
    workers: int = 0  # processes that render the scenes and augment the batches (0: this one)
    minutes: float = 0.0  # stop the optimiser after this long (then validate and save); 0: run all the steps
    erase: float = 0.0  # share of inputs with 1-3 random rectangles painted over (noise or one colour; labels kept)
    average_from: float = 0.0  # share of the steps after which the saved weights are the uniform average of every
    # later step's (SWA, batch-norm statistics averaged too; the last step's then in last.safetensors); 0: the last

    @property
    def model(self) -> ModelConfig:
        """The part model's settings: the shipped architecture (`PRETRAINED`) with this size, trunk, head and
        decoding."""
        return replace(
            PRETRAINED,
            input_size=self.input_size,
            backbone=self.backbone,
            head=self.head,
            peak_radius=self.peak_radius if self.head == "spatial" else 0.0,
        )

    def __post_init__(self) -> None:
        check_counts(self, ("clips", "frames", "val_clips", "steps", "batch", "threads"))
        if self.workers < 0 or self.minutes < 0:
            raise InputError(f"--workers and --minutes must be >= 0, got {self.workers} and {self.minutes}")
        if not 0.0 <= self.erase <= 1.0:
            raise InputError(f"--erase must be in [0, 1], got {self.erase}")
        if not 0.0 <= self.average_from < 1.0:
            raise InputError(f"--average-from must be in [0, 1), got {self.average_from}")
        check_look(self.look)
        _ = self.model  # ModelConfig checks the head (one InputError) before anything is rendered
        check_world(self.world)
        check_real_share(self.real_share)
        sane = math.isfinite(self.heatmap) and math.isfinite(self.heatmap_sigma)
        if not sane or self.heatmap < 0 or self.heatmap_sigma <= 0 or (self.heatmap and self.head != "spatial"):
            raise InputError(
                f"--heatmap {self.heatmap} --heatmap-sigma {self.heatmap_sigma}: the weight must be >= 0, the "
                "sigma > 0, and a weight needs the spatial head"
            )
        SynthConfig(flexion=self.flexion, hands=self.hands, propped=self.propped, sitting=self.sitting,
                    seats=self.seats)  # share checks  # fmt: skip


def located_sample(frame: np.ndarray, kp2d: np.ndarray, axis: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The S x S input `track --locate` makes of `frame` for body axis `axis` (x, y, length, angle in source
    pixels), and the keypoints (J, 2) in that input's pixels."""
    x, y, length, angle = map(float, axis)
    box, degrees = crop_along(Location(x, y, length, angle, score=1.0))
    image, exact = turned_crop(frame, box, degrees, size)
    return image, turn_points_by(to_model(kp2d, exact, size), degrees, size).astype(np.float32)


def disturb(axis: np.ndarray, cfg: PretrainConfig, rng: np.random.Generator) -> np.ndarray:
    """The axis moved, scaled and turned as the localiser errs."""
    x, y, length, angle = axis
    dx, dy = rng.normal(0.0, cfg.centre_noise, 2) * length
    wild = cfg.wild_turns > 0 and rng.random() < cfg.wild_turns  # no extra draw without wild turns
    turn = rng.uniform(-180.0, 180.0) if wild else rng.normal(0.0, cfg.angle_noise)
    return np.array([x + dx, y + dy, length * math.exp(rng.normal(0.0, cfg.length_noise)), angle + turn])


@contextmanager
def forkable() -> Iterator[None]:
    """OpenCV single-threaded while worker processes are forked: a child that inherits its thread pool hangs
    at its first parallel call (seen with GaussianBlur)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # (N, S, S, 3) uint8 inputs, (N, J, 2) keypoints, (N, J) visible


def render_scene(
    i: int, frames: int, seed: int, size: int, cfg: PretrainConfig, jitters: tuple[bool, ...], real: RealFrames | None
) -> list[tuple[list, list, list]]:
    """Scene `i` of `render_sets`: per entry of `jitters`, its frames' inputs, keypoints and visibility. Every
    draw comes from generators of this scene's own, so a scene is the same whichever process renders it."""
    rng = np.random.default_rng([seed, 77, i])
    real_rng = np.random.default_rng([seed, 78, i])
    w, h = ASPECTS[i % len(ASPECTS)]
    look = scene_look(cfg.look, i)
    scene = SynthConfig(w, h, frames=frames, fps=1.0, seed=seed, index=i, pose="mixed", world=cfg.world, look=look,
                        flexion=cfg.flexion, hands=cfg.hands,
                        side_gravity=cfg.side_gravity, propped=cfg.propped, sitting=cfg.sitting,
                        seats=cfg.seats)  # fmt: skip
    clip = render_clip(scene, real_backdrop(real, cfg.real_share, w, h, real_rng))
    sets: list[tuple[list, list, list]] = [([], [], []) for _ in jitters]
    for f, frame in enumerate(clip.frames):
        rec = clip.gt["frames"][f]
        kp = np.asarray(rec["kp2d"], dtype=np.float64)
        axis = body_axis(kp)
        for jitter, (images, points, visible) in zip(jitters, sets, strict=True):
            image, target = located_sample(frame, kp, disturb(axis, cfg, rng) if jitter else axis, size)
            images.append(image)
            points.append(target)
            visible.append(np.asarray(rec["visible"], dtype=bool))
    return sets


_JOB: Callable[[int], list] | None = None  # the scene job forked render workers run (`render_sets`)


def _run_job(i: int) -> list:
    assert _JOB is not None
    return _JOB(i)


def render_sets(
    clips: int,
    frames: int,
    seed: int,
    size: int,
    cfg: PretrainConfig,
    jitters: tuple[bool, ...] = (True,),
    real: RealFrames | None = None,
) -> list[Sample]:
    """Per entry of `jitters` (disturbed axes or the exact ones), from one rendering of the scenes: (N, S, S, 3)
    uint8 located inputs, (N, J, 2) keypoints in input pixels, (N, J) visibility. With `real`, a share
    `cfg.real_share` of the scenes is drawn over a window of a real frame instead of its own backdrop (the scene
    is otherwise the same; the draws come from their own generator, so the other scenes do not change). With
    `cfg.workers`, that many processes render the scenes; the result does not depend on how many."""
    global _JOB
    job = partial(render_scene, frames=frames, seed=seed, size=size, cfg=cfg, jitters=jitters, real=real)
    if cfg.workers > 0:  # forked workers inherit the job (and `real`'s frames) instead of unpickling it per task
        _JOB = job
        try:
            with forkable(), mp.get_context("fork").Pool(cfg.workers) as pool:
                scenes = pool.map(_run_job, range(clips), chunksize=max(1, clips // (8 * cfg.workers)))
        finally:
            _JOB = None
    else:
        scenes = [job(i) for i in range(clips)]
    return [
        tuple(np.stack([x for scene in scenes for x in scene[j][part]]) for part in range(3))  # type: ignore[misc]
        for j in range(len(jitters))
    ]


def batches(data: Sample, cfg: PretrainConfig, rng: np.random.Generator) -> Iterator[Sample]:
    """Endless training batches drawn from `data`: (B, S, S, 3) uint8 inputs (augmented, mirrored half of the
    time), keypoints and visibility; with `cfg.stability`, the second half repeats the first half's crops under
    other augmentation. NumPy and OpenCV only, as it runs in forked loader processes (see `forkable`)."""
    images, points, visible = data
    while True:
        pick = rng.integers(0, len(images), cfg.batch // 2 if cfg.stability > 0 else cfg.batch)
        if cfg.stability > 0:
            pick = np.concatenate([pick, pick])
        x, kp, vis = augment(images[pick], rng), points[pick], visible[pick]
        if cfg.erase > 0:
            erase(x, rng.random(len(x)) < cfg.erase, rng)
        if rng.random() < 0.5:
            x, kp, vis = flip_batch(x, kp, vis)
        yield x, kp, vis


class BatchStream(torch.utils.data.IterableDataset):
    """`batches` in DataLoader worker processes, each with a generator of its own (`cfg.workers` > 0)."""

    def __init__(self, data: Sample, cfg: PretrainConfig) -> None:
        self.data, self.cfg = data, cfg

    def __iter__(self) -> Iterator[Sample]:
        info = torch.utils.data.get_worker_info()  # OpenCV is single-threaded here: forked in `forkable`
        return batches(self.data, self.cfg, np.random.default_rng([self.cfg.seed, 79, info.id if info else 0]))


def batch_source(data: Sample, cfg: PretrainConfig, rng: np.random.Generator) -> Iterator:
    """Training batches from this process (`cfg.workers` == 0) or from `cfg.workers` loader processes."""
    if cfg.workers == 0:
        return batches(data, cfg, rng)
    loader = torch.utils.data.DataLoader(
        BatchStream(data, cfg),
        batch_size=None,
        num_workers=cfg.workers,
        pin_memory=cfg.device.startswith("cuda"),
        prefetch_factor=4,
        multiprocessing_context="fork",
    )
    with forkable():  # the loader forks its workers here
        return iter(loader)


def flip_batch(x: np.ndarray, kp: np.ndarray, vis: np.ndarray) -> Sample:
    """Mirror images (B, S, S, 3) left-right; keypoints (B, J, 2) follow and left/right joints swap names."""
    s = x.shape[2]
    kp = kp[:, list(FLIP_INDEX)].copy()
    kp[..., 0] = s - 1 - kp[..., 0]
    return np.ascontiguousarray(x[:, :, ::-1]), kp, vis[:, list(FLIP_INDEX)]


def shape_penalty(affines: Tensor) -> Tensor:
    """Mean squared log-anisotropy and shear of each part's linear map (zero for any similarity)."""
    lin = affines[..., :2]
    a, b, c, d = lin[..., 0, 0], lin[..., 0, 1], lin[..., 1, 0], lin[..., 1, 1]
    return ((a - d) ** 2 + (b + c) ** 2).mean()


def pretrain_loss(
    model: TptModel, x: Tensor, kp: Tensor, vis: Tensor, cfg: PretrainConfig
) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss of the module docstring for inputs x (B, 3, S, S) in [0, 1] and keypoints (B, J, 2)."""
    s = model.cfg.input_size
    regressor = model.regressor
    if cfg.heatmap > 0:  # the softmax target reads this pass's grid logits
        assert isinstance(regressor, EffnetRegressor)
        regressor.keep_logits = True
    out = model.poses(x)
    if cfg.heatmap > 0:
        regressor.keep_logits = False
    weight = 0.5 + 0.5 * vis.float()
    per_input = ((out.keypoints - kp).abs().sum(-1) * weight).sum(-1)  # (B,)
    labels = kp
    if cfg.swap_tolerant:  # either labelling of left and right may win, for the whole body at once
        swapped = ((out.keypoints[:, list(FLIP_INDEX)] - kp).abs().sum(-1) * weight).sum(-1)
        # the prediction read swapped matches kp as the prediction matches kp swapped: the labels this input takes
        labels = torch.where((swapped < per_input).detach()[:, None, None], kp[:, list(FLIP_INDEX)], kp)
        per_input = torch.minimum(per_input, swapped)
    joint = per_input.sum() / weight.sum() / s
    links = anchor_loss(out.anchors, model.links, s)
    shape = shape_penalty(out.affines)
    loss = joint + cfg.link_weight * links + cfg.shape_weight * shape
    parts = {"joint": joint.detach(), "links": links.detach(), "shape": shape.detach()}  # no GPU sync per step
    if cfg.stability > 0:  # the batch is two views of the same crops (`pretrain`): their joints must agree
        a, b = out.keypoints.chunk(2)
        stable = (a - b).abs().sum(-1).mean() / s
        loss = loss + cfg.stability * stable
        parts["stable"] = stable.detach()
    if cfg.heatmap > 0:  # each part's softmax must sit on the part, not only average to it
        assert isinstance(regressor, EffnetRegressor)
        heat = heatmap_loss(regressor, labels, part_centre_map(model.template, s), cfg.heatmap_sigma)
        loss = loss + cfg.heatmap * heat
        parts["heat"] = heat.detach()
    return loss, parts


def joint_error(model: TptModel, images: np.ndarray, points: np.ndarray, batch: int = 64) -> tuple[float, float]:
    """Mean joint error of the model and of the untransformed template, % of the input side."""
    s = model.cfg.input_size
    device = next(model.parameters()).device
    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).to(device)
            kp = model.poses(x).keypoints.cpu().numpy()
            errs.append(np.linalg.norm(kp - points[i : i + batch], axis=-1).mean(-1))
    template = np.linalg.norm(model.template.joints(s)[None] - points, axis=-1).mean()
    return float(np.concatenate(errs).mean() / s * 100), float(template / s * 100)


def pretrain(cfg: PretrainConfig) -> dict[str, float]:
    """Render, train, validate and write `cfg.out`/model.safetensors; returns the validation figures."""
    target = Path(cfg.out) / "model.safetensors"
    if target.exists():
        raise InputError(f"{cfg.out} already holds a model.safetensors: pick a new --out")
    device = resolve_device(cfg.device)  # the one device check, as `train --device`
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    model = TptModel(cfg.model, load_template(cfg.model.template))
    size = model.cfg.input_size
    real = RealFrames(cfg.backgrounds) if cfg.backgrounds else None
    (data,) = render_sets(cfg.clips, cfg.frames, 2000 + cfg.seed, size, cfg, real=real)
    val, val_exact = render_sets(cfg.val_clips, 2, 80000 + cfg.seed, size, cfg, jitters=(True, False))
    log.info(
        "rendered %d training and %d validation inputs in %.0f s", len(data[0]), len(val[0]), time.perf_counter() - t0
    )
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    trunk = regressor.trunk
    trunk.load_imagenet()
    model.to(device)
    frozen = trunk.first(same_stages(cfg.frozen_blocks, trunk.variant))
    for m in frozen:
        m.requires_grad_(False)
    trunk_params = [p for p in trunk.parameters() if p.requires_grad]
    head_params = [p for n, p in regressor.named_parameters() if not n.startswith("trunk.")]
    opt = torch.optim.AdamW([{"params": trunk_params, "lr": cfg.trunk_lr}, {"params": head_params, "lr": cfg.lr}])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [cfg.trunk_lr, cfg.lr], total_steps=cfg.steps, pct_start=0.1)
    source = batch_source(data, cfg, rng)
    average: dict[str, Tensor] = {}  # the running uniform average of the state from `first_averaged` on
    averaged_steps = 0
    first_averaged = first_averaged_step(cfg.average_from, cfg.steps)
    deadline = time.perf_counter() + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    steps_done = 0
    for step in range(cfg.steps):
        if time.perf_counter() > deadline:
            log.warning("--minutes %.1f reached after %d of %d steps: stopping early", cfg.minutes, step, cfg.steps)
            break
        model.train()
        for m in frozen:
            m.eval()
        x, kp, vis = (torch.as_tensor(t).to(device, non_blocking=True) for t in next(source))
        x = x.permute(0, 3, 1, 2).float() / 255.0
        loss, parts = pretrain_loss(model, x, kp, vis, cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        steps_done = step + 1
        if cfg.average_from > 0 and step >= first_averaged:
            averaged_steps += 1
            running_average(average, model, averaged_steps)
        if step % 100 == 0 or step == cfg.steps - 1:
            terms = " ".join(f"{k} {v:.4f}" for k, v in parts.items())
            log.info(
                "step %d/%d loss %.4f %s (%.0f s)", step + 1, cfg.steps, loss.item(), terms, time.perf_counter() - t0
            )
    del source  # ends the loader processes
    recipe = {"pretrain": recipe_names(asdict(cfg))}
    averaged: dict[str, float] = {}
    if averaged_steps:
        last = validated(model, val, val_exact)
        save_model(model.cpu(), target.with_name("last.safetensors"), {**last, "steps_done": steps_done, **recipe})
        averaged = {"averaged_steps": float(averaged_steps), **{f"last_{k}": v for k, v in last.items()}}
        model.load_state_dict(average)
        model.to(device)
    elif cfg.average_from > 0:
        log.warning("--minutes stopped the run before step %d: the last step's weights are saved", first_averaged + 1)
        averaged = {"averaged_steps": 0.0}
    metrics = {
        **validated(model, val, val_exact),
        **averaged,
        "train_inputs": len(data[0]),
        "steps_done": steps_done,
        "minutes": (time.perf_counter() - t0) / 60,
    }
    save_model(model.cpu(), target, {**metrics, **recipe})
    log.info("validation: %s", metrics)
    return metrics


def validated(model: TptModel, val: Sample, val_exact: Sample) -> dict[str, float]:
    """The validation figures of `model` on the disturbed and the exact-axis validation inputs."""
    err, floor = joint_error(model, val[0], val[1])
    err_exact, floor_exact = joint_error(model, val_exact[0], val_exact[1])
    return {
        "val_err_pct": err,
        "val_template_pct": floor,
        "val_err_exact_axis_pct": err_exact,
        "val_template_exact_axis_pct": floor_exact,
    }
