"""2D keypoint metrics (METHOD.md 4): error in % of the image size, per part, PCK.

Convention: predictions and ground truth are (N, J, 2) in the same pixels (x=col, y=row) of an image of
`size` pixels (the model-input crop); the error of a joint is its Euclidean distance / size * 100.
"""

from __future__ import annotations

import numpy as np

from tpt_live.skeleton import FLIP_INDEX, JOINT_INDEX, JOINT_NAMES, PART_GROUPS


def joint_errors_pct(pred: np.ndarray, gt: np.ndarray, size: float, swap: bool = True) -> np.ndarray:
    """(N, J) errors in % of `size`. With `swap`, each frame may swap left and right as a whole."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (N, J, 2)")
    err = np.linalg.norm(pred - gt, axis=-1) / size * 100.0
    if swap:
        flipped = np.linalg.norm(pred[:, list(FLIP_INDEX)] - gt, axis=-1) / size * 100.0
        use = flipped.mean(1) < err.mean(1)
        err[use] = flipped[use]
    return err


def summarize(pred: np.ndarray, gt: np.ndarray, size: float, pck_threshold: float = 0.05) -> dict:
    """Mean error (swap-tolerant and strict), per part and per joint, and PCK@threshold (of size)."""
    tolerant = joint_errors_pct(pred, gt, size, swap=True)
    strict = joint_errors_pct(pred, gt, size, swap=False)
    per_part = {part: float(tolerant[:, [JOINT_INDEX[n] for n in names]].mean()) for part, names in PART_GROUPS.items()}
    return {
        "mean_error_pct": float(tolerant.mean()),
        "mean_error_pct_strict": float(strict.mean()),
        "per_part": per_part,
        "per_part_strict": {
            part: float(strict[:, [JOINT_INDEX[n] for n in names]].mean()) for part, names in PART_GROUPS.items()
        },
        "per_joint": {name: float(tolerant[:, j].mean()) for j, name in enumerate(JOINT_NAMES)},
        f"pck@{pck_threshold:g}": float((tolerant < pck_threshold * 100.0).mean()),
        "n_frames": int(len(gt)),
        "image_size": float(size),
    }
