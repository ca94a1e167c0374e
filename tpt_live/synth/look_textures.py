"""Textures of the "varied" look: fabric patterns and the lit backgrounds (sheets, blankets, floors, mats).

Texture coordinates are metric (metres along / across a segment, or world x, y on the mat), so patterns
keep their size whatever the camera distance. Colours are sRGB floats in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from tpt_live.synth.backdrop import add_wall
from tpt_live.synth.camera import Camera
from tpt_live.synth.look import _BRIGHT, Fabric, Look


def _hash(ia: np.ndarray, ib: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random floats in [0, 1) per integer cell (ia, ib)."""
    h = (ia.astype(np.int64) * 73856093) ^ (ib.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    out: np.ndarray = ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / np.float32(65536.0)
    return out


def fabric_albedo(fab: Fabric, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N, 3) float32 colour of `fab` at metric texture coordinates u (along), v (across), each (N,)."""
    ca, sa = np.float32(np.cos(fab.angle)), np.float32(np.sin(fab.angle))
    a = (ca * u + sa * v) / np.float32(fab.period)
    b = (-sa * u + ca * v) / np.float32(fab.period)
    base, second = fab.base.astype(np.float32), fab.second.astype(np.float32)
    # knit grain: a static per-cell value noise stuck to the surface (cells of about 2 mm)
    grain = np.float32(0.94) + np.float32(0.12) * _hash(np.floor(u / 0.002), np.floor(v / 0.002), fab.seed)
    col: np.ndarray
    w: np.ndarray
    if fab.pattern == "plain":
        col = np.broadcast_to(base, (len(u), 3))
    elif fab.pattern == "heather":
        g = _hash(np.floor(u / 0.0015), np.floor(v / 0.004), fab.seed + 1)
        col = base[None] * (np.float32(0.85) + np.float32(0.3) * g)[:, None]
    elif fab.pattern == "stripes":
        frac = a - np.floor(a)
        w = np.clip((np.abs(frac - 0.5) - 0.22) * 8.0, 0.0, 1.0)  # soft-edged stripes
        col = base[None] * w[:, None] + second[None] * (1 - w)[:, None]
    elif fab.pattern == "check":
        fa, fb = a - np.floor(a), b - np.floor(b)
        sa_ = (fa < 0.4).astype(np.float32)
        sb_ = (fb < 0.4).astype(np.float32)
        w = 0.5 * (sa_ + sb_)
        col = base[None] * (1 - w)[:, None] + second[None] * w[:, None]
    else:  # dots or print: one motif per jittered cell
        ia, ib = np.floor(a), np.floor(b)
        jx = _hash(ia, ib, fab.seed) * 0.5 + 0.25
        jy = _hash(ia, ib, fab.seed + 7) * 0.5 + 0.25
        d2 = (a - ia - jx) ** 2 + (b - ib - jy) ** 2
        if fab.pattern == "dots":
            hit = d2 < 0.04
            col = np.where(hit[:, None], second[None], base[None])
        else:
            kind = _hash(ia, ib, fab.seed + 3)
            r2 = np.where(kind < 0.5, 0.06, 0.025)
            ang = np.arctan2(b - ib - jy, a - ia - jx)
            star = d2 < r2 * (0.55 + 0.45 * np.cos(5 * ang + 6.28 * kind)) ** 2 * 2.0
            hit = star & (_hash(ia, ib, fab.seed + 5) < 0.8)
            third = fab.third.astype(np.float32)
            col = np.where(hit[:, None], np.where((kind < 0.5)[:, None], second[None], third[None]), base[None])
    out: np.ndarray = (col * grain[:, None]).astype(np.float32)
    return out


# ------------------------------------------------------------------------------------------ backgrounds
def mat_coordinates(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World (x, y) on the mat plane z = 0 and the camera z of that point, per pixel, each (H, W)."""
    rays = camera.world_rays()
    pos = camera.position
    s = -pos[2] / np.minimum(rays[..., 2], -1e-6)
    return pos[0] + s * rays[..., 0], pos[1] + s * rays[..., 1], s


def _world_noise(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, n: int = 64) -> np.ndarray:
    """Smooth noise (H, W) float32, about unit variance, at grid coordinates (a, b) (one cell = 1), wrapping."""
    grid = rng.standard_normal((n, n)).astype(np.float32)
    out: np.ndarray = cv2.remap(
        grid,
        np.mod(a, n).astype(np.float32),
        np.mod(b, n).astype(np.float32),
        cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_WRAP,
    )
    return out


def _folds(rng: np.random.Generator, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """Height field (H, W) of cloth folds, metres-ish units (soft ridges 5-30 cm apart)."""
    warp = 0.04 * _world_noise(rng, wx / 0.15, wy / 0.15)
    h = np.zeros_like(wx, dtype=np.float32)
    for _ in range(3):
        ang = rng.uniform(0, np.pi)
        lam = rng.uniform(0.06, 0.3)
        ph = (np.cos(ang) * wx + np.sin(ang) * wy + warp) * (2 * np.pi / lam) + rng.uniform(0, 6.3)
        ridge = (1.0 - np.abs(np.sin(0.5 * ph))) ** 1.5
        h += (rng.uniform(0.02, 0.07) * lam * ridge).astype(np.float32)
    h += 0.004 * _world_noise(rng, wx / 0.08, wy / 0.08)
    return h


def _shade_height(h: np.ndarray, light: np.ndarray, wpp: np.ndarray, strength: float) -> np.ndarray:
    """Multiplicative shading (H, W) of a height field lit from `light` (camera coordinates)."""
    gy, gx = np.gradient(h)
    gx, gy = gx / wpp, gy / wpp  # slope per metre
    lx, ly = light[0], light[1]
    s: np.ndarray = 1.0 - strength * 1.5 * (gx * lx + gy * ly)
    return np.clip(s, 0.55, 1.35).astype(np.float32)


def look_background(look: Look, camera: Camera, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) float32 lit background in [0, 1], depth (H, W) float32 camera z of the mat)."""
    wx, wy, depth = mat_coordinates(camera)
    wpp = np.maximum(depth / camera.focal, 1e-5)
    h, w = wx.shape
    kind = look.background
    fold_h = None
    if kind in ("sheet", "blanket"):
        img = fabric_albedo(look.bg_fabric, wy.ravel().astype(np.float32), wx.ravel().astype(np.float32))
        img = img.reshape(h, w, 3)
        fold_h = _folds(rng, wx, wy) * (look.folds * (0.6 if kind == "sheet" else 1.0) + 0.15)
    elif kind == "wood":
        ang = rng.uniform(0, np.pi)
        along = np.cos(ang) * wx + np.sin(ang) * wy
        across = -np.sin(ang) * wx + np.cos(ang) * wy
        width = rng.uniform(0.08, 0.2)
        plank = np.floor(across / width)
        shift = _hash(plank, np.zeros_like(plank), 11) * 3.0
        tone = (0.8 + 0.35 * _hash(plank, np.ones_like(plank), 12))[..., None]
        grain = _world_noise(rng, (along + shift) / 0.25, across / 0.004, 128)
        fine = _world_noise(rng, (along + shift) / 0.04, across / 0.002, 128)
        img = look.bg_colour[None, None] * tone * (1.0 + 0.08 * grain + 0.04 * fine)[..., None]
        joint = np.abs(across / width - plank - 0.5) > 0.5 - 0.004 / width
        end = np.abs(np.mod(along + shift, 1.2) - 0.6) > 0.6 - 0.002
        img = np.where((joint | end)[..., None], img * 0.55, img)
    elif kind == "carpet":
        img = (
            look.bg_fabric.base[None, None]
            * (
                1.0
                + 0.06 * _world_noise(rng, wx / 0.08, wy / 0.08)
                + 0.05 * _world_noise(rng, wx / 0.01, wy / 0.01, 128)
            )[..., None]
        )
        img = img * (1.0 + rng.normal(0, 0.06, (h, w, 1)))  # pile, finer than a pixel
    else:  # playmat: foam tiles or a printed play mat
        cell = rng.uniform(0.2, 0.35)
        ia, ib = np.floor(wx / cell), np.floor(wy / cell)
        cols = _BRIGHT[(_hash(ia, ib, 21) * len(_BRIGHT)).astype(int)] / 255.0
        pastel = 0.55 + 0.45 * cols if rng.random() < 0.5 else cols
        if rng.random() < 0.5:  # printed: shapes on a plain base
            fa, fb = wx / cell - ia - 0.5, wy / cell - ib - 0.5
            shape = fa**2 + fb**2 < 0.12 + 0.08 * _hash(ia, ib, 22)
            img = np.where(shape[..., None], pastel, look.bg_colour[None, None] * 0.4 + 0.6)
        else:
            img = pastel
            gap = (np.abs(wx / cell - ia - 0.5) > 0.49) | (np.abs(wy / cell - ib - 0.5) > 0.49)
            img = np.where(gap[..., None], img * 0.7, img)
        img = img * (1.0 + 0.03 * _world_noise(rng, wx / 0.05, wy / 0.05))[..., None]
    if look.under_blanket is not None:
        cx, cy, hw, hh, ang = look.under_rect
        dx, dy = wx - cx, wy - cy
        bu = np.cos(ang) * dx + np.sin(ang) * dy
        bv = -np.sin(ang) * dx + np.cos(ang) * dy
        edge = 0.03 * _world_noise(rng, wx / 0.1, wy / 0.1)
        inside = (np.abs(bu) < hw + edge) & (np.abs(bv) < hh + edge)
        blanket = fabric_albedo(look.under_blanket, bv.ravel().astype(np.float32), bu.ravel().astype(np.float32))
        img = np.where(inside[..., None], blanket.reshape(h, w, 3), img)
        fh = _folds(rng, wx, wy) * 0.5 + 0.01
        fold_h = np.where(inside, fh + (0.0 if fold_h is None else fold_h), 0.0 if fold_h is None else fold_h)
    normal = camera.R[:, 2]  # mat normal (world +z) in camera coordinates
    flat = look.ambient + look.diffuse * max(0.0, float(normal @ look.light_dir))
    shade = np.full((h, w), flat, np.float32)
    if fold_h is not None:
        shade = shade * _shade_height(fold_h.astype(np.float32), look.light_dir, wpp, 1.0)
    # light falls off away from the lamp's spot
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    spot = np.float32(1.0) - np.float32(0.25) * (
        ((xx / w - 0.5 - 0.3 * look.light_dir[0]) ** 2 + (yy / h - 0.5 - 0.3 * look.light_dir[1]) ** 2) * 2.0
    )
    out = (np.asarray(img, np.float32) * (shade * spot)[..., None] * look.tint.astype(np.float32)).astype(np.float32)
    depth = depth.astype(np.float32)
    add_wall(out, depth, camera, look.ambient + 0.5 * look.diffuse * look.tint)
    return out, depth
