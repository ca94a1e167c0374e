"""3D evaluation of a lifter on `tpt-live synth` output (METHOD.md 4): MPJPE, N-MPJPE, P-MPJPE in mm.

Protocol: every frame; all 16 joints; poses root-centred (pelvis) in camera axes (x right, y down, z
forward). MPJPE compares the metric output (the lifter's assumed body length) with the ground truth,
no alignment; N-MPJPE applies the least-squares scale per frame; P-MPJPE the per-frame similarity
(Procrustes: rotation, scale, translation), without reflection unless `_reflect` is in the key. The flat
floor lifts every joint to zero depth (the root-centred 2D with z = 0); the supervised upper bound is
the same network trained on the 3D ground truth of the training data (`tpt-live train-lifter --supervised`);
the depth oracle lifts the 2D input with the *true* depths through the lifter's own geometry: the best any
lifter that keeps its 2D input and adds depth (as ours does) can score on that input.
Each figure is given for ground-truth 2D input and, when a 2D model is given, for its predictions.
2D input is in source pixels (x=col, y=row): the normalisation keeps the frame's aspect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tpt_live.errors import InputError
from tpt_live.lifter import Lifter, lift_from_depth, normalise_2d, to_metric
from tpt_live.skeleton import JOINT_NAMES, NUM_JOINTS


def _centre(P: np.ndarray) -> np.ndarray:
    return P - P.mean(-2, keepdims=True)


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint distance of (N, J, 3) poses, both root-relative, in the unit of the input."""
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after scaling each root-relative predicted frame by s = <P, G> / <P, P>."""
    s = (pred * gt).sum((1, 2)) / np.maximum((pred * pred).sum((1, 2)), 1e-12)
    return mpjpe(s[:, None, None] * pred, gt)


def procrustes_align(pred: np.ndarray, gt: np.ndarray, reflection: bool = False) -> np.ndarray:
    """Each frame of pred (N, J, 3) moved onto gt by the best similarity (rotation, scale, translation).

    Convention: the rotation is proper (det +1) unless `reflection`, which allows mirror images.
    """
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    P, G = pred - mu_p, gt - mu_g
    U, S, Vt = np.linalg.svd(np.einsum("nji,njk->nik", P, G))
    if not reflection:
        d = np.sign(np.linalg.det(U @ Vt))
        d[d == 0] = 1.0
        S = S * np.stack([np.ones_like(d), np.ones_like(d), d], -1)
        U = U * np.stack([np.ones_like(d), np.ones_like(d), d], -1)[:, None, :]
    R = U @ Vt
    scale = S.sum(1) / np.maximum((P**2).sum((1, 2)), 1e-12)
    return scale[:, None, None] * (P @ R) + mu_g


def depth_flip_better(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of frames whose depth mirror (z -> -z about the root) has the lower P-MPJPE: the frames a
    lifter got the depth sign wrong on (about 0.5 for a lifter that ignores the sign; 0 is best)."""

    def per_frame(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(procrustes_align(p, gt) - gt, axis=-1).mean(-1)

    flipped = pred * np.array([1.0, 1.0, -1.0])
    return float((per_frame(flipped) < per_frame(pred)).mean())


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, reflection: bool = False) -> float:
    """MPJPE after the per-frame Procrustes alignment."""
    return mpjpe(procrustes_align(pred, gt, reflection), gt)


def flat_pose(kp2d: np.ndarray) -> np.ndarray:
    """The zero-depth pose: root-centred normalised 2D with z = 0, (N, J, 3)."""
    x, _ = normalise_2d(torch.as_tensor(kp2d, dtype=torch.float64))
    return np.concatenate([x.numpy(), np.zeros((*x.shape[:-1], 1))], -1)


def depth_oracle(
    kp2d: np.ndarray, kp3d: np.ndarray, c: float = 10.0, root_neck: float = 0.1, norm: str = "bones"
) -> np.ndarray:
    """The 2D input (N, J, 2) pixels lifted with the ground-truth depths of kp3d (N, J, 3) metres, camera axes.

    The true root-relative depths are converted to lifter units and lifted by `lift_from_depth`: the pose a
    perfect depth predictor would output from this 2D. Lifter units per metre: k = s c / Z_root, where s is
    the least-squares ratio of the normalised 2D (`normalise_2d` with `root_neck`, `norm`) to the true
    image-plane offsets X/Z - X_root/Z_root (so a segment seen side-on keeps its 2D length in lifter units).
    Exact when the root is on the optical axis at s = 1, i.e. the normalisation implies the true camera
    distance. Returns (N, J, 3) in lifter units, root-centred.
    """
    g = kp3d - kp3d[:, :1]
    x, _ = normalise_2d(torch.as_tensor(kp2d, dtype=torch.float64), root_neck, norm)
    p = kp3d[..., :2] / np.maximum(kp3d[..., 2:], 1e-9)
    p = p - p[:, :1]
    s = (x.numpy() * p).sum((1, 2)) / np.maximum((p * p).sum((1, 2)), 1e-12)
    unit = s * c / np.maximum(kp3d[:, 0, 2], 1e-9)
    d = torch.as_tensor(g[..., 2] * unit[:, None])
    return lift_from_depth(x, d, c).numpy()


