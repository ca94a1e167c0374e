"""The localisation stage: where the body is in the whole frame, how big, and which way its head points.

A `LocaliserNet` sees the whole frame letterboxed to S x S (S = 128 by default; `crop.letterbox`) and predicts
the body axis, the segment from the pelvis to the head: its midpoint (x, y), its length and its direction.
The direction `angle` is where the head points, in degrees clockwise from "up" in the picture (0 head up,
90 head right, 180 head down, 270 head left). Points are pixels, x = col, y = row, centres at integers.

The network and its PyTorch runtime are in `tpt_live.localiser_net`; this module holds what every runtime
shares (`Locator`: letterbox, network step, source pixels) and needs no PyTorch, so that the ONNX Runtime path
(`engines.localiser_onnx`) runs without it.

`refined` reads the body axis back from the part model's keypoints, so that a frame can be cut a second time
along the model's own, better axis (the part model was trained to finish the framing the localiser starts).

`crop_for` turns a location into what the part model needs: a square source box framed the way the model was
trained (the template's framing: the box side is `BOX_PER_AXIS` axis lengths, its centre `SHIFT_PER_AXIS`
axis lengths from the axis midpoint towards the feet) and the quarter turns that bring the head up
(`crop.turn_input`), or by the located angle itself (`crop_along`, `crop.turned_crop`). `LocationFilter`
smooths locations over a video by time: the direction more slowly than the centre, since a baby turns over in
seconds while single frames' directions scatter by tens of degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tpt_live.checkpoint import shipped_file
from tpt_live.crop import (
    CropBox,
    blit,
    crop_resize,
    cut,
    head_turns,
    letterbox,
    paste,
    shrink,
    to_source,
    turn_input,
    turned_box,
    turned_crop,
)
from tpt_live.skeleton import JOINT_INDEX

# The localiser's second look (`Locator.locate`): window side in axis lengths (docs/LOCALISE.md, "Second look").
LOOK_AGAIN = 3.5
# The template's framing (canonical skeleton at 256 px: head 56.74, pelvis 151.71, box centre 127.5).
BOX_PER_AXIS = 256.0 / 94.97  # box side / pelvis-to-head length
SHIFT_PER_AXIS = 23.275 / 94.97  # box centre's distance from the axis midpoint towards the feet / length


def body_axis(kp2d: np.ndarray) -> np.ndarray:
    """Keypoints (..., J, 2) -> (..., 4): axis midpoint x, y, pelvis-to-head length, head angle (degrees)."""
    head, pelvis = kp2d[..., JOINT_INDEX["head"], :], kp2d[..., JOINT_INDEX["pelvis"], :]
    v = head - pelvis
    mid = (head + pelvis) / 2
    length = np.linalg.norm(v, axis=-1)
    angle = np.degrees(np.arctan2(v[..., 0], -v[..., 1])) % 360.0
    return np.concatenate([mid, length[..., None], angle[..., None]], axis=-1)


@dataclass(frozen=True)
class Location:
    """The body axis in source pixels (see the module docstring)."""

    x: float
    y: float
    length: float
    angle: float  # head direction, degrees clockwise from up, [0, 360)
    score: float  # 0-1: how concentrated the centre estimate is

    @property
    def turns(self) -> int:
        """Counter-clockwise quarter turns that bring the head up (`crop.turn_input`)."""
        return round(self.angle / 90.0) % 4


def _framed(loc: Location, degrees: float) -> CropBox:
    """The square box framing `loc` the way the template expects once the input is turned by `degrees`."""
    a = math.radians(degrees)
    up = np.array([math.sin(a), -math.cos(a)])  # the turn's head direction, picture coordinates
    centre = np.array([loc.x, loc.y]) - SHIFT_PER_AXIS * loc.length * up
    side = max(round(BOX_PER_AXIS * loc.length), 2)  # the box's pixels x .. x+side-1 are centred on `centre`
    return CropBox(round(centre[0] - (side - 1) / 2), round(centre[1] - (side - 1) / 2), side, side)


def crop_for(loc: Location, turns: int | None = None) -> tuple[CropBox, int]:
    """The square source box the part model should see for `loc`, and the input's quarter turns.

    The box is framed along the turn's axis (a body at 30 degrees is boxed like one at 0), so after the
    turn the body sits where the template expects it.
    """
    turns = loc.turns if turns is None else turns % 4
    return _framed(loc, 90.0 * turns), turns


def crop_along(loc: Location) -> tuple[CropBox, float]:
    """Like `crop_for`, framed along the located direction itself: the box (to turn with `crop.turned_crop`)
    and the turn, `loc.angle` degrees counter-clockwise, that brings the head exactly up."""
    return _framed(loc, loc.angle), loc.angle


def located_box(loc: Location, head: str, size: int) -> CropBox:
    """The source box `located_input(image, loc, head, size)` returns, without cutting anything."""
    if head == "auto":
        return turned_box(crop_along(loc)[0], size)
    return crop_for(loc, head_turns(head))[0]


def located_input(image: np.ndarray, loc: Location, head: str, size: int) -> tuple[np.ndarray, CropBox, float]:
    """The part model's S x S RGB input cut from BGR `image` for `loc`, its box (source pixels) and its turn in
    degrees counter-clockwise: along the located direction itself for `head` "auto" (`crop.turned_crop`), else
    framed for and turned by `head`'s quarter turns."""
    if head == "auto":
        box, degrees = crop_along(loc)
        net, box = turned_crop(image, box, degrees, size)
    else:
        box, turns = crop_for(loc, head_turns(head))
        net, degrees = turn_input(crop_resize(image, box, size), turns), 90.0 * turns
    return np.ascontiguousarray(net[..., ::-1]), box, degrees  # BGR -> RGB on S x S only


