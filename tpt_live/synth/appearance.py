"""Colours, clothing patterns, mat and blanket textures, lighting and sensor settings of one video.

Colours are RGB floats in [0, 1]. Texture coordinates are metric (metres along / across a segment,
or world x, y on the mat), so stripes and dots keep their size whatever the camera distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tpt_live.synth.backdrop import add_wall
from tpt_live.synth.camera import Camera

_SKIN = np.array(
    [(255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 96), (160, 106, 72), (118, 74, 48), (88, 56, 38)]
)
_CLOTH = np.array(
    [
        (245, 245, 240),
        (250, 200, 210),
        (170, 205, 240),
        (250, 230, 140),
        (170, 225, 195),
        (180, 180, 185),
        (50, 60, 110),
        (200, 60, 60),
        (200, 180, 230),
        (225, 210, 180),
        (240, 150, 90),
    ]
)
_HAIR = np.array([(60, 40, 25), (25, 20, 18), (120, 85, 50), (200, 165, 100)])
_MAT = np.array(
    [
        (235, 235, 230),
        (200, 220, 240),
        (240, 215, 220),
        (215, 235, 210),
        (220, 200, 170),
        (150, 160, 170),
        (90, 110, 150),
    ]
)
PATTERNS: tuple[str, ...] = ("plain", "stripes", "dots")


@dataclass(frozen=True)
class Appearance:
    """Everything about how one video looks (static over the video)."""

    skin: np.ndarray  # (3,) skin albedo
    cloth: np.ndarray  # (3,) onesie main colour
    cloth2: np.ndarray  # (3,) onesie pattern colour
    pattern: str  # "plain", "stripes" or "dots"
    pattern_period: float  # metres between stripes / dots
    long_sleeves: bool  # forearms covered by the onesie
    long_legs: bool  # shins covered by the onesie
    socks: np.ndarray | None  # (3,) sock colour, or None for bare feet
    hair: np.ndarray  # (3,) hair colour
    hair_amount: float  # 0 = bald, 1 = full head of hair
    mat: np.ndarray  # (3,) mat colour
    mat2: np.ndarray  # (3,) mat pattern colour
    mat_pattern: str  # "plain", "checker" or "stripes"
    mat_period: float  # metres
    blanket: np.ndarray | None  # (3,) blanket colour, or None for no blanket
    blanket_rect: tuple[float, float, float, float, float]  # cx, cy, half-width, half-height (m), angle (rad)
    light_dir: np.ndarray  # (3,) unit vector towards the light, camera coordinates
    ambient: float  # ambient light factor
    diffuse: float  # Lambertian light factor
    tint: np.ndarray  # (3,) per-channel light colour multiplier
    noise_std: float  # sensor noise standard deviation, fraction of full scale
    blur_sigma: float  # Gaussian blur sigma in pixels (0 = none)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""

        def col(c: np.ndarray | None) -> list[int] | None:
            return None if c is None else [int(round(float(v) * 255)) for v in c]

        return {
            "skin": col(self.skin),
            "cloth": col(self.cloth),
            "cloth2": col(self.cloth2),
            "pattern": self.pattern,
            "long_sleeves": self.long_sleeves,
            "long_legs": self.long_legs,
            "socks": col(self.socks),
            "hair": col(self.hair),
            "hair_amount": round(self.hair_amount, 3),
            "mat": col(self.mat),
            "mat_pattern": self.mat_pattern,
            "blanket": col(self.blanket),
            "light_dir": [round(float(v), 4) for v in self.light_dir],
            "ambient": round(self.ambient, 4),
            "diffuse": round(self.diffuse, 4),
            "noise_std": round(self.noise_std, 4),
            "blur_sigma": round(self.blur_sigma, 4),
        }


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    c = palette[rng.integers(len(palette))] + rng.normal(0.0, jitter, 3)
    out: np.ndarray = np.clip(c, 0, 255) / 255.0
    return out


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Random skin tone, onesie, hair, mat, blanket, light and sensor settings."""
    i = rng.uniform(0, len(_SKIN) - 1)
    lo = int(np.floor(i))
    skin = (_SKIN[lo] * (1 - (i - lo)) + _SKIN[min(lo + 1, len(_SKIN) - 1)] * (i - lo)) / 255.0
    light = np.array([rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7), -1.0])
    return Appearance(
        skin=skin,
        cloth=_pick(rng, _CLOTH),
        cloth2=_pick(rng, _CLOTH),
        pattern=str(rng.choice(PATTERNS, p=[0.35, 0.4, 0.25])),
        pattern_period=float(rng.uniform(0.015, 0.04)),
        long_sleeves=bool(rng.random() < 0.6),
        long_legs=bool(rng.random() < 0.6),
        socks=_pick(rng, _CLOTH) if rng.random() < 0.4 else None,
        hair=_pick(rng, _HAIR, 8.0),
        hair_amount=float(rng.uniform(0.0, 1.0)),
        mat=_pick(rng, _MAT),
        mat2=_pick(rng, _MAT),
        mat_pattern=str(rng.choice(["plain", "checker", "stripes"])),
        mat_period=float(rng.uniform(0.06, 0.2)),
        blanket=_pick(rng, _CLOTH) if rng.random() < 0.6 else None,
        blanket_rect=(
            float(rng.uniform(-0.1, 0.1)),
            float(rng.uniform(-0.15, 0.1)),
            float(rng.uniform(0.2, 0.35)),
            float(rng.uniform(0.25, 0.45)),
            float(rng.uniform(-0.5, 0.5)),
        ),
        light_dir=light / np.linalg.norm(light),
        ambient=float(rng.uniform(0.35, 0.55)),
        diffuse=float(rng.uniform(0.45, 0.75)),
        tint=rng.uniform(0.92, 1.05, 3),
        noise_std=float(rng.uniform(0.004, 0.02)),
        blur_sigma=float(rng.uniform(0.3, 0.9)),
    )


