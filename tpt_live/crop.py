"""Which part of a source frame the model sees, and how model-input pixels map back to the source.

Convention (shared by every function here): points are (x=col, y=row) with pixel centres at integer
coordinates, so source pixel i covers [i - 0.5, i + 0.5]. A `CropBox` (x, y, w, h) names the block of
source pixels with columns x .. x+w-1 and rows y .. y+h-1 (x, y may be negative or the box may pass the
frame's edge: those pixels are padding, black). Resizing the box to S x S maps edges to edges, so a
model-input point (u, v) sits at source

    x_src = x + (u + 0.5) * w / S - 0.5,    y_src = y + (v + 0.5) * h / S - 0.5

and a box with w = S is a plain shift. Every box the tracker builds is square (w = h), so the model
never sees a stretched subject: the full frame is letterboxed into a square box centred on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tpt_live.errors import InputError

MIN_ROI_SIDE = 2  # source pixels per side of a user --roi: a 1-pixel region has no extent to track in


@dataclass(frozen=True)
class CropBox:
    x: float  # first source column in the box (may be negative: padding)
    y: float  # first source row in the box
    w: float  # width in source pixels (> 0)
    h: float  # height in source pixels (> 0)

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0:
            raise InputError(f"crop box {self} must have a positive width and height")

    def as_list(self) -> list[float]:
        return [float(self.x), float(self.y), float(self.w), float(self.h)]


@dataclass(frozen=True)
class FollowConfig:
    margin: float = 0.3  # added on each side of the keypoints' extent, as a fraction of that extent
    min_side: float = 0.25  # smallest box side, as a fraction of the frame's longer side
    min_score: float = 0.3  # keypoints scoring below this do not steer the box
    min_points: int = 4  # fewer reliable keypoints than this: fall back to the full frame

    def __post_init__(self) -> None:
        if self.margin < 0 or not 0 < self.min_side <= 1 or self.min_points < 2:
            raise InputError(f"follow settings {self} out of range (margin >= 0, 0 < min_side <= 1, points >= 2)")


def parse_roi(text: str) -> CropBox:
    """`"x,y,w,h"` in source pixels -> CropBox; InputError with the fix when malformed."""
    parts = text.replace(" ", "").split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise InputError(
            f"--roi {text!r} must be four integers x,y,w,h in source pixels, e.g. 100,50,320,320"
        ) from None
    if w < MIN_ROI_SIDE or h < MIN_ROI_SIDE:
        raise InputError(
            f"--roi {text!r} is {w}x{h} pixels: width and height must be at least {MIN_ROI_SIDE}; "
            "give the region the subject lies in, e.g. 100,50,320,320"
        )
    return CropBox(x, y, w, h)


def full_box(frame_w: int, frame_h: int) -> CropBox:
    """The square box that letterboxes the whole frame (centred, padding on the short side)."""
    side = max(frame_w, frame_h)
    return CropBox((frame_w - side) // 2, (frame_h - side) // 2, side, side)


def square_box(box: CropBox) -> CropBox:
    """The smallest square box with the same centre (up to half a pixel) that contains `box`."""
    side = max(box.w, box.h)
    return CropBox(box.x - (side - box.w) // 2, box.y - (side - box.h) // 2, side, side)


def check_roi(box: CropBox, frame_w: int, frame_h: int) -> None:
    """InputError when a user ROI lies outside a frame of the given size."""
    if box.x >= frame_w or box.y >= frame_h or box.x + box.w <= 0 or box.y + box.h <= 0:
        raise InputError(f"--roi {box.x},{box.y},{box.w},{box.h} lies outside the {frame_w}x{frame_h} frame")


def to_source(points: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Model-input pixels (..., 2) of an S x S input -> source pixels (..., 2), float64 (see module doc)."""
    p = np.asarray(points, dtype=np.float64)
    scale = np.array([box.w / size, box.h / size])
    return np.array([box.x, box.y]) + (p + 0.5) * scale - 0.5


