"""Training of the 2D -> 3D lifter without 3D labels (METHOD.md 2: Chen et al. 2019, ElePose 2022).

Input: 2D keypoint sequences (`tpt-live track` JSON or `tpt-live synth` ground truth). Each step lifts a
batch, rotates the 3D pose to a random view, projects and lifts again, rotates back and projects
(the lift-reproject-lift cycle, losses in 2D and 3D), judges the random views with a 2D pose prior
(a normalising flow on a PCA of the training poses, or a discriminator), keeps 3D bone-length ratios near
absolute anatomical ones (a template's proportions, or a file) or near the data's 2D ratios, keeps limbs
of a body lying on a mat on the camera's side of its torso plane (infant views), and keeps bone lengths
constant between consecutive frames.
With `supervised=True` the same network learns from 3D ground truth instead: the upper bound. With
`LifterConfig.window` > 1 the causal temporal lifter trains on windows of frames (trainer/lifter_window.py).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from tpt_live.errors import InputError
from tpt_live.lifter import NECK, Lifter, LifterConfig, TemporalLifter, normalise_2d, rotation_matrix, save_lifter
from tpt_live.skeleton import BONES, FLIP_INDEX, JOINT_NAMES, NUM_JOINTS
from trainer.lifter_losses import (
    _BONE_FLIP,
    bone_lengths,
    bone_loss,
    cycle_losses,
    gravity_loss,
    limit_loss,
    scale_aligned_l2,
    sign_loss,
    smooth_loss,
    temporal_loss,
)
from trainer.lifter_window import run_starts, window_index, window_terms

log = logging.getLogger(__name__)

VIEWS = ("infant", "upright")
PRIORS = ("flow", "discriminator", "none")


@dataclass(frozen=True)
class LifterTrainConfig:
    """Options of one lifter training run (stored in the lifter file)."""

    steps: int = 3000  # optimisation steps
    batch: int = 256  # poses per step
    lr: float = 1e-3  # Adam learning rate of the lifter (cosine decay to 5%)
    views: str = "infant"  # random views: infant (tilt about horizontal axes) or upright (azimuth + elevation)
    tilt_deg: tuple[float, float] = (20.0, 40.0)  # infant: |tilt| range about a random horizontal axis
    elevation_deg: float = 20.0  # upright: elevation range +-, with azimuth U(-pi, pi) about the vertical
    prior: str = "discriminator"  # 2D prior on the random views: discriminator (measured best), flow or none
    w_cycle2d: float = 10.0  # lift-reproject-lift cycle in 2D
    w_cycle3d: float = 1.0  # the cycle in 3D
    w_prior: float = 1.0  # 2D prior (adversarial, or negative log-likelihood per PCA dimension)
    w_bone: float = 5.0  # 3D bone-length ratios vs the reference ratios, and left/right symmetry (50 measured worse)
    bone_ratios: tuple[float, ...] | None = None  # absolute 3D bone / root-neck lengths, BONES order; None: 2D data
    w_sign: float = 10.0  # infant views: hinge on joints behind the torso plane (through the mat); 0 turns it off
    sign_margin: float = 0.25  # slack of the sign hinge, in root-to-neck lengths (limbs lie on the mat below it)
    max_tilt_deg: float = 45.0  # sign prior: the torso plane faces the camera within this angle
    w_temporal: float = 1.0  # bone-length ratios constant between consecutive frames
    w_limits: float | None = None  # knee/hip joint limits (`limit_loss`); None: 10 for upright views, 0 for infant
    w_smooth: float = 0.0  # 3D displacement between consecutive frames (`smooth_loss`)
    w_gravity: float = 0.0  # upright: trunk not leaning away from the camera (`gravity_loss`)
    noise: float = 0.05  # Gaussian 2D noise on the input, in units of the root-to-neck length
    pca_dims: int = 12  # PCA dimensions of the flow prior
    flow_steps: int = 1500  # steps fitting the flow before the lifter trains
    supervised: bool = False  # learn from 3D ground truth (scale-aligned L2) instead: the upper bound
    seed: int = 0  # initialisation, batches and views
    ema: float | None = None  # decay of the saved moving average of the weights; None: 0.999 infant, 0 (off) upright

    def __post_init__(self) -> None:
        if self.views not in VIEWS:
            raise InputError(f"views {self.views!r} is not one of {VIEWS}")
        if self.prior not in PRIORS:
            raise InputError(f"prior {self.prior!r} is not one of {PRIORS}")
        if self.steps < 1:
            raise InputError(f"--steps {self.steps} must be 1 or more")
        if not self.lr > 0:
            raise InputError(f"--lr {self.lr} must be positive")
        if not self.noise >= 0:
            raise InputError(f"--noise {self.noise} must be >= 0")
        if self.ema is not None and not 0.0 <= self.ema < 1.0:
            raise InputError(f"--ema {self.ema} must be in [0, 1) (0: save the last weights)")
        if self.batch < 2:
            raise InputError(f"--batch {self.batch} must be 2 or more")
        if self.bone_ratios is not None and (
            len(self.bone_ratios) != len(BONES) or not all(r > 0 for r in self.bone_ratios)
        ):
            raise InputError(f"bone_ratios needs {len(BONES)} positive ratios (BONES order), got {self.bone_ratios}")


# -- data ---------------------------------------------------------------------------------------------
@dataclass
class PoseSequences:
    """Runs of consecutive frames: 2D in pixels (x=col, y=row), optional 3D ground truth in metres."""

    kp2d: list[np.ndarray]  # (N_i, J, 2) per run
    kp3d: list[np.ndarray] | None  # (N_i, J, 3) camera axes, when every input had ground truth
    names: list[str]


def _runs(frames: list[dict], key: str) -> list[list[int]]:
    """Index runs of frames that carry `key` (a dropped frame splits a sequence)."""
    runs: list[list[int]] = [[]]
    for i, f in enumerate(frames):
        if f.get(key):
            runs[-1].append(i)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def load_sequences(paths: Sequence[str | Path]) -> PoseSequences:
    """Read `tpt-live track` JSON outputs or `tpt-live synth` ground truth (files or folders of *.json)."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    kp2d, kp3d, names = [], [], []
    has3d = True
    for f in files:
        if not f.is_file():
            raise InputError(f"pose file {f} does not exist")
        try:
            doc = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            doc = None
        joints = (doc.get("joints") or doc.get("keypoints")) if isinstance(doc, dict) else None
        if not isinstance(doc, dict) or "frames" not in doc or list(joints or []) != list(JOINT_NAMES):
            raise InputError(f"{f} is neither `tpt-live track` JSON nor `tpt-live synth` ground truth")
        frames = doc["frames"]
        for run in _runs(frames, "kp2d"):
            kp2d.append(np.array([[p[:2] for p in frames[i]["kp2d"]] for i in run], np.float64))
            names.append(f.stem)
            if has3d and all(frames[i].get("kp3d") for i in run) and doc.get("format") == "tpt-live-synth":
                kp3d.append(np.array([frames[i]["kp3d"] for i in run], np.float64))
            else:
                has3d = False
    if not kp2d:
        raise InputError(f"no 2D keypoints in {[str(p) for p in paths]}")
    return PoseSequences(kp2d, kp3d if has3d else None, names)


