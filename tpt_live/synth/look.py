"""The "varied" look: photo-like skin, clothing, clutter, backgrounds and camera effects.

`SynthConfig(look="varied")` draws one `Look` per video from its own random stream (the "plain" look's
draws and pixels stay exactly what they were) and renders with `look_render.LookRenderer`. This module
holds the choices and their sampling; `look_textures` draws fabrics and backgrounds, `look_geometry`
builds ears and occluders.

Colours are sRGB floats in [0, 1]. Texture coordinates are metric (metres along / across a segment, or
world x, y on the mat), so patterns keep their size whatever the camera distance. Occluders (sleep sack,
blanket, toys, an adult's hand, crib bars) are extra z-buffered segments: a joint they cover is not
`visible` in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tpt_live.synth.body import SEGMENT_NAMES

LOOKS: tuple[str, ...] = ("plain", "varied", "random")
CLOTHING: tuple[str, ...] = ("onesie", "bodysuit", "diaper", "sleep_sack")
CLOTH_PATTERNS: tuple[str, ...] = ("plain", "stripes", "dots", "print", "check", "heather")
BACKGROUNDS: tuple[str, ...] = ("sheet", "blanket", "wood", "carpet", "playmat")
SEATS: tuple[str, ...] = ("bouncer", "car_seat")

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
_FRAME = np.array([(230, 230, 232), (150, 152, 158), (40, 40, 44), (200, 190, 175)], dtype=np.float64)  # tubes
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
class Seat:
    """A bouncer or car seat a baby reclines in (`SynthConfig.seats`): its back under the trunk and head, its sides
    (a bouncer's wire frame, a car seat's padded wings) and a harness over the chest."""

    kind: str  # one of SEATS
    fabric: Fabric  # the seat's cover
    frame: np.ndarray  # (3,) a bouncer's frame or a car seat's wings
    strap: np.ndarray  # (3,) the harness
    width: float  # the seat's half-width, in the trunk's half-widths
    depth: float  # metres: half the thickness of the seat's back

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {"kind": self.kind, "fabric": self.fabric.to_dict(), "frame": _col(self.frame)}


def sample_seat(rng: np.random.Generator) -> Seat:
    """A random seat (every draw from `rng`)."""
    kind = str(rng.choice(SEATS))
    return Seat(
        kind=kind,
        fabric=sample_fabric(rng),
        frame=_pick(rng, _CLOTH if kind == "car_seat" else _FRAME),
        strap=_pick(rng, _CLOTH, 20.0) * rng.uniform(0.4, 1.0),
        width=float(rng.uniform(1.5, 1.9) if kind == "car_seat" else rng.uniform(1.7, 2.3)),
        depth=float(rng.uniform(0.03, 0.06)),
    )


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
    random_fabrics: dict[str, Fabric] | None = None  # the "random" look: a fabric per body segment name
    seat: Seat | None = None  # a bouncer or car seat (`SynthConfig.seats`)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (the `appearance` of the ground truth)."""
        return {
            "look": "varied" if self.random_fabrics is None else "random",
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
            **({"seat": self.seat.to_dict()} if self.seat is not None else {}),  # absent: files as before
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


def random_fabric(rng: np.random.Generator) -> Fabric:
    """Any colours, any pattern, at any scale and angle (extreme texture randomisation)."""
    return Fabric(
        base=rng.uniform(0.0, 1.0, 3),
        second=rng.uniform(0.0, 1.0, 3),
        third=rng.uniform(0.0, 1.0, 3),
        pattern=str(rng.choice(CLOTH_PATTERNS)),
        period=float(np.exp(rng.uniform(np.log(0.004), np.log(0.08)))),
        angle=float(rng.uniform(0.0, np.pi)),
        seed=int(rng.integers(1, 2**20)),
    )


def with_seat(look: Look, rng: np.random.Generator) -> Look:
    """`look` with a seat drawn from `rng` (`sample_seat`); a sleep sack becomes a onesie and a blanket over the baby
    goes (both are drawn as domes resting on the mat, which a seated baby is raised off, `clip.SEAT_RAISE`)."""
    clothing = "onesie" if look.clothing == "sleep_sack" else look.clothing
    return replace(look, seat=sample_seat(rng), clothing=clothing, cover="none")


def randomise_textures(look: Look, rng: np.random.Generator) -> Look:
    """The "random" look: `look` with every body segment (but the head) dressed in a fabric of its
    own, the skin (head, ears) and hair in any colour, and the mat, blankets and floor in random fabrics, so that
    only shape and shading are left to tell a body part (docs/SYNTH.md)."""
    return replace(
        look,
        skin=rng.uniform(0.0, 1.0, 3),
        hair=rng.uniform(0.0, 1.0, 3),
        bg_fabric=random_fabric(rng),
        bg_colour=rng.uniform(0.0, 1.0, 3),
        cover_fabric=random_fabric(rng),
        under_blanket=None if look.under_blanket is None else random_fabric(rng),
        random_fabrics={name: random_fabric(rng) for name in SEGMENT_NAMES if name != "head"},
        seat=_random_seat(look.seat, rng),  # drawn last: looks without a seat keep their draws
    )


def _random_seat(seat: Seat | None, rng: np.random.Generator) -> Seat | None:
    if seat is None:
        return None
    return replace(seat, fabric=random_fabric(rng), frame=rng.uniform(0.0, 1.0, 3), strap=rng.uniform(0.0, 1.0, 3))
