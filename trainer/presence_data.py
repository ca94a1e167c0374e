"""Hard training data for the presence CNN: procedural textures, infants on them, and camera-like augmentation.

The shipped scenario renderer draws every infant on a plain, striped or checked mat, so a net trained on it
alone calls any strong texture "infant". Here the same scenarios are rendered over procedural backgrounds
(stripes, checks, flower-like blobs, photo-like 1/f noise, clutter of furniture and toys, dark paisley-like
strokes, gradients), so every texture appears both with and without an infant, and texture-only frames are
added as extra negatives. Frames are then cropped (zoomed on the infant, or any part of an empty frame, as
an `--roi` crop would), rotated, colour-jittered, turned grey or infrared-like, blurred and JPEG-compressed.

Images: (H, W, 3) float32 RGB in [0, 1] for backgrounds (the renderer's convention, see
`tpt_live.synth.render.Renderer`), (S, S, 3) uint8 RGB for model inputs. Points: x = col, y = row.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from tpt_live.crop import CropBox, full_box, paste, plan_resize


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.05, 1.0, 3).astype(np.float32)


def _coords(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotated pixel coordinates (u, v) of an h x w image, each (h, w) float32."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    return np.cos(a) * x + np.sin(a) * y, -np.sin(a) * x + np.cos(a) * y


def _stripes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    u, _ = _coords(h, w, rng)
    period = rng.uniform(2.0, 0.4 * max(h, w))
    cols = np.stack([_colour(rng) for _ in range(int(rng.integers(2, 4)))])
    band = np.floor(u / period).astype(np.int64) % len(cols)
    img = cols[band]
    if rng.random() < 0.5:  # soft (printed) stripes
        img = cv2.GaussianBlur(img, (0, 0), period * 0.2)
    return img


def _checks(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    u, v = _coords(h, w, rng)
    period = rng.uniform(2.0, 0.3 * max(h, w))
    second = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(bool)
    return np.where(second[..., None], _colour(rng), _colour(rng)).astype(np.float32)


def _blobs(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Flower-like prints: clusters of coloured ellipses (petals) around dots on a plain ground."""
    img = np.ascontiguousarray(np.broadcast_to(_colour(rng), (h, w, 3)), dtype=np.float32)
    size = max(h, w)
    for _ in range(int(rng.integers(4, 30))):
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        r = rng.uniform(0.02, 0.15) * size
        col = tuple(float(c) for c in _colour(rng))
        for k in range(int(rng.integers(1, 7))):
            a = 2 * np.pi * k / 6 + rng.uniform(-0.3, 0.3)
            centre = (int(cx + r * np.cos(a)), int(cy + r * np.sin(a)))
            axes = (max(1, int(r * rng.uniform(0.4, 1.0))), max(1, int(r * rng.uniform(0.2, 0.6))))
            cv2.ellipse(img, centre, axes, float(np.degrees(a)), 0, 360, col, -1)
        cv2.circle(img, (int(cx), int(cy)), max(1, int(r * 0.3)), tuple(float(c) for c in _colour(rng)), -1)
    return img


def _noise(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Photo-like 1/f noise, coloured by a random mix of channels."""
    acc = np.zeros((h, w, 3), np.float32)
    for level in range(1, 7):
        n = 2**level
        amp = 1.0 / level ** rng.uniform(0.5, 1.5)
        acc += amp * cv2.resize(rng.normal(0, 1, (n, n, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mix = rng.normal(0, 1, (3, 3)).astype(np.float32) + np.eye(3, dtype=np.float32) * rng.uniform(0, 2)
    img = acc @ mix
    img = (img - img.mean()) / (img.std() + 1e-6) * rng.uniform(0.08, 0.25) + _colour(rng)
    return np.clip(img, 0, 1).astype(np.float32)


def _clutter(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A room or crib corner: furniture-like boxes, a bright window, bars, toys (some skin-coloured)."""
    img = _gradient(h, w, rng)
    size = max(h, w)
    for _ in range(int(rng.integers(3, 15))):
        col = tuple(float(c) for c in (_skin(rng) if rng.random() < 0.25 else _colour(rng)))
        kind = rng.integers(4)
        x, y = int(rng.uniform(-0.1, 1.0) * w), int(rng.uniform(-0.1, 1.0) * h)
        s = rng.uniform(0.05, 0.5) * size
        if kind == 0:
            cv2.rectangle(img, (x, y), (int(x + s), int(y + s * rng.uniform(0.3, 2))), col, -1)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (max(1, int(s / 2)), max(1, int(s / 3))), float(rng.uniform(0, 180)), 0, 360,
                        col, -1)  # fmt: skip
        elif kind == 2:
            cv2.line(img, (x, y), (int(x + rng.normal(0, s)), int(y + rng.normal(0, s))), col,
                     max(1, int(s / 10)))  # fmt: skip
        else:
            cv2.circle(img, (x, y), max(1, int(s / 4)), col, -1)
    return img