def reference_ratios(x: Tensor, quantile: float = 0.9) -> Tensor:
    """Bone lengths relative to the root-to-neck length, from 2D poses (N, J, 2): a high quantile of each
    bone's 2D ratio (a bone seen parallel to the image is not foreshortened), left and right averaged."""
    r = bone_lengths(x) / bone_lengths(x)[..., :2].sum(-1, keepdim=True).clamp_min(1e-9)
    ref = torch.quantile(r, quantile, dim=0)
    return 0.5 * (ref + ref[_BONE_FLIP])


def _ratios_of(X: np.ndarray) -> tuple[float, ...]:
    """Bone / root-to-neck lengths of one pose X (J, D), left and right averaged, BONES order."""
    r = bone_lengths(torch.as_tensor(X, dtype=torch.float64)[None])[0]
    r = r / r[:2].sum()
    return tuple(float(v) for v in 0.5 * (r + r[_BONE_FLIP]))


def template_bone_ratios(name_or_path: str | Path) -> tuple[float, ...]:
    """Absolute bone ratios (bone / root-to-neck length, BONES order) of a keypoint template's joints.

    The template is a body lying flat, drawn without foreshortening: its 2D lengths are 3D lengths (the
    built-in infant is a mean 3-month-old; its flexed shin and forearm read up to 8 % short).
    """
    from tpt_live.template import load_template

    return _ratios_of(load_template(name_or_path).joints(256))


