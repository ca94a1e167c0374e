"""The "varied" look: photo-like skin, clothing, clutter, backgrounds and camera effects.

`SynthConfig(look="varied")` draws one `Look` per video from its own random stream (the "plain" look's
draws and pixels stay exactly what they were) and renders with `look_render.LookRenderer`.

Colours are sRGB floats in [0, 1]. Texture coordinates are metric (metres along / across a segment, or
world x, y on the mat), so patterns keep their size whatever the camera distance. Occluders (sleep sack,
blanket, toys, an adult's hand, crib bars) are extra z-buffered segments: a joint they cover is not
`visible` in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tpt_live.synth.camera import Camera

LOOKS: tuple[str, ...] = ("plain", "varied")
CLOTHING: tuple[str, ...] = ("onesie", "bodysuit", "diaper", "sleep_sack")
CLOTH_PATTERNS: tuple[str, ...] = ("plain", "stripes", "dots", "print", "check", "heather")
BACKGROUNDS: tuple[str, ...] = ("sheet", "blanket", "wood", "carpet", "playmat")

# Very light to very dark; infants' skin runs pinker than adults'.
_SKIN = np.array(
    [
        (255, 226, 212),
        (247, 208, 190),
        (236, 190, 163),
        (222, 169, 136),
        (198, 141, 106),
        (168, 112, 80),
        (134, 87, 60),
        (101, 65, 45),
        (72, 47, 34),
    ],
    dtype=np.float64,
)
_CLOTH = np.array(
    [
        (246, 246, 242),  # white
        (240, 232, 215),  # cream
        (200, 200, 204),  # heather grey
        (248, 196, 208),  # pink
        (176, 208, 238),  # baby blue
        (250, 228, 150),  # pale yellow
        (176, 222, 200),  # mint
        (190, 205, 170),  # sage
        (206, 190, 230),  # lavender
        (60, 70, 112),  # navy
        (200, 70, 70),  # red
        (226, 170, 70),  # mustard
        (240, 150, 120),  # coral
        (150, 110, 80),  # brown
        (40, 40, 44),  # black
    ],
    dtype=np.float64,
)
_BRIGHT = np.array(
    [(220, 50, 50), (40, 110, 210), (60, 170, 80), (245, 200, 40), (245, 130, 40), (150, 80, 190), (40, 180, 190)],
    dtype=np.float64,
)
_HAIR = np.array([(58, 40, 26), (28, 22, 18), (110, 78, 48), (180, 140, 90), (150, 80, 40)], dtype=np.float64)
_WOOD = np.array([(196, 150, 100), (160, 110, 70), (120, 80, 50), (215, 185, 145), (90, 60, 40)], dtype=np.float64)


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 10.0) -> np.ndarray:
    c = palette[rng.integers(len(palette))] + rng.normal(0.0, jitter, 3)
    out: np.ndarray = np.clip(c, 0, 255) / 255.0
    return out


def _col(c: np.ndarray | None) -> list[int] | None:
    return None if c is None else [int(round(float(v) * 255)) for v in c]


@dataclass(frozen=True)
class Fabric:
    """A patterned cloth: colours, pattern, period (m) and angle (rad) of the pattern."""

    base: np.ndarray  # (3,)
    second: np.ndarray  # (3,) pattern colour
    third: np.ndarray  # (3,) second print colour
    pattern: str  # one of CLOTH_PATTERNS
    period: float  # metres
    angle: float  # radians (stripes, checks)
    seed: int  # hash seed of prints

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "colour": _col(self.base),
            "colour2": _col(self.second),
            "pattern": self.pattern,
            "period_m": round(self.period, 4),
        }


def sample_fabric(rng: np.random.Generator, patterns: tuple[str, ...] = CLOTH_PATTERNS) -> Fabric:
    """A random baby-clothes fabric (about a third plain)."""
    weights = {"plain": 0.3, "stripes": 0.22, "dots": 0.12, "print": 0.16, "check": 0.08, "heather": 0.12}
    p = np.array([weights.get(k, 0.1) for k in patterns])
    base = _pick(rng, _CLOTH)
    second = _pick(rng, _CLOTH) if rng.random() < 0.6 else np.clip(base * rng.uniform(0.55, 0.8), 0, 1)
    return Fabric(
        base=base,
        second=second,
        third=_pick(rng, _BRIGHT, 20.0),
        pattern=str(rng.choice(patterns, p=p / p.sum())),
        period=float(rng.uniform(0.008, 0.035)),
        angle=float(rng.uniform(-0.25, 0.25)) if rng.random() < 0.8 else float(rng.uniform(0, np.pi)),
        seed=int(rng.integers(1, 2**20)),
    )


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


@dataclass(frozen=True)
class Toy:
    """A toy resting on the mat: kind, world position (x, y) of its centre, size (m), colours."""

    kind: str  # "ball", "plush" or "rattle"
    x: float
    y: float
    size: float
    angle: float
    colour: np.ndarray
    colour2: np.ndarray


@dataclass(frozen=True)
class Hand:
    """An adult's forearm and hand reaching in from `angle` (rad, in the mat plane) towards a body point."""

    angle: float  # direction the arm comes from, world mat plane
    height: float  # height of the palm above the mat, metres
    reach: float  # how far past the target body point the hand lies, metres (along the arm)
    side: float  # sideways offset of the hand from the target, metres
    skin: np.ndarray  # (3,)
    sleeve: np.ndarray | None  # (3,) sleeve colour, or None for a bare forearm
    wave: float  # amplitude of the slow to-and-fro of the hand, metres
    period: float  # seconds


