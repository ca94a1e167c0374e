"""Contact sheet of a rendered clip with its ground-truth skeleton drawn (for eyeballing the data)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tpt_live.skeleton import BONE_INDEX, JOINT_NAMES, side

if TYPE_CHECKING:
    from tpt_live.synth.clip import Clip

# RGB colours: the infant's left in red, right in blue, the midline in yellow.
SIDE_COLOURS: dict[str, tuple[int, int, int]] = {
    "left": (230, 40, 40),
    "right": (40, 90, 235),
    "centre": (240, 210, 40),
}


def draw_skeleton(image: np.ndarray, kp2d: np.ndarray, visible: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Copy of `image` (H, W, 3) uint8 RGB with bones and joints drawn.

    kp2d: (J, 2) pixels of the ORIGINAL image (x = col, y = row, centres at integers); `scale` maps
    them into `image` (for an upscaled tile: p * scale + (scale - 1) / 2). Hidden joints are hollow.
    """
    out = image.copy()
    pts = kp2d * scale + (scale - 1.0) / 2.0
    thick = max(1, int(round(out.shape[0] / 160)))
    for a, b in BONE_INDEX:
        colour = SIDE_COLOURS[side(JOINT_NAMES[b])]
        pa, pb = (int(round(v)) for v in pts[a]), (int(round(v)) for v in pts[b])
        cv2.line(out, tuple(pa), tuple(pb), colour, thick, cv2.LINE_AA)
    for j, name in enumerate(JOINT_NAMES):
        centre = (int(round(pts[j, 0])), int(round(pts[j, 1])))
        fill = -1 if visible[j] else thick
        cv2.circle(out, centre, 2 * thick + 1, SIDE_COLOURS[side(name)], fill, cv2.LINE_AA)
    return out


def contact_sheet(clip: Clip, count: int = 8, tile: int = 256) -> np.ndarray:
    """(rows * tile_h, cols * tile_w, 3) uint8 RGB grid of `count` evenly spaced annotated frames."""
    n = len(clip.frames)
    picks = np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))
    h, w = clip.frames.shape[1:3]
    scale = max(1, int(np.ceil(tile / max(h, w))))
    tiles = []
    for i in picks:
        big = cv2.resize(clip.frames[i], (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        frame = clip.gt["frames"][i]
        tiles.append(draw_skeleton(big, np.array(frame["kp2d"]), np.array(frame["visible"]), scale))
        cv2.putText(tiles[-1], str(int(i)), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    cols = min(4, len(tiles))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r : r + cols], axis=1) for r in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=0)


def write_preview(clip: Clip, path: Path) -> Path:
    """Write the contact sheet of `clip` as a PNG; returns `path`."""
    sheet = contact_sheet(clip)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path