def lift_metric(lifter: Lifter, kp2d: np.ndarray, lengths: Sequence[int] | None = None) -> np.ndarray:
    """(N, J, 3) metres, root-relative, camera axes, from (N, J, 2) pixels (x=col, y=row).

    `lengths`: the frames of each clip, in order (default: one clip); a temporal lifter's window never
    reaches into the previous clip (`Lifter.lift_sequence`)."""
    out = []
    with torch.no_grad():
        for part in np.split(kp2d, np.cumsum(lengths or [len(kp2d)])[:-1]):
            x = lifter.normalise(torch.as_tensor(part, dtype=torch.float32))
            out.append(to_metric(lifter.lift_sequence(x), lifter.cfg.body_length_m).double().numpy())
    return np.concatenate(out)


def scores(pred: np.ndarray, gt: np.ndarray, metric: bool = True) -> dict[str, float]:
    """mm figures of root-relative pred against root-relative gt (metres); MPJPE only when `metric`."""
    out = {
        "n_mpjpe_mm": n_mpjpe(pred, gt) * 1e3,
        "p_mpjpe_mm": p_mpjpe(pred, gt) * 1e3,
        "p_mpjpe_reflect_mm": p_mpjpe(pred, gt, reflection=True) * 1e3,
    }
    return ({"mpjpe_mm": mpjpe(pred, gt) * 1e3} if metric else {}) | out


def evaluate_3d(
    kp2d: np.ndarray,
    kp3d: np.ndarray,
    lifter: Lifter | None,
    supervised: Lifter | None = None,
    lengths: Sequence[int] | None = None,
) -> dict[str, float]:
    """Figures of one 2D input (N, J, 2) against ground truth (N, J, 3) metres, camera axes; `lengths`: the
    frames of each clip when several are concatenated (for temporal lifters, `lift_metric`).

    Keys: the lifter's `mpjpe_mm`, `n_mpjpe_mm`, `p_mpjpe_mm`, `p_mpjpe_reflect_mm`, `depth_flip_better_frac`;
    the floor's `flat_n_mpjpe_mm`, `flat_p_mpjpe_mm`, ...; the depth oracle's `oracle_depth_p_mpjpe_mm`, ...;
    the supervised bound's `supervised_p_mpjpe_mm`, ...
    """
    gt = kp3d - kp3d[:, :1]
    result = {f"flat_{k}": v for k, v in scores(flat_pose(kp2d), gt, metric=False).items()}
    geometry = (lifter.cfg.camera_distance, lifter.cfg.root_neck, lifter.cfg.norm) if lifter is not None else ()
    oracle = depth_oracle(kp2d, kp3d, *geometry)  # through the evaluated lifter's geometry
    result |= {f"oracle_depth_{k}": v for k, v in scores(oracle, gt, metric=False).items()}
    if lifter is not None:
        pred = lift_metric(lifter, kp2d, lengths)
        result |= scores(pred, gt)
        result["depth_flip_better_frac"] = depth_flip_better(pred, gt)
    if supervised is not None:
        result |= {f"supervised_{k}": v for k, v in scores(lift_metric(supervised, kp2d, lengths), gt).items()}
    result["n_frames"] = float(len(kp2d))
    return result


