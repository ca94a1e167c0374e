"""Train the image posture classifier (`tpt_live.monitor.posture_image`) on synthetic renders, in the windows the
monitor's pose model sees.

Scenes alternate between the wide world (any turn, the body 15-90% of the height) and the room world (most
cameras across the room), in the plain, the varied and the random look (extreme texture randomisation), every
posture (`pose="mixed"`), a share of the babies on their tummy propped on forearms or hands (tummy time), a share
of those on their back reclined in a bouncer or car seat (still on their back: supine) and a share of the others
sitting up (the fourth class, "sitting": none of the lying postures). Each frame is cut along the ground truth's
body axis, disturbed as the localiser errs, exactly as the part model's pretraining cuts it
(`trainer.part_pretrain`), so the classifier learns from the framing it gets at run time (each frame shape in both
worlds, each look in both worlds). The label is the scene's posture, or sitting. Training: cross-entropy weighted
by inverse class frequency, the photometric augmentation of the part model (`trainer.localiser_train.augment`) and
mirror images (a mirrored baby keeps its posture), AdamW under a one-cycle schedule, the stem and blocks 0-2 kept at
ImageNet's weights and batch-norm statistics. A temperature is fitted on windows of scenes of another seed, which
also give the held-out accuracies stored in the file with the recipe. `members` nets are trained so, member i on
the scenes of seed + i (`train_ensemble`), and the monitor averages their probabilities: single nets of the same
recipe read a real clip differently (docs/MONITOR.md, stop 57).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from tpt_live.errors import InputError
from tpt_live.localise import body_axis
from tpt_live.monitor.posture import IMAGE_CLASSES, POSTURES, SITTING
from tpt_live.monitor.posture_image import PostureEnsemble, PostureNet
from tpt_live.monitor.posture_net import FRONT_BLOCKS, WindowClassifier, to_tensor
from tpt_live.synth import SynthConfig, render_clip
from trainer.localiser_train import augment, check_look, scene_look
from trainer.part_pretrain import ASPECTS, PretrainConfig, disturb, located_sample
from trainer.presence_train import fit_temperature
from trainer.real_frames import check_counts

log = logging.getLogger(__name__)
WORLDS = ("wide", "room")  # scene i is drawn in WORLDS[i % 2]
HELD_OUT_SEED = 9000  # added to the seed for the calibration scenes


@dataclass(frozen=True)
class PostureTrainConfig:
    seed: int = 0  # dataset seed of the training scenes (the calibration scenes use seed + HELD_OUT_SEED)
    clips: int = 2000  # training scenes
    frames: int = 2  # frames kept per scene (1 s apart)
    steps: int = 1500
    batch: int = 32
    lr: float = 5e-4
    propped: float = 0.4  # share of babies on their tummy in tummy time (`tpt-live synth --propped`)
    seats: float = 0.2  # share of babies on their back in a bouncer or car seat (`tpt-live synth --seats`; synth
    # draws seats in the non-plain looks only: with `look` mixed_random about two thirds of this share of all on
    # their back)
    sitting: float = 0.3  # share of babies on their back drawn sitting up instead (`tpt-live synth --sitting`; a
    # seat wins over sitting), labelled "sitting"
    calibration_clips: int = 240  # scenes that fit the temperature and give the held-out figures
    input_size: int = 128  # the window's side (the monitor's pose model's input)
    look: str = "mixed_random"  # synth looks, one per pair of scenes (`trainer.localiser_train.MIXED_LOOKS`): plain,
    # varied and random (extreme texture randomisation, so that shape is left to learn; docs/MONITOR.md, stop 56)
    members: int = 3  # nets in the file (`train_ensemble`): member i trains on the scenes of seed + i

    def __post_init__(self) -> None:
        check_counts(self, ("clips", "frames", "steps", "batch", "calibration_clips", "members"))
        if not self.lr > 0 or self.input_size < 32 or self.input_size % 32:
            raise InputError(
                f"--lr {self.lr} must be positive and the input side {self.input_size} a positive multiple of 32"
            )
        SynthConfig(propped=self.propped, seats=self.seats, sitting=self.sitting)  # share checks
        check_look(self.look)


Windows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (N, S, S, 3) uint8, (N,) label, world, propped


def scene_config(seed: int, i: int, config: PostureTrainConfig) -> SynthConfig:
    """Scene `i` of `seed`: the world alternates, the look with every pair of scenes, the frame shape every four
    scenes, so each frame shape comes in both worlds and each look in both worlds (with `mixed_random` each frame
    shape in two of the three looks)."""
    w, h = ASPECTS[(i // 4) % len(ASPECTS)]
    return SynthConfig(w, h, frames=config.frames, fps=1.0, seed=seed, index=i, pose="mixed", world=WORLDS[i % 2],
                       look=scene_look(config.look, i // 2), propped=config.propped, seats=config.seats,
                       sitting=config.sitting)  # fmt: skip


def windows(seed: int, clips: int, config: PostureTrainConfig) -> Windows:
    """The located windows of `clips` scenes of `seed`: images, class index (`IMAGE_CLASSES`), world name and
    tummy time."""
    noise = PretrainConfig()  # the part model's framing noise (centre, length, direction, wild turns)
    xs, ys, worlds, propped = [], [], [], []
    for i in range(clips):
        rng = np.random.default_rng([seed, 79, i])
        scene = scene_config(seed, i, config)
        world = scene.world
        clip = render_clip(scene)
        label = IMAGE_CLASSES.index(SITTING if clip.gt.get("sitting") else clip.gt["pose"])
        for f, frame in enumerate(clip.frames):
            kp = np.asarray(clip.gt["frames"][f]["kp2d"], dtype=np.float64)
            image, _ = located_sample(frame, kp, disturb(body_axis(kp), noise, rng), config.input_size)
            xs.append(image)
            ys.append(label)
            worlds.append(world)
            propped.append(bool(clip.gt.get("propped")))
    return np.stack(xs), np.array(ys, np.int64), np.array(worlds), np.array(propped)


def logits_of(net: WindowClassifier, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 4) logits of (N, S, S, 3) uint8 windows, in eval mode."""
    net.eval()
    with torch.inference_mode():
        out = np.concatenate([net(to_tensor(x[i : i + batch])).numpy() for i in range(0, len(x), batch)])
    return out