def refined(keypoints: np.ndarray, prior: Location, max_shift: float = 0.5, max_scale: float = 2.0) -> Location | None:
    """The body axis of the part model's own keypoints (J, >=2) in source pixels, as the location of a second,
    better-framed crop (`tpt-live track --refine`); None when it strays from `prior` (the localiser's location)
    by more than `max_shift` axis lengths or a length ratio beyond `max_scale`, i.e. when the model has not
    found the body the localiser framed. The score is the prior's."""
    x, y, length, angle = (float(v) for v in body_axis(np.asarray(keypoints, np.float64)[:, :2]))
    if not all(map(math.isfinite, (x, y, length, angle))) or length <= 0:
        return None
    if math.hypot(x - prior.x, y - prior.y) > max_shift * prior.length:
        return None
    if not 1.0 / max_scale <= length / prior.length <= max_scale:
        return None
    return Location(x, y, length, angle, prior.score)


def inside(image: np.ndarray, region: CropBox | None) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of `image` (H, W, ...) that `region` covers (clipped to the frame; all of it for None or a region
    outside it) and the source pixel of its top-left corner: what the localiser searches with --roi."""
    h, w = image.shape[:2]
    if region is None:
        return image, (0, 0)
    x0, y0 = max(int(region.x), 0), max(int(region.y), 0)
    x1, y1 = min(int(region.x + region.w), w), min(int(region.y + region.h), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, (0, 0)
    return image[y0:y1, x0:x1], (x0, y0)


def padded(image: np.ndarray, box: CropBox, most: int = 2048) -> tuple[np.ndarray, tuple[int, int], float]:
    """The pixels of `box` (source pixels), black where it leaves the frame, the source pixel of its top-left corner
    and the scale they are at (1, or less where the box is over `most` pixels: a 4K body's window is shrunk, not
    copied whole): the second look's window, so a body that fills the frame is seen at the window's scale too."""
    h, w = image.shape[:2]
    x0, y0, bw, bh = int(box.x), int(box.y), max(int(box.w), 2), max(int(box.h), 2)
    scale = min(1.0, most / max(bw, bh))
    if scale == 1.0 or (x0 >= 0 and y0 >= 0 and x0 + bw <= w and y0 + bh <= h):  # `cut`: a view inside the frame
        return cut(image, CropBox(x0, y0, bw, bh)), (x0, y0), 1.0
    out = np.zeros((round(bh * scale), round(bw * scale), *image.shape[2:]), image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + bw, w), min(y0 + bh, h)
    if sx1 > sx0 and sy1 > sy0:
        part = shrink(image[sy0:sy1, sx0:sx1], max(1, round((sx1 - sx0) * scale)), max(1, round((sy1 - sy0) * scale)))
        blit(out, part, round((sx0 - x0) * scale), round((sy0 - y0) * scale))
    return out, (x0, y0), scale


def _meets(box: CropBox, width: int, height: int) -> bool:
    """Whether `box` and a width x height frame share at least 2 x 2 pixels."""
    return min(box.x + box.w, width) - max(box.x, 0) >= 2 and min(box.y + box.h, height) - max(box.y, 0) >= 2


def _window(loc: Location, sides: float, region: CropBox | None, least: float = 0.0) -> CropBox:
    """The square of `sides` axis lengths (at least `least` pixels) centred on `loc`, cut down to `region`."""
    half = max(sides * loc.length, least) / 2
    x0, y0, x1, y1 = loc.x - half, loc.y - half, loc.x + half, loc.y + half
    if region is not None:
        x0, y0 = max(x0, region.x), max(y0, region.y)
        x1, y1 = min(x1, region.x + region.w), min(y1, region.y + region.h)
    return CropBox(round(x0), round(y0), max(round(x1 - x0), 1), max(round(y1 - y0), 1))


def shifted(loc: Location, origin: tuple[int, int], scale: float = 1.0) -> Location:
    """A location found in a part of the frame whose top-left corner is source pixel `origin`, shown at `scale`
    (`padded`), in source pixels."""
    if scale != 1.0:
        x, y = origin[0] + (loc.x + 0.5) / scale - 0.5, origin[1] + (loc.y + 0.5) / scale - 0.5
        return replace(loc, x=x, y=y, length=loc.length / scale)
    return replace(loc, x=loc.x + origin[0], y=loc.y + origin[1]) if origin != (0, 0) else loc


@dataclass(frozen=True)
class FilterConfig:
    position_tau: float = 0.2  # seconds: time constant of the running average of centre and log length
    direction_tau: float = 1.0  # seconds: the same for the head direction (rolling over takes seconds)
    # The crop is held still while the average stays within these of it (axis lengths, ratio, degrees): a
    # still baby gets the same pixels frame after frame, so its keypoints do not jitter with the localiser.
    hold_centre: float = 0.1
    hold_length: float = 0.1
    hold_angle: float = 10.0

    def __post_init__(self) -> None:
        if min(self.position_tau, self.direction_tau, self.hold_centre, self.hold_length, self.hold_angle) < 0:
            raise ValueError(f"location filter {self}: time constants and hold bands must be >= 0 (0: off)")


def _weight(dt: float, tau: float) -> float:
    """Weight of a new sample `dt` seconds after the last one in an exponential average of time constant tau."""
    return 1.0 if tau <= 0 else 1.0 - math.exp(-max(dt, 0.0) / tau)


class LocationFilter:
    """Exponential running average of a video's locations, by time (frame rates differ): centre and log
    length with `position_tau`, the direction (as a unit vector) with `direction_tau`. `held` is what the crop
    follows: the average, renewed only when the average leaves the hold bands around it."""

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self.state: Location | None = None
        self.held: Location | None = None
        self._t: float | None = None

    def update(self, loc: Location, t: float | None = None) -> Location:
        """Add the location of the frame at time `t` (seconds; None: no history) and return the held location."""
        state = self._average(loc, t)
        h, c = self.held, self.config
        if (
            h is None
            or math.hypot(state.x - h.x, state.y - h.y) > c.hold_centre * h.length
            or abs(math.log(state.length / h.length)) > math.log1p(c.hold_length)
            or abs((state.angle - h.angle + 180.0) % 360.0 - 180.0) > c.hold_angle
        ):
            self.held = h = state
        return h

    def _average(self, loc: Location, t: float | None) -> Location:
        s = self.state
        if s is None or t is None or self._t is None:
            self.state = loc
        else:
            a = _weight(t - self._t, self.config.position_tau)
            b = _weight(t - self._t, self.config.direction_tau)
            c = (1 - b) * np.exp(1j * math.radians(s.angle)) + b * np.exp(1j * math.radians(loc.angle))
            self.state = Location(
                (1 - a) * s.x + a * loc.x, (1 - a) * s.y + a * loc.y,
                math.exp((1 - a) * math.log(s.length) + a * math.log(loc.length)),
                math.degrees(np.angle(c)) % 360.0, loc.score,
            )  # fmt: skip
        self._t = t
        assert self.state is not None
        return self.state


def letterboxed(frame: np.ndarray, size: int) -> tuple[np.ndarray, CropBox]:
    """The localiser's input: a whole RGB frame (H, W, 3) letterboxed into (S, S, 3) by `crop.letterbox` (area
    filter when shrinking, bilinear when growing), and the source box it shows."""
    h, w = frame.shape[:2]
    plan = letterbox(w, h, size)
    return paste(shrink(frame, plan.scaled_w, plan.scaled_h), plan, size), plan.box


def open_locator(backend: object, path: str | None = None, look_again: float = LOOK_AGAIN) -> Locator:
    """The localiser file `path` (None: the shipped one) on a pose backend's runtime where it offers one
    (`open_localiser`: ONNX Runtime), else in PyTorch; with `look_again` as its second look."""
    if (opener := getattr(backend, "open_localiser", None)) is not None:
        locator: Locator = opener(path)
    else:
        from tpt_live.localiser_net import load_localiser

        locator = load_localiser(path)
    locator.look_again = look_again
    return locator


def default_localiser_path() -> Path:
    return shipped_file("localiser.safetensors")


class Locator:
    """Whole RGB frames in, `Location`s in source pixels out, around a runtime's `rows` (the network step on
    letterboxed S x S frames): `localiser_net.Localiser` (PyTorch), `engines.localiser_onnx.OrtLocaliser`."""

    size: int  # S
    # the second look: window side in axis lengths around the first look's location (0: one look; see `locate`)
    look_again: float = LOOK_AGAIN

    def rows(self, batch: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 letterboxed frames -> (B, 5) float64: x, y, length (input pixels), angle, score."""
        raise NotImplementedError

    def locate(self, frames: list[np.ndarray], bgr: bool = False, region: CropBox | None = None) -> list[Location]:
        """frames: RGB uint8 (H, W, 3) whole frames (sizes may differ; BGR with `bgr`, turned to RGB after the
        letterbox, where it is cheap) -> one Location each, in source pixels. With `region` (source pixels, e.g.
        `track --roi`) only that part of each frame is searched (`inside`). With `look_again` > 0 the network
        looks a second time at a square window of that many axis lengths around its first answer (within the
        region), where a body that is small in the frame is seen at the scale it was trained on."""
        found = self._look(frames, bgr, [region] * len(frames))
        if self.look_again <= 0 or not frames:
            return found
        windows = [_window(loc, self.look_again, region, self.size / 2) for loc in found]
        second = self._look(frames, bgr, windows, pad=True)
        # a window that barely meets the frame (the first answer off it, or outside the region) shows only black
        return [
            again if _meets(window, frame.shape[1], frame.shape[0]) else first
            for again, first, window, frame in zip(second, found, windows, frames, strict=True)
        ]

    def _look(
        self, frames: list[np.ndarray], bgr: bool, regions: Sequence[CropBox | None], pad: bool = False
    ) -> list[Location]:
        """One network step on each frame's part (`inside` its region; `padded` beyond the frame with `pad`),
        located back in source pixels."""
        if any(r is not None for r in regions):
            parts = [
                (frame, (0, 0), 1.0) if r is None else padded(frame, r) if pad else (*inside(frame, r), 1.0)
                for frame, r in zip(frames, regions, strict=True)
            ]
            found = self._look([part for part, _, _ in parts], bgr, [None] * len(parts))
            return [shifted(loc, origin, scale) for loc, (_, origin, scale) in zip(found, parts, strict=True)]
        if not frames:
            return []
        batch, boxes = zip(*(letterboxed(frame, self.size) for frame in frames), strict=True)
        inputs = np.stack(batch)[..., ::-1] if bgr else np.stack(batch)
        out = []
        for (cx, cy, length, angle, score), box in zip(self.rows(np.ascontiguousarray(inputs)), boxes, strict=True):
            sx, sy = to_source(np.array([cx, cy]), box, self.size)
            out.append(Location(float(sx), float(sy), float(length * box.w / self.size), float(angle), float(score)))
        return out