def to_model(points: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Source pixels (..., 2) -> model-input pixels (..., 2); the inverse of `to_source`."""
    p = np.asarray(points, dtype=np.float64)
    scale = np.array([size / box.w, size / box.h])
    return (p - np.array([box.x, box.y]) + 0.5) * scale - 0.5


@dataclass(frozen=True)
class ResizePlan:
    """How the decoder turns a whole frame into the S x S model input with one swscale resize.

    The frame is resized to scaled_w x scaled_h and pasted with its top-left pixel at (off_x, off_y) of
    the S x S canvas (negative offsets cut it). `box` is the crop this exactly realises, after rounding.
    """

    scaled_w: int
    scaled_h: int
    off_x: int
    off_y: int
    box: CropBox


def plan_resize(frame_w: int, frame_h: int, box: CropBox, size: int) -> ResizePlan:
    """The decoder-side resize that realises `box` (as closely as whole pixels allow)."""
    sw = max(1, round(frame_w * size / box.w))
    sh = max(1, round(frame_h * size / box.h))
    ox = round(-box.x * sw / frame_w)
    oy = round(-box.y * sh / frame_h)
    # the exact box of this integer plan: canvas pixel u <-> scaled pixel u - ox <-> source (u-ox+.5)W/sw-.5
    exact = CropBox(-ox * frame_w / sw, -oy * frame_h / sh, size * frame_w / sw, size * frame_h / sh)
    return ResizePlan(sw, sh, ox, oy, exact)


def letterbox(frame_w: int, frame_h: int, size: int) -> ResizePlan:
    """The resize that letterboxes a whole frame into S x S: one scale for both axes, centred, black bars.

    640x480 at S=64: scaled to 64x48, pasted at (0, 8); box (0, -80, 640, 640). Every command that turns
    a whole frame into a model input (track, train, evaluate, engine calibration) goes through this.
    """
    return plan_resize(frame_w, frame_h, full_box(frame_w, frame_h), size)


def paste(scaled: np.ndarray, plan: ResizePlan, size: int) -> np.ndarray:
    """scaled: (scaled_h, scaled_w, 3) uint8 -> (S, S, 3) uint8 canvas, black outside the frame."""
    if plan.off_x == 0 and plan.off_y == 0 and scaled.shape[:2] == (size, size):
        return scaled
    canvas = np.zeros((size, size, 3), np.uint8)
    blit(canvas, scaled, plan.off_x, plan.off_y)
    return canvas


def blit(dst: np.ndarray, src: np.ndarray, ox: int, oy: int) -> None:
    """Copy src into dst with src's top-left pixel at dst (ox, oy), clipping at dst's edges."""
    h, w = src.shape[:2]
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + w, dst.shape[1]), min(oy + h, dst.shape[0])
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] = src[y0 - oy : y1 - oy, x0 - ox : x1 - ox]


def shrink(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize `image` to w x h: the area filter when shrinking, bilinear when growing.

    Shrinking first halves the image (2 x 2 means, OpenCV's fast exact path) while both sides are even and
    stay at least w x h, then area-filters the rest (the generic area filter costs per source pixel): 768 -> 181
    px took 1.2 ms against 5.2 ms for one area resize here (two threads busy with other work), and the result is
    the same box filter within a grey level or so.
    """
    while image.shape[1] % 2 == 0 and image.shape[0] % 2 == 0 and image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    interp = cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_LINEAR
    return image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=interp)