def load_bone_ratios(path: str | Path) -> tuple[float, ...]:
    """Bone ratios from a JSON file {"pelvis-thorax": r, ...} (every bone of BONES, any positive unit: they
    are divided by pelvis-thorax + thorax-neck) or a `tpt-live` template file / built-in template name."""
    p = Path(path)
    if not p.is_file():
        return template_bone_ratios(path)
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"bone-ratio file {p} is not valid JSON: {exc}") from exc
    if isinstance(doc, dict) and "parts" in doc:
        return template_bone_ratios(p)
    names = [f"{a}-{b}" for a, b in BONES]
    if not isinstance(doc, dict) or sorted(doc) != sorted(names):
        raise InputError(f"bone-ratio file {p} must map exactly these bones to lengths: {', '.join(names)}")
    lengths = np.array([float(doc[n]) for n in names])
    if not (lengths > 0).all():
        raise InputError(f"bone-ratio file {p}: every length must be positive")
    return tuple(float(v) for v in lengths / lengths[:2].sum())


# -- views --------------------------------------------------------------------------------------------
def sample_rotations(n: int, cfg: LifterTrainConfig, gen: torch.Generator) -> Tensor:
    """(n, 3, 3) random view rotations, camera axes (x right, y down, z forward).

    infant: tilt by |angle| in cfg.tilt_deg (random sign) about a random axis in the image plane: an
    infant on its back seen from above (a rotation about the optical axis only rotates the image).
    upright: azimuth U(-pi, pi) about the vertical (camera y) then elevation +-cfg.elevation_deg about x.
    """
    u = torch.rand(n, 3, generator=gen)
    if cfg.views == "infant":
        phi = 2 * math.pi * u[:, 0]
        axis = torch.stack([torch.cos(phi), torch.sin(phi), torch.zeros(n)], -1)
        lo, hi = (math.radians(a) for a in cfg.tilt_deg)
        angle = (lo + (hi - lo) * u[:, 1]) * torch.where(u[:, 2] < 0.5, -1.0, 1.0)
        return rotation_matrix(axis, angle)
    azimuth = math.pi * (2 * u[:, 0] - 1)
    elevation = math.radians(cfg.elevation_deg) * (2 * u[:, 1] - 1)
    ry = rotation_matrix(torch.tensor([0.0, 1.0, 0.0]).expand(n, 3), azimuth)
    rx = rotation_matrix(torch.tensor([1.0, 0.0, 0.0]).expand(n, 3), elevation)
    return rx @ ry


# -- 2D priors ----------------------------------------------------------------------------------------
class PcaFlow(nn.Module):
    """Normalising flow (RealNVP couplings) on a whitened PCA of normalised 2D poses (ElePose-style prior).

    log_prob(x) for x (B, J, 2) normalised; the root (always 0) is dropped before the PCA.
    """

    def __init__(self, poses: Tensor, dims: int, layers: int = 6, width: int = 64) -> None:
        super().__init__()
        flat = poses.flatten(1)
        mean = flat.mean(0)
        _, s, v = torch.linalg.svd(flat - mean, full_matrices=False)
        std = s[:dims] / math.sqrt(len(flat) - 1)
        self.register_buffer("mean", mean)
        self.register_buffer("basis", v[:dims].T / std)  # (2J, dims): whitened coefficients
        self.dims = dims
        half = dims // 2
        self.masks = [torch.arange(dims) < half if i % 2 == 0 else torch.arange(dims) >= half for i in range(layers)]
        self.nets = nn.ModuleList(
            nn.Sequential(nn.Linear(dims, width), nn.LeakyReLU(0.2), nn.Linear(width, width), nn.LeakyReLU(0.2),
                          nn.Linear(width, 2 * dims))
            for _ in range(layers)
        )  # fmt: skip
        for net in self.nets:
            for p in list(net.children())[-1].parameters():  # start at the identity: s = t = 0
                nn.init.zeros_(p)

    mean: Tensor
    basis: Tensor

    def log_prob(self, x: Tensor) -> Tensor:
        z = (x.flatten(1) - self.mean) @ self.basis
        logdet = torch.zeros(len(z))
        for mask, net in zip(self.masks, self.nets, strict=True):
            m = mask.to(z.dtype)
            s, t = net(z * m).chunk(2, -1)
            s = torch.tanh(s) * (1 - m)
            z = z * m + (1 - m) * (z * torch.exp(s) + t)
            logdet = logdet + s.sum(-1)
        return -0.5 * (z**2).sum(-1) - 0.5 * self.dims * math.log(2 * math.pi) + logdet