@dataclass(frozen=True)
class Bars:
    """Crib bars in the foreground, parallel, at `depth_frac` of the camera distance."""

    angle: float  # direction of the bars in the image, radians from vertical
    depth_frac: float  # bar depth / camera distance
    spacing: float  # metres between bars
    radius: float  # metres
    band: float  # fraction of the image (from one side) that the bars occupy
    side: float  # +1 right, -1 left
    colour: np.ndarray  # (3,)


@dataclass(frozen=True)
class Look:
    """Everything about how one "varied" video looks (static over the video)."""

    skin: np.ndarray  # (3,) skin albedo
    skin_tone: float  # 0 = lightest ... 1 = darkest of the palette
    clothing: str  # one of CLOTHING
    fabric: Fabric  # main garment (onesie, bodysuit, diaper or sleep sack)
    under: Fabric  # sleeves under a sleep sack
    long_sleeves: bool
    long_legs: bool
    footed: bool  # onesie covers the feet
    socks: np.ndarray | None
    hair: np.ndarray  # (3,)
    hair_amount: float
    eyes_closed: bool
    chubby: float  # limb radius factor
    light_dir: np.ndarray  # (3,) unit, towards the light, camera coordinates
    ambient: float
    diffuse: float
    wrap: float  # wrap-around lighting (soft light): 0 = Lambert
    rim: float  # darkening at silhouettes (0 = none)
    specular: float  # skin sheen
    tint: np.ndarray  # (3,) white balance
    exposure: float
    background: str  # one of BACKGROUNDS
    bg_fabric: Fabric  # sheet / blanket fabric (also carpet colour source)
    bg_colour: np.ndarray  # (3,) floor or mat colour
    folds: float  # fold depth of sheets and blankets (0 = flat)
    under_blanket: Fabric | None  # a blanket laid under the infant on a floor, carpet or play mat
    under_rect: tuple[float, float, float, float, float]  # cx, cy, half-width, half-height (m), angle (rad)
    cover: str  # "none", "legs" (blanket over the legs) or "body" (up to the chest)
    cover_fabric: Fabric
    toys: tuple[Toy, ...]
    hand: Hand | None
    bars: Bars | None
    infrared: bool  # night-vision greyscale
    vignette: float  # darkening at the corners (0 = none)
    blur_sigma: float  # optics, pixels at 256 px height
    motion_blur: float  # share of the previous frame blended in (0 = none)
    noise_std: float  # sensor noise, fraction of full scale
    jpeg_quality: int  # 0 = no compression artefacts, else JPEG quality
    saturation: float
    contrast: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (the `appearance` of the ground truth)."""
        return {
            "look": "varied",
            "skin": _col(self.skin),
            "skin_tone": round(self.skin_tone, 3),
            "clothing": self.clothing,
            "fabric": self.fabric.to_dict(),
            "long_sleeves": self.long_sleeves,
            "long_legs": self.long_legs,
            "footed": self.footed,
            "socks": _col(self.socks),
            "hair": _col(self.hair),
            "hair_amount": round(self.hair_amount, 3),
            "eyes_closed": self.eyes_closed,
            "chubby": round(self.chubby, 3),
            "light_dir": [round(float(v), 4) for v in self.light_dir],
            "ambient": round(self.ambient, 3),
            "diffuse": round(self.diffuse, 3),
            "wrap": round(self.wrap, 3),
            "tint": [round(float(v), 3) for v in self.tint],
            "background": self.background,
            "background_fabric": self.bg_fabric.to_dict(),
            "under_blanket": None if self.under_blanket is None else self.under_blanket.to_dict(),
            "cover": self.cover,
            "toys": [t.kind for t in self.toys],
            "adult_hand": self.hand is not None,
            "crib_bars": self.bars is not None,
            "infrared": self.infrared,
            "vignette": round(self.vignette, 3),
            "blur_sigma": round(self.blur_sigma, 3),
            "motion_blur": round(self.motion_blur, 3),
            "noise_std": round(self.noise_std, 4),
            "jpeg_quality": self.jpeg_quality,
        }


def sample_look(rng: np.random.Generator) -> Look:
    """Random "varied" look of one video (every draw from `rng`, in a fixed order)."""
    tone = float(rng.uniform(0.0, 1.0))
    i = tone * (len(_SKIN) - 1)
    lo = int(min(np.floor(i), len(_SKIN) - 2))
    skin = (_SKIN[lo] * (1 - (i - lo)) + _SKIN[lo + 1] * (i - lo) + rng.normal(0, 5, 3)) / 255.0
    clothing = str(rng.choice(CLOTHING, p=[0.45, 0.2, 0.15, 0.2]))
    fabric = sample_fabric(rng)
    if clothing == "diaper":
        fabric = Fabric(
            _pick(rng, _CLOTH[:8], 6.0), fabric.second, fabric.third, str(rng.choice(["plain", "print", "dots"])),
            fabric.period, fabric.angle, fabric.seed,
        )  # fmt: skip
    under = sample_fabric(rng)
    light = np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), -rng.uniform(0.5, 1.6)])
    warm = float(rng.uniform(-1.0, 1.0))
    background = str(rng.choice(BACKGROUNDS, p=[0.3, 0.2, 0.15, 0.15, 0.2]))
    bg_fabric = sample_fabric(rng, ("plain", "stripes", "dots", "print", "check", "heather"))
    if background == "sheet" and rng.random() < 0.6:  # most crib sheets are plain and pale
        bg_fabric = Fabric(
            _pick(rng, _CLOTH[:9], 8.0), bg_fabric.second, bg_fabric.third, "plain", bg_fabric.period,
            bg_fabric.angle, bg_fabric.seed,
        )  # fmt: skip
    bg_colour = _pick(rng, _WOOD if background == "wood" else _CLOTH, 12.0)
    under_blanket = sample_fabric(rng) if background in ("wood", "carpet", "playmat") and rng.random() < 0.5 else None
    under_rect = (
        float(rng.uniform(-0.08, 0.08)),
        float(rng.uniform(-0.1, 0.05)),
        float(rng.uniform(0.25, 0.4)),
        float(rng.uniform(0.35, 0.5)),
        float(rng.uniform(-0.4, 0.4)),
    )
    cover = "none" if clothing == "sleep_sack" else str(rng.choice(["none", "legs", "body"], p=[0.72, 0.2, 0.08]))
    cover_fabric = sample_fabric(rng)
    toys = []
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.45, 0.3, 0.15, 0.1]))):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.12, 0.4)
        toys.append(
            Toy(
                kind=str(rng.choice(["ball", "plush", "rattle"])),
                x=float(dist * np.cos(ang)),
                y=float(dist * np.sin(ang)),
                size=float(rng.uniform(0.03, 0.07)),
                angle=float(rng.uniform(0, 2 * np.pi)),
                colour=_pick(rng, np.concatenate([_BRIGHT, _CLOTH]), 15.0),
                colour2=_pick(rng, _BRIGHT, 15.0),
            )
        )
    hand = None
    if rng.random() < 0.15:
        hand = Hand(
            angle=float(rng.uniform(0, 2 * np.pi)),
            height=float(rng.uniform(0.06, 0.16)),
            reach=float(rng.uniform(-0.05, 0.08)),
            side=float(rng.uniform(-0.06, 0.06)),
            skin=(_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 8, 3)).clip(0, 255) / 255.0,
            sleeve=_pick(rng, _CLOTH) if rng.random() < 0.5 else None,
            wave=float(rng.uniform(0.0, 0.05)),
            period=float(rng.uniform(2.0, 6.0)),
        )
    bars = None
    if rng.random() < 0.12:
        bars = Bars(
            angle=float(rng.normal(0.0, 0.15)),
            depth_frac=float(rng.uniform(0.3, 0.6)),
            spacing=float(rng.uniform(0.055, 0.075)),
            radius=float(rng.uniform(0.01, 0.018)),
            band=float(rng.uniform(0.12, 0.35)),
            side=float(rng.choice([-1.0, 1.0])),
            colour=_pick(rng, np.concatenate([_CLOTH[:3], _WOOD]), 8.0),
        )
    infrared = bool(rng.random() < 0.15)
    return Look(
        skin=np.clip(skin, 0, 1),
        skin_tone=tone,
        clothing=clothing,
        fabric=fabric,
        under=under,
        long_sleeves=bool(rng.random() < 0.6),
        long_legs=bool(rng.random() < 0.6),
        footed=bool(rng.random() < 0.35),
        socks=_pick(rng, _CLOTH) if rng.random() < 0.3 else None,
        hair=_pick(rng, _HAIR, 8.0),
        hair_amount=float(rng.uniform(0.0, 1.0) ** 1.5),
        eyes_closed=bool(rng.random() < 0.5),
        chubby=float(rng.uniform(1.05, 1.3)),
        light_dir=light / np.linalg.norm(light),
        ambient=float(rng.uniform(0.3, 0.55)),
        diffuse=float(rng.uniform(0.45, 0.8)),
        wrap=float(rng.uniform(0.15, 0.6)),
        rim=float(rng.uniform(0.2, 0.45)),
        specular=float(rng.uniform(0.03, 0.12)),
        tint=np.array([1.0 + 0.07 * warm, 1.0, 1.0 - 0.1 * warm]) * rng.uniform(0.97, 1.03, 3),
        exposure=float(rng.uniform(0.85, 1.15)),
        background=background,
        bg_fabric=bg_fabric,
        bg_colour=bg_colour,
        folds=float(rng.uniform(0.0, 1.0)),
        under_blanket=under_blanket,
        under_rect=under_rect,
        cover=cover,
        cover_fabric=cover_fabric,
        toys=tuple(toys),
        hand=hand,
        bars=bars,
        infrared=infrared,
        vignette=float(rng.uniform(0.0, 0.5)),
        blur_sigma=float(rng.uniform(0.3, 1.1)),
        motion_blur=float(rng.uniform(0.2, 0.5)) if rng.random() < 0.3 else 0.0,
        noise_std=float(rng.uniform(0.02, 0.05) if infrared else rng.uniform(0.004, 0.025)),
        jpeg_quality=int(rng.integers(25, 85)) if rng.random() < 0.6 else 0,
        saturation=float(rng.uniform(0.8, 1.15)),
        contrast=float(rng.uniform(0.85, 1.1)),
    )


# ------------------------------------------------------------------------------------------ backgrounds
def mat_coordinates(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World (x, y) on the mat plane z = 0 and the camera z of that point, per pixel, each (H, W)."""
    xs, ys = camera.pixel_rays()
    rays = np.stack([xs, ys, np.ones_like(xs)], axis=-1).astype(np.float64) @ camera.R  # world dirs
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
    out = np.asarray(img, np.float32) * (shade * spot)[..., None] * look.tint.astype(np.float32)
    return out.astype(np.float32), depth.astype(np.float32)