def crop_resize(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut an integer box out of image (H, W, 3) uint8 (black padding outside) and resize to (S, S, 3).

    Used by follow mode, whose box depends on the previous result and so cannot be set in the decoder.
    """
    return shrink(cut(image, box), size, size)


def cut(image: np.ndarray, box: CropBox) -> np.ndarray:
    """The pixels of the integer box (rounded) of `image` (H, W, ...): a view where the box lies inside the image,
    else a copy, black where the box leaves it."""
    x, y, w, h = (round(v) for v in (box.x, box.y, box.w, box.h))
    ih, iw = image.shape[:2]
    if x >= 0 and y >= 0 and x + w <= iw and y + h <= ih:
        return image[y : y + h, x : x + w]
    block = np.zeros((h, w, *image.shape[2:]), image.dtype)
    blit(block, image, -x, -y)
    return block


def follow_box(xy: np.ndarray, score: np.ndarray, frame_w: int, frame_h: int, config: FollowConfig) -> CropBox | None:
    """Square integer box centred on the subject, from its previous keypoints in source pixels.

    xy: (J, 2) source pixels; score: (J,). Returns None (use the full frame) when fewer than
    `min_points` keypoints score at least `min_score`. The side is the keypoints' larger extent plus
    `margin` on each side, at least `min_side` of the frame's longer side and at most that side; the
    centre is moved so the box stays over the frame where it can.
    """
    good = np.asarray(score) >= config.min_score
    if int(good.sum()) < config.min_points:
        return None
    pts = np.asarray(xy, dtype=np.float64)[good]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    longest = max(frame_w, frame_h)
    extent = float((hi - lo).max())
    side = int(round(min(max(extent * (1 + 2 * config.margin), config.min_side * longest), longest)))
    side = max(side, 2)
    cx, cy = (lo + hi) / 2
    x = _clamp(int(round(cx - side / 2)), frame_w, side)
    y = _clamp(int(round(cy - side / 2)), frame_h, side)
    return CropBox(x, y, side, side)


def _clamp(start: int, length: int, side: int) -> int:
    """Keep [start, start+side) over [0, length): inside when it fits, centred on it when it does not."""
    if side >= length:
        return (length - side) // 2
    return min(max(start, 0), length - side)


HEAD_TURNS = {"up": 0, "right": 1, "down": 2, "left": 3}  # head direction in the picture -> CCW quarter turns
HEADS = tuple(HEAD_TURNS)  # quarter turns -> head direction


def head_turns(head: str) -> int:
    """`--head` (where the head points in the picture) -> counter-clockwise quarter turns; InputError otherwise."""
    if head not in HEAD_TURNS:
        raise InputError(f"--head {head!r}: use one of {', '.join(HEAD_TURNS)} (where the head points)")
    return HEAD_TURNS[head]


def turn_input(image: np.ndarray, turns: int) -> np.ndarray:
    """Turn an (S, S, C) model input by `turns` quarter turns counter-clockwise (np.rot90), so that a body whose
    head points right in the picture (turns=1) reaches the model head up. turns=0 returns the input as is."""
    return image if turns % 4 == 0 else np.ascontiguousarray(np.rot90(image, turns % 4))


def unturn_matrix(turns: int, size: int) -> np.ndarray:
    """(3, 3) map from points of the turned S x S input back to the unturned input (pixel centres at integers).

    One counter-clockwise quarter turn sends input point (x, y) to (y, S-1-x), so its inverse sends (x', y')
    to (S-1-y', x'); `turns` quarter turns compose it that many times.
    """
    step = np.array([[0.0, -1.0, size - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return np.linalg.matrix_power(step, turns % 4)


def unturn_points(points: np.ndarray, turns: int, size: int) -> np.ndarray:
    """(..., 2) points of the turned input -> the same points in the unturned input (see `unturn_matrix`)."""
    return unturn_points_by(points, 90.0 * turns, size)


def unturn_points_by(points: np.ndarray, degrees: float, size: int) -> np.ndarray:
    """(..., 2) points of an input turned `degrees` counter-clockwise -> the unturned input (`unturn_degrees`)."""
    if degrees % 360.0 == 0:
        return points
    m = unturn_degrees(degrees, size)
    out: np.ndarray = points @ m[:2, :2].T + m[:2, 2]
    return out


def turn_points_by(points: np.ndarray, degrees: float, size: int) -> np.ndarray:
    """(..., 2) points of the unturned input -> the input turned `degrees` counter-clockwise (`turn_matrix`); the
    inverse of `unturn_points_by`."""
    if degrees % 360.0 == 0:
        return points
    m = turn_matrix(degrees, size)
    out: np.ndarray = points @ m[:2, :2].T + m[:2, 2]
    return out


def turn_matrix(degrees: float, size: int) -> np.ndarray:
    """(3, 3) map from the unturned S x S input to the input turned `degrees` counter-clockwise about its centre
    (pixel centres at integers): 90 degrees is `turn_input`'s one quarter turn, (x, y) -> (y, S-1-x)."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    r = np.array([[c, s], [-s, c]])
    centre = np.full(2, (size - 1) / 2.0)
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = r, centre - r @ centre
    return m


def turned_crop(image: np.ndarray, box: CropBox, degrees: float, size: int) -> tuple[np.ndarray, CropBox]:
    """The S x S input showing square `box` of `image` turned `degrees` counter-clockwise (any angle), and the box
    (float, as `to_source` takes it) the unturned input corresponds to.

    A concentric box sqrt(2) times larger is cut and resized at the same scale (`crop_resize`, area filter), then
    turned with bilinear interpolation, so the corners show the frame, not padding, wherever the frame has it.
    Its side is a multiple of 2^n where `shrink` may halve it n times (a box at least 2^n S wide).
    """
    big, big_size, exact = _turn_geometry(box, size)
    block = crop_resize(image, big, big_size)
    m = turn_matrix(degrees, size)
    shift = (big_size - size) / 2.0  # big-input pixel v = unturned input pixel u + shift
    warp = m[:2, :2], m[:2, 2] - m[:2, :2] @ np.full(2, shift)
    affine = np.column_stack(warp).astype(np.float64)
    return cv2.warpAffine(block, affine, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)), exact


def turned_box(box: CropBox, size: int) -> CropBox:
    """The box `turned_crop(image, box, degrees, size)` returns, without cutting anything."""
    return _turn_geometry(box, size)[2]


def _turn_geometry(box: CropBox, size: int) -> tuple[CropBox, int, CropBox]:
    """`turned_crop`'s concentric larger box, the side it is resized to, and the unturned input's exact box."""
    w = int(round(box.w))
    step = 2 ** max(int(np.log2(max(w, 1) / size)), 0)
    big_side = -(-(w + 2 * int(np.ceil(w * (np.sqrt(2.0) - 1) / 2 + 1))) // step) * step
    cx, cy = box.x + (box.w - 1) / 2, box.y + (box.h - 1) / 2
    big = CropBox(round(cx - (big_side - 1) / 2), round(cy - (big_side - 1) / 2), big_side, big_side)
    big_size = max(int(round(size * big_side / box.w)), size)
    side = big_side * size / big_size  # the unturned input's side in source pixels, concentric with `big`
    return big, big_size, CropBox(big.x + (big_side - side) / 2, big.y + (big_side - side) / 2, side, side)


def unturn_degrees(degrees: float, size: int) -> np.ndarray:
    """(3, 3) map from an input turned `degrees` counter-clockwise back to the unturned input; multiples of 90
    are `unturn_matrix` exactly, other angles the inverse of `turn_matrix`."""
    q = degrees / 90.0
    return unturn_matrix(int(q), size) if q == int(q) else np.linalg.inv(turn_matrix(degrees, size))