def accuracy(logits: np.ndarray, data: Windows) -> dict[str, float | int]:
    """Held-out figures: overall, per world and class, tummy time read prone, and sitting read prone (the
    monitor's false alarm)."""
    _, y, worlds, propped = data
    pred = logits.argmax(axis=1)
    out: dict[str, float | int] = {"frames": int(len(y)), "accuracy": round(float((pred == y).mean()), 4)}
    for world in WORLDS:
        for k, name in enumerate(IMAGE_CLASSES):
            m = (worlds == world) & (y == k)
            if m.any():
                out[f"{world}_{name}"] = round(float((pred[m] == k).mean()), 4)
        m = (worlds == world) & propped
        if m.any():
            out[f"{world}_tummy_time_prone"] = round(float((pred[m] == POSTURES.index("prone")).mean()), 4)
        m = (worlds == world) & (y == IMAGE_CLASSES.index(SITTING))
        if m.any():
            out[f"{world}_sitting_prone"] = round(float((pred[m] == POSTURES.index("prone")).mean()), 4)
    return out


def train_posture(config: PostureTrainConfig, on_log: Callable[[dict], None] | None = None) -> PostureNet:
    """Render the windows, fine-tune the classifier, calibrate it on held-out scenes, return it."""
    start = time.monotonic()
    torch.manual_seed(config.seed)
    x, y, _, _ = windows(config.seed, config.clips, config)
    held_out = windows(config.seed + HELD_OUT_SEED, config.calibration_clips, config)
    log.info("rendered %d training and %d held-out windows in %.0f s", len(x), len(held_out[0]),
             time.monotonic() - start)  # fmt: skip
    counts = np.bincount(y, minlength=len(IMAGE_CLASSES)).astype(np.float32)
    class_w = torch.from_numpy(counts.sum() / np.maximum(counts, 1.0) / len(IMAGE_CLASSES))
    net = WindowClassifier()
    net.trunk.load_imagenet()
    frozen = net.trunk.first(FRONT_BLOCKS)
    for module in frozen:
        module.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
    rng = np.random.default_rng([config.seed, 80])
    net.train()
    for module in frozen:  # ImageNet's batch-norm statistics too, not only its weights
        module.eval()
    for step in range(config.steps):
        pick = rng.integers(0, len(x), config.batch)
        images = augment(x[pick], rng)
        mirror = rng.random(len(images)) < 0.5  # a mirrored baby keeps its posture
        images[mirror] = images[mirror, :, ::-1]
        loss = F.cross_entropy(net(to_tensor(images)), torch.from_numpy(y[pick]), weight=class_w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if on_log is not None and (step % 100 == 0 or step == config.steps - 1):
            on_log({"step": step + 1, "loss": round(loss.item(), 4), "s": round(time.monotonic() - start)})
    logits = logits_of(net, held_out[0])
    temperature = fit_temperature(logits, held_out[1])
    metrics = {"recipe": asdict(config), "train_frames": int(len(x)), "train_counts": counts.astype(int).tolist(),
               "held_out": accuracy(logits, held_out)}  # fmt: skip
    log.info("posture temperature %.3f; held out %s", temperature, metrics["held_out"])
    return PostureNet(net, config.input_size, metrics, temperature)


def train_ensemble(config: PostureTrainConfig, on_log: Callable[[dict], None] | None = None) -> PostureEnsemble:
    """`config.members` nets, each `train_posture` on the scenes of its own seed (member i: seed + i, its recipe
    `members=1`; its calibration scenes seed + i + HELD_OUT_SEED), made one file by `ensemble_of`."""
    one = replace(config, members=1)
    members = tuple(train_posture(replace(one, seed=config.seed + i), on_log) for i in range(config.members))
    return ensemble_of(members)


def ensemble_of(members: tuple[PostureNet, ...]) -> PostureEnsemble:
    """The ensemble of nets that `train_posture` trained on consecutive seeds with one recipe (`train_ensemble`'s own,
    or files trained one by one, e.g. in parallel: `scripts/combine_posture.py`). Metrics: the recipe (`members` the
    count), each member's own figures under "members", and the ensemble's held-out figures on the first member's
    calibration scenes. Raises InputError for nets whose stored recipes are not one recipe on consecutive seeds."""
    recipes = [r for m in members if isinstance(r := m.metrics.get("recipe"), dict)]
    if not members or len(recipes) != len(members) or type(recipes[0].get("seed")) is not int:
        raise InputError("posture members without a stored recipe cannot be combined")
    first = dict(recipes[0], members=1)
    for i, recipe in enumerate(recipes):
        if dict(recipe, members=1) != dict(first, seed=first["seed"] + i):
            raise InputError(f"posture member {i} was trained with {recipe}, not member 0's recipe on seed + {i}")
    fields = set(asdict(PostureTrainConfig()))
    if set(first) != fields:  # a recipe of another version of this trainer: its scenes cannot be rendered again
        raise InputError(f"posture members trained by another version of the trainer (recipe keys {sorted(first)})")
    config = PostureTrainConfig(**dict(first, members=len(members)))
    ensemble = PostureEnsemble(members)
    held_out = windows(config.seed + HELD_OUT_SEED, config.calibration_clips, config)
    probs = [torch.softmax(torch.from_numpy(logits_of(m.net, held_out[0])) / m.temperature, 1) for m in members]
    mean = torch.stack(probs).mean(0).numpy()  # `accuracy` reads only the argmax
    ensemble.metrics = {"recipe": asdict(config), "members": [m.metrics for m in members],
                        "held_out": accuracy(mean, held_out)}  # fmt: skip
    log.info("posture ensemble of %d; held out %s", len(members), ensemble.metrics["held_out"])
    return ensemble