def report_3d(
    gt2d: np.ndarray,
    gt3d: np.ndarray,
    lifter: Lifter | None,
    supervised: Lifter | None,
    pred2d: np.ndarray | None,
    lengths: Sequence[int] | None = None,
) -> dict:
    """The `3d` block of `tpt-live evaluate`: figures with ground-truth 2D at the top level and, when
    `pred2d` is given, with the 2D model's predictions under `from_model_2d`; `lengths` as `evaluate_3d`."""
    result: dict = evaluate_3d(gt2d, gt3d, lifter, supervised, lengths)
    if pred2d is not None:
        result["from_model_2d"] = evaluate_3d(pred2d, gt3d, lifter, supervised, lengths)
    result["protocol"] = (
        "all frames, 16 joints, root (pelvis)-relative camera axes; mpjpe uses the lifter's assumed body length "
        f"({lifter.cfg.body_length_m if lifter else 'n/a'} m head-to-ankle); n_: per-frame scale; p_: per-frame "
        "Procrustes without reflection, p_*_reflect_: with reflection; flat_: zero depth; oracle_depth_: the "
        "2D input lifted with the true depths (the best a depth-only lifter can do); supervised_: same network "
        "trained on training 3D ground truth; top level: ground-truth 2D input, from_model_2d: the 2D model's output"
    )
    return result


# -- keypoint files -----------------------------------------------------------------------------------
@dataclass
class KeypointClip:
    """One clip's ground truth: `kp2d` (N, J, 2) source pixels (x=col, y=row), `kp3d` (N, J, 3) metres,
    camera axes; `pred2d` (N, J, 2) a 2D model's keypoints in the same pixels, when there are any."""

    name: str
    kp2d: np.ndarray
    kp3d: np.ndarray
    pred2d: np.ndarray | None = None


def has_videos(folder: str | Path) -> bool:
    """Whether `folder` holds any `<name>.json` with a `<name>.mp4` beside it."""
    return any(p.with_suffix(".mp4").is_file() for p in Path(folder).glob("*.json"))


def load_keypoint_clips(folder: str | Path) -> list[KeypointClip]:
    """Every synth-format `<name>.json` in `folder` whose frames carry `kp2d` and `kp3d` (no video needed)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of synth-format JSON files")
    clips = []
    for path in sorted(root.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != "tpt-live-synth":
            continue
        if list(doc.get("joints", [])) != list(JOINT_NAMES):
            raise InputError(f"{path} does not list the joints {JOINT_NAMES}")
        frames = doc.get("frames") or []
        if not frames or not all(f.get("kp2d") and f.get("kp3d") for f in frames):
            raise InputError(f"{path}: every frame needs kp2d and kp3d")
        kp2d = np.array([f["kp2d"] for f in frames], np.float64)
        kp3d = np.array([f["kp3d"] for f in frames], np.float64)
        if kp2d.shape[1:] != (NUM_JOINTS, 2) or kp3d.shape[1:] != (NUM_JOINTS, 3):
            raise InputError(f"{path}: kp2d / kp3d must be {NUM_JOINTS} x 2 and {NUM_JOINTS} x 3 per frame")
        clips.append(KeypointClip(path.stem, kp2d, kp3d))
    if not clips:
        raise InputError(f"{root} holds no synth-format JSON (`tpt-live synth` or `tpt-live mocap` output)")
    return clips


PER_FILE_KEYS = (
    "mpjpe_mm",
    "n_mpjpe_mm",
    "p_mpjpe_mm",
    "flat_p_mpjpe_mm",
    "oracle_depth_p_mpjpe_mm",
    "depth_flip_better_frac",
)


def report_clips(clips: list[KeypointClip], lifter: Lifter | None, supervised: Lifter | None) -> dict:
    """`report_3d` over all frames of all clips, plus `per_file` {name: figures of `PER_FILE_KEYS` (and
    `supervised_p_mpjpe_mm`), ground-truth 2D input; `from_model_2d` too when the clips carry `pred2d`}."""
    preds = [c.pred2d for c in clips if c.pred2d is not None]
    pred2d = np.concatenate(preds) if len(preds) == len(clips) else None
    gt2d, gt3d = np.concatenate([c.kp2d for c in clips]), np.concatenate([c.kp3d for c in clips])
    result = report_3d(gt2d, gt3d, lifter, supervised, pred2d, [len(c.kp2d) for c in clips])
    keys = (*PER_FILE_KEYS, "supervised_p_mpjpe_mm")
    per_file = {}
    for c in clips:
        r = evaluate_3d(c.kp2d, c.kp3d, lifter, supervised)
        row: dict = {k: r[k] for k in keys if k in r} | {"n_frames": len(c.kp2d)}
        if c.pred2d is not None:
            m = evaluate_3d(c.pred2d, c.kp3d, lifter, supervised)
            row["from_model_2d"] = {k: m[k] for k in keys if k in m}
        per_file[c.name] = row
    result["per_file"] = per_file
    return result
