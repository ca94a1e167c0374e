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
"""

from __future__ import annotations

import numpy as np
import torch

from tpt_live.lifter import NECK, Lifter, lift_from_depth, normalise_2d, to_metric


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


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, reflection: bool = False) -> float:
    """MPJPE after the per-frame Procrustes alignment."""
    return mpjpe(procrustes_align(pred, gt, reflection), gt)


def flat_pose(kp2d: np.ndarray) -> np.ndarray:
    """The zero-depth pose: root-centred normalised 2D with z = 0, (N, J, 3)."""
    x, _ = normalise_2d(torch.as_tensor(kp2d, dtype=torch.float64))
    return np.concatenate([x.numpy(), np.zeros((*x.shape[:-1], 1))], -1)


def depth_oracle(kp2d: np.ndarray, kp3d: np.ndarray, c: float = 10.0, root_neck: float = 0.1) -> np.ndarray:
    """The 2D input (N, J, 2) pixels lifted with the ground-truth depths of kp3d (N, J, 3) metres, camera axes.

    The true root-relative depths are converted to lifter units (root-to-neck length `root_neck` x c, the
    length the lifter gives a root-to-neck segment seen side-on) and lifted by `lift_from_depth`: the pose a
    perfect depth predictor would output from this 2D. Returns (N, J, 3) in lifter units, root-centred.
    """
    g = kp3d - kp3d[:, :1]
    unit = root_neck * c / np.maximum(np.linalg.norm(g[:, NECK, :2], axis=-1), 1e-9)
    x, _ = normalise_2d(torch.as_tensor(kp2d, dtype=torch.float64), root_neck)
    d = torch.as_tensor(g[..., 2] * unit[:, None])
    return lift_from_depth(x, d, c).numpy()


def lift_metric(lifter: Lifter, kp2d: np.ndarray, batch: int = 4096) -> np.ndarray:
    """(N, J, 3) metres, root-relative, camera axes, from (N, J, 2) pixels (x=col, y=row)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(kp2d), batch):
            x, _ = normalise_2d(torch.as_tensor(kp2d[i : i + batch], dtype=torch.float32), lifter.cfg.root_neck)
            out.append(to_metric(lifter(x), lifter.cfg.body_length_m).double().numpy())
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
    kp2d: np.ndarray, kp3d: np.ndarray, lifter: Lifter | None, supervised: Lifter | None = None
) -> dict[str, float]:
    """Figures of one 2D input (N, J, 2) against ground truth (N, J, 3) metres, camera axes.

    Keys: the lifter's `mpjpe_mm`, `n_mpjpe_mm`, `p_mpjpe_mm`, `p_mpjpe_reflect_mm`; the floor's
    `flat_n_mpjpe_mm`, `flat_p_mpjpe_mm`, ...; the depth oracle's `oracle_depth_p_mpjpe_mm`, ...; the
    supervised bound's `supervised_p_mpjpe_mm`, ...
    """
    gt = kp3d - kp3d[:, :1]
    result = {f"flat_{k}": v for k, v in scores(flat_pose(kp2d), gt, metric=False).items()}
    geometry = (lifter.cfg.camera_distance, lifter.cfg.root_neck) if lifter is not None else ()
    oracle = depth_oracle(kp2d, kp3d, *geometry)  # through the evaluated lifter's geometry
    result |= {f"oracle_depth_{k}": v for k, v in scores(oracle, gt, metric=False).items()}
    if lifter is not None:
        result |= scores(lift_metric(lifter, kp2d), gt)
    if supervised is not None:
        result |= {f"supervised_{k}": v for k, v in scores(lift_metric(supervised, kp2d), gt).items()}
    result["n_frames"] = float(len(kp2d))
    return result


def report_3d(
    gt2d: np.ndarray, gt3d: np.ndarray, lifter: Lifter | None, supervised: Lifter | None, pred2d: np.ndarray | None
) -> dict:
    """The `3d` block of `tpt-live evaluate`: figures with ground-truth 2D at the top level and, when
    `pred2d` is given, with the 2D model's predictions under `from_model_2d`."""
    result: dict = evaluate_3d(gt2d, gt3d, lifter, supervised)
    if pred2d is not None:
        result["from_model_2d"] = evaluate_3d(pred2d, gt3d, lifter, supervised)
    result["protocol"] = (
        "all frames, 16 joints, root (pelvis)-relative camera axes; mpjpe uses the lifter's assumed body length "
        f"({lifter.cfg.body_length_m if lifter else 'n/a'} m head-to-ankle); n_: per-frame scale; p_: per-frame "
        "Procrustes without reflection, p_*_reflect_: with reflection; flat_: zero depth; oracle_depth_: the "
        "2D input lifted with the true depths (the best a depth-only lifter can do); supervised_: same network "
        "trained on training 3D ground truth; top level: ground-truth 2D input, from_model_2d: the 2D model's output"
    )
    return result