def fit_flow(x: Tensor, cfg: LifterTrainConfig, gen: torch.Generator) -> PcaFlow:
    flow = PcaFlow(x, cfg.pca_dims)
    opt = torch.optim.Adam(flow.nets.parameters(), lr=1e-3)
    for _ in range(cfg.flow_steps):
        idx = torch.randint(len(x), (cfg.batch,), generator=gen)
        nll = -flow.log_prob(x[idx] + 0.002 * torch.randn(cfg.batch, *x.shape[1:], generator=gen)).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
    flow.requires_grad_(False)
    log.info("flow prior: nll/dim %.3f on the training poses", float(-flow.log_prob(x).mean()) / cfg.pca_dims)
    return flow


class Discriminator(nn.Module):
    """Chen et al.'s 2D pose discriminator: an MLP on normalised 2D poses, least-squares GAN targets."""

    def __init__(self, width: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * NUM_JOINTS, width), nn.LeakyReLU(0.2), nn.Linear(width, width), nn.LeakyReLU(0.2),
            nn.Linear(width, 1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1) * 10.0).squeeze(-1)


# -- loop ---------------------------------------------------------------------------------------------
@dataclass
class _Data:
    x: Tensor  # (N, J, 2) normalised 2D
    g: Tensor | None  # (N, J, 3) root-centred ground truth, metres
    pairs: Tensor  # (P,) indices i with i + 1 the next frame of the same run
    first: Tensor  # (N,) index of the first frame of each frame's run


def _prepare(seqs: PoseSequences, model_cfg: LifterConfig, flip: bool = True) -> _Data:
    """Normalise every frame (the lifter's `normalise_2d` settings); add the horizontal mirror (x -> -x,
    left <-> right) of every run."""
    xs, gs, pairs, offset = [], [], [], 0
    runs2 = [torch.as_tensor(k, dtype=torch.float32) for k in seqs.kp2d]
    runs3 = [torch.as_tensor(k, dtype=torch.float32) for k in seqs.kp3d] if seqs.kp3d is not None else None
    for mirror in (False, True) if flip else (False,):
        for i, k in enumerate(runs2):
            x, _ = normalise_2d(k, model_cfg.root_neck, model_cfg.norm)
            g = runs3[i] - runs3[i][:, :1] if runs3 is not None else None
            if mirror:
                x = x[:, list(FLIP_INDEX)] * torch.tensor([-1.0, 1.0])
                g = g[:, list(FLIP_INDEX)] * torch.tensor([-1.0, 1.0, 1.0]) if g is not None else None
            xs.append(x)
            if g is not None:
                gs.append(g)
            pairs.append(torch.arange(offset, offset + len(x) - 1))
            offset += len(x)
    return _Data(torch.cat(xs), torch.cat(gs) if gs else None, torch.cat(pairs), run_starts([len(x) for x in xs]))


def _supervised(lift: Tensor, g: Tensor | None, idx: Tensor) -> Tensor:
    """The supervised term: scale-aligned L2 of lifts (B, J, 3) against the 3D ground truth of frames `idx`, in
    root-to-neck units."""
    assert g is not None
    target = g[idx]
    return scale_aligned_l2(lift, target / target[:, NECK].norm(dim=-1)[:, None, None])


def ema_decay(ema: float, steps: int) -> float:
    """The moving average's decay: `ema`, lowered so that its window (1 / (1 - decay) steps) is at most a third
    of the run (so a short run saves an average of its late weights, not of its first ones); 0 turns it off."""
    return max(0.0, min(ema, 1.0 - 3.0 / steps))