def _paisley(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Dark ground with light curly strokes (ties, printed fabric)."""
    img = np.ascontiguousarray(np.broadcast_to(_colour(rng) * 0.3, (h, w, 3)), dtype=np.float32)
    size = max(h, w)
    for _ in range(int(rng.integers(5, 25))):
        t = np.linspace(0, rng.uniform(2, 8), 20)
        r = rng.uniform(0.02, 0.12) * size * (1 + t / 4)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1).astype(np.int32)
        cv2.polylines(img, [pts], False, tuple(float(c) for c in _colour(rng)), int(rng.integers(1, 4)))
    return img


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    u, _ = _coords(h, w, rng)
    a = (u - u.min()) / (np.ptp(u) + 1e-6)
    return (_colour(rng) * (1 - a[..., None]) + _colour(rng) * a[..., None]).astype(np.float32)


def _skin(rng: np.random.Generator) -> np.ndarray:
    base = np.array([0.92, 0.72, 0.6], np.float32) * rng.uniform(0.4, 1.05)
    return np.clip(base + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)


TEXTURES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "stripes": _stripes, "checks": _checks, "blobs": _blobs, "noise": _noise, "clutter": _clutter,
    "paisley": _paisley, "gradient": _gradient,
}  # fmt: skip


def texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) float32 [0, 1] procedural background: one texture, or two blended, with uneven lighting."""
    names = list(TEXTURES)
    img = TEXTURES[names[int(rng.integers(len(names)))]](h, w, rng)
    if rng.random() < 0.35:
        other = TEXTURES[names[int(rng.integers(len(names)))]](h, w, rng)
        alpha = rng.uniform(0.2, 0.8)
        img = alpha * img + (1 - alpha) * other
    shade = 1.0 + 0.3 * cv2.resize(rng.normal(0, 1, (3, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img * shade[..., None], 0, 1).astype(np.float32)


# -- crops and camera-like augmentation of model inputs ------------------------------------------------
def crop_box(w: int, h: int, kp2d: np.ndarray | None, present: bool, rng: np.random.Generator) -> CropBox:
    """A region of a w x h frame as an `--roi` would give: around the infant (kp2d (J, 2) pixels) when
    present, any part when absent; the full frame with probability 0.5."""
    if rng.random() < 0.5:
        return full_box(w, h)
    if present and kp2d is not None:
        lo, hi = kp2d.min(axis=0), kp2d.max(axis=0)
        side = float(max(hi - lo)) * rng.uniform(1.1, 2.0) + 4.0
        centre = (lo + hi) / 2 + rng.normal(0, 0.1 * side, 2)
    else:
        side = rng.uniform(0.25, 1.0) * min(w, h)
        centre = np.array([rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)])
    s = max(4, int(side))
    return CropBox(int(centre[0] - s / 2), int(centre[1] - s / 2), s, s)


def model_input(rgb: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(H, W, 3) uint8 frame -> (S, S, 3) uint8 model input of `box`, letterboxed as the decoder does."""
    h, w = rgb.shape[:2]
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, w), min(box.y + box.h, h)
    part = rgb[y0:y1, x0:x1]
    plan = plan_resize(part.shape[1], part.shape[0], full_box(part.shape[1], part.shape[0]), size)
    interp = cv2.INTER_AREA if plan.scaled_w <= part.shape[1] else cv2.INTER_LINEAR
    return paste(cv2.resize(part, (plan.scaled_w, plan.scaled_h), interpolation=interp), plan, size)


def camera_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> the same view as another camera might give it: rotation, colour, grey or IR,
    blur, down-and-up sampling, JPEG artefacts."""
    s = img.shape[0]
    out = img
    if rng.random() < 0.5:
        m = cv2.getRotationMatrix2D((s / 2 - 0.5, s / 2 - 0.5), float(rng.uniform(0, 360)), rng.uniform(0.9, 1.2))
        out = cv2.warpAffine(out, m, (s, s), borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.7:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.4), 0, 255)
        out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if rng.random() < 0.2:  # greyscale, or infrared-like (grey, high contrast, grainy)
        grey: np.ndarray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if rng.random() < 0.5:
            grey = (255 * (grey / 255) ** rng.uniform(0.5, 1.5) + rng.normal(0, 6, grey.shape)).astype(np.float32)
        out = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.2:
        k = int(rng.integers(2, 4))
        out = cv2.resize(cv2.resize(out, (s // k, s // k), interpolation=cv2.INTER_AREA), (s, s))
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 80))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        out = decoded if decoded is not None else out
    return np.ascontiguousarray(out)