def cloth_albedo(app: Appearance, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Onesie colour (N, 3) at metric texture coordinates u (along the segment), v (across), (N,)."""
    if app.pattern == "plain":
        return np.broadcast_to(app.cloth, (len(u), 3))
    a, b = u / app.pattern_period, v / app.pattern_period
    if app.pattern == "stripes":
        second = (np.floor(a) % 2) == 1
    else:
        second = (a - np.round(a)) ** 2 + (b - np.round(b)) ** 2 < 0.09
    return np.where(second[:, None], app.cloth2, app.cloth)


def mat_texture(app: Appearance, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 shaded mat + blanket image: pixel rays intersected with the mat plane z = 0."""
    rays = camera.world_rays()
    pos = camera.position
    s = -pos[2] / np.minimum(rays[..., 2], -1e-6)
    wx, wy = pos[0] + s * rays[..., 0], pos[1] + s * rays[..., 1]
    a, b = wx / app.mat_period, wy / app.mat_period
    if app.mat_pattern == "checker":
        second = ((np.floor(a) + np.floor(b)) % 2) == 1
    elif app.mat_pattern == "stripes":
        second = (np.floor(a) % 2) == 1
    else:
        second = np.zeros_like(a, dtype=bool)
    img = np.where(second[..., None], 0.5 * (app.mat + app.mat2), app.mat)
    if app.blanket is not None:
        cx, cy, hw, hh, ang = app.blanket_rect
        dx, dy = wx - cx, wy - cy
        bu = np.cos(ang) * dx + np.sin(ang) * dy
        bv = -np.sin(ang) * dx + np.cos(ang) * dy
        inside = (np.abs(bu) < hw) & (np.abs(bv) < hh)
        fold = 0.9 + 0.1 * np.sin(bu / 0.03)
        img = np.where(inside[..., None], app.blanket * fold[..., None], img)
    h, w = rays.shape[:2]
    blotch = cv2.resize(rng.normal(0.0, 0.04, (6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 0.015, (h, w)).astype(np.float32)
    normal = camera.R[:, 2]
    shade = app.ambient + app.diffuse * max(0.0, float(normal @ app.light_dir))
    out = (img * (shade * (1.0 + blotch + grain))[..., None] * app.tint).astype(np.float32)
    add_wall(out, None, camera, shade * app.tint)
    return out