def train_lifter(
    seqs: PoseSequences,
    out: str | Path,
    cfg: LifterTrainConfig | None = None,
    model_cfg: LifterConfig | None = None,
    on_log: Callable[[dict], None] | None = None,
    log_every: int = 100,
) -> Path:
    """Train a lifter on `seqs`; writes OUT/lifter.safetensors (+ .json) and OUT/metrics.jsonl."""
    cfg = cfg or LifterTrainConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    lifter = TemporalLifter(model_cfg) if model_cfg is not None and model_cfg.window > 1 else Lifter(model_cfg)
    data = _prepare(seqs, lifter.cfg)
    if cfg.supervised and data.g is None:
        raise InputError("--supervised needs 3D ground truth: pass `tpt-live synth` JSON files")
    c, rn = lifter.cfg.camera_distance, lifter.cfg.root_neck
    ref = torch.tensor(cfg.bone_ratios, dtype=torch.float32) if cfg.bone_ratios else reference_ratios(data.x)
    flow = fit_flow(lifter.upright(data.x), cfg, gen) if cfg.prior == "flow" and not cfg.supervised else None
    disc = Discriminator() if cfg.prior == "discriminator" and not cfg.supervised else None
    w_limits = cfg.w_limits if cfg.w_limits is not None else (10.0 if cfg.views == "upright" else 0.0)
    opt = torch.optim.Adam(lifter.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
    )
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr) if disc is not None else None
    decay = ema_decay(cfg.ema if cfg.ema is not None else (0.999 if cfg.views == "infant" else 0.0), cfg.steps)
    average = AveragedModel(lifter, multi_avg_fn=get_ema_multi_avg_fn(decay)) if decay > 0 else None
    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = (run_dir / "metrics.jsonl").open("w")
    start = time.perf_counter()
    lifter.train()
    for step in range(1, cfg.steps + 1):
        terms: dict[str, Tensor] = {}
        if isinstance(lifter, TemporalLifter):  # causal windows (trainer/lifter_window.py)
            w = lifter.cfg.window
            span = w if cfg.supervised else 2 * w - 1  # supervised: one window, its last frame against its 3D
            run = window_index(torch.randint(len(data.x), (cfg.batch,), generator=gen), data.first, span)
            xw = data.x[run] + cfg.noise * rn * torch.randn(*run.shape, *data.x.shape[1:], generator=gen)
            if cfg.supervised:
                terms["sup"] = _supervised(lifter(xw - xw[..., :1, :]), data.g, run[:, -1])
            else:
                R = sample_rotations(cfg.batch, cfg, gen)
                terms, Y, xr = window_terms(lifter, xw - xw[..., :1, :], R, ref, w_limits, cfg.w_smooth, cfg.w_gravity)
                x0 = data.x[run[:, w - 1 :]].flatten(0, 1)
        else:
            idx = data.pairs[torch.randint(len(data.pairs), (cfg.batch,), generator=gen)]
            x0, x1 = data.x[idx], data.x[idx + 1]
            noise = cfg.noise * rn * torch.randn(2, *x0.shape, generator=gen)
            x0n, x1n = x0 + noise[0], x1 + noise[1]
            x0n, x1n = x0n - x0n[:, :1], x1n - x1n[:, :1]
            if cfg.supervised:
                terms["sup"] = _supervised(lifter(x0n), data.g, idx)
            else:
                R = sample_rotations(cfg.batch, cfg, gen)
                l2d, l3d, Y, xr = cycle_losses(x0n, lifter, R, c, rn)
                Y1 = lifter(x1n)
                terms.update(cycle2d=l2d, cycle3d=l3d, bone=bone_loss(Y, ref), temporal=temporal_loss(Y, Y1))
                if w_limits > 0:
                    terms["limits"] = limit_loss(Y)
                if cfg.w_smooth > 0:
                    terms["smooth"] = smooth_loss(Y, Y1)
                if cfg.w_gravity > 0:
                    terms["gravity"] = gravity_loss(Y)
        if cfg.supervised:
            loss = terms["sup"]
        else:
            if cfg.views == "infant" and cfg.w_sign > 0:
                terms["sign"] = sign_loss(Y, cfg.sign_margin, cfg.max_tilt_deg)
            xr_n = lifter.upright(lifter.normalise(xr))  # the prior judges what the network sees
            if flow is not None:
                terms["prior"] = -flow.log_prob(xr_n).mean() / cfg.pca_dims
            elif disc is not None:
                terms["prior"] = ((disc(xr_n) - 1) ** 2).mean()
            weights = {"cycle2d": cfg.w_cycle2d, "cycle3d": cfg.w_cycle3d, "bone": cfg.w_bone,
                       "temporal": cfg.w_temporal, "prior": cfg.w_prior, "sign": cfg.w_sign, "limits": w_limits,
                       "smooth": cfg.w_smooth, "gravity": cfg.w_gravity}  # fmt: skip
            loss = sum((weights[k] * v for k, v in terms.items()), torch.zeros(()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if average is not None:
            average.update_parameters(lifter)
        if disc is not None and opt_d is not None:
            d_loss = ((disc(lifter.upright(x0)) - 1) ** 2).mean() + (disc(xr_n.detach()) ** 2).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        if step % log_every == 0 or step == cfg.steps:
            values = {"loss": loss, **terms}
            row = {"step": step, **{k: round(float(v.detach()), 5) for k, v in values.items()}}
            row["seconds"] = round(time.perf_counter() - start, 1)
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            if on_log:
                on_log(row)
    metrics.close()
    if average is not None:
        lifter.load_state_dict(average.module.state_dict())
    lifter.eval()
    extra = {"training": {**asdict(cfg), "ema_decay": decay, "frames": len(data.x), "runs": len(seqs.kp2d)}}
    return save_lifter(lifter, run_dir / "lifter.safetensors", extra=extra)
