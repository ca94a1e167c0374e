"""PNG grids to look at during training: pose frame + warped template, appearance, reconstruction."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from tpt_live.skeleton import BONE_INDEX


def _img(t: Tensor) -> np.ndarray:
    return (t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)


def save_grid(path: Path, x: Tensor, y: Tensor, out: dict[str, Tensor], rows: int = 6, scale: int = 2) -> None:
    """One row per pair: pose frame with template and keypoints, blanked appearance, reconstruction."""
    lines = []
    for i in range(min(rows, x.shape[0])):
        pose = _img(x[i]).astype(np.float32)
        heat = out["template"][i].float().sum(0).clamp(0, 1).cpu().numpy()[..., None]
        pose = (pose * (1 - 0.5 * heat) + np.array([255, 64, 0]) * 0.5 * heat).astype(np.uint8)
        app = _img(y[i] * (1 - out["mask"][i]))
        rec = _img(out["recon"][i])
        row = np.concatenate([pose, app, rec], 1)
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        kp = out["keypoints"][i].float().cpu().numpy() * scale
        for a, b in BONE_INDEX:
            pa, pb = tuple(int(v) for v in kp[a]), tuple(int(v) for v in kp[b])
            cv2.line(row, pa, pb, (255, 255, 0), 1, cv2.LINE_AA)
        lines.append(row)
    grid = np.concatenate(lines, 0)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def save_before_after(path: Path, frames: np.ndarray, before: np.ndarray, after: np.ndarray, scale: int = 3) -> None:
    """Contact sheet of the user's frames: top row the skeleton before training, bottom row after.

    frames: (N, S, S, 3) uint8 RGB; before, after: (N, J, 2) model-input pixels (x = column).
    """
    rows = []
    for kps, colour in ((before, (255, 160, 0)), (after, (0, 255, 255))):
        tiles = []
        for image, kp in zip(frames, kps, strict=True):
            tile = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            pts = (kp + 0.5) * scale - 0.5
            for a, b in BONE_INDEX:
                pa, pb = tuple(int(round(v)) for v in pts[a]), tuple(int(round(v)) for v in pts[b])
                cv2.line(tile, pa, pb, colour, 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, 1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
