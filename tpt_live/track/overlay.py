"""Drawing the tracked template on frames, encoding them to H.264, and showing them in a window.

The overlay shows the model itself: each part's moved Gaussian as a filled translucent ellipse (2 standard
deviations), then the skeleton (`tpt_live.skeleton.BONES`) and the joints, the subject's left in one
colour and right in another, and a heads-up line (fps, latency, drops). Images are BGR uint8 (OpenCV's
order); points are source pixels, x=col, y=row, pixel centres at integers.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tpt_live.crop import to_source
from tpt_live.errors import InputError
from tpt_live.skeleton import BONE_INDEX, JOINT_NAMES, side
from tpt_live.template import Template, part_ellipses
from tpt_live.track.outputs import ensure_folder
from tpt_live.track.pipeline import Result
from tpt_live.videoio import H264Encoder

log = logging.getLogger(__name__)

_SHIFT = 4  # sub-pixel drawing: OpenCV takes coordinates times 2**_SHIFT
_FONT = cv2.FONT_HERSHEY_SIMPLEX  # the heads-up line's font


@dataclass(frozen=True)
class OverlayStyle:
    left: tuple[int, int, int] = (255, 160, 40)  # BGR of the subject's left side (blue-ish)
    right: tuple[int, int, int] = (40, 120, 255)  # BGR of the subject's right side (orange)
    centre: tuple[int, int, int] = (80, 220, 80)  # BGR of the trunk and head (green)
    alpha: float = 0.35  # opacity of the part ellipses
    sigmas: float = 2.0  # ellipse half-axes in standard deviations of the part Gaussian
    min_score: float = 0.2  # joints scoring lower are drawn hollow
    thickness: int = 2  # skeleton line width, pixels at 480 rows (scaled with the frame)


def _part_side(name: str) -> str:
    """Template part names use IMAGE left/right; the template faces the camera, so image left = subject right."""
    if "left" in name:
        return "right"
    if "right" in name:
        return "left"
    return "centre"


class Overlay:
    """Draws results on frames; `template` None draws the skeleton and joints only."""

    def __init__(self, template: Template | None, input_size: int, style: OverlayStyle | None = None) -> None:
        self.template, self.size = template, input_size
        self.style = style or OverlayStyle()
        s = self.style
        colours = {"left": s.left, "right": s.right, "centre": s.centre}
        self._part_colours = [colours[_part_side(p.name)] for p in template.parts] if template else []
        self._joint_colours = [colours[side(n)] for n in JOINT_NAMES]

    def draw(self, image: np.ndarray, result: Result, hud: str = "") -> np.ndarray:
        """Draw on image (H, W, 3) BGR uint8 in place and return it."""
        if result.kp2d is not None:
            scale = max(1, round(image.shape[0] / 480))
            if self.template is not None and result.affines is not None and result.box is not None:
                self._ellipses(image, result)
            self._skeleton(image, result.kp2d, scale)
        if hud:
            scale, thick = hud_font(hud, image.shape[1])
            margin = max(2, round(8 * scale / 0.6))
            (_, text_h), _ = cv2.getTextSize(hud, _FONT, scale, thick)
            origin = (margin, margin + text_h)
            cv2.putText(image, hud, origin, _FONT, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(image, hud, origin, _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
        return image

    def _ellipses(self, image: np.ndarray, result: Result) -> None:
        assert self.template is not None and result.affines is not None and result.box is not None
        ell = part_ellipses(self.template, result.affines, self.size)  # (K, 5) model-input pixels
        centres = to_source(ell[:, :2], result.box, self.size)
        gain = self.style.sigmas * result.box.w / self.size * (1 << _SHIFT)
        layer = image.copy()
        for (cx, cy), (_, _, major, minor, angle), colour in zip(centres, ell, self._part_colours, strict=True):
            centre = (int(round(cx * (1 << _SHIFT))), int(round(cy * (1 << _SHIFT))))
            axes = (max(1, int(round(major * gain))), max(1, int(round(minor * gain))))
            cv2.ellipse(layer, centre, axes, float(angle), 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(layer, self.style.alpha, image, 1 - self.style.alpha, 0, dst=image)

    def _skeleton(self, image: np.ndarray, kp: np.ndarray, scale: int) -> None:
        pts = np.round(kp[:, :2] * (1 << _SHIFT)).astype(np.int64)
        width = self.style.thickness * scale
        for a, b in BONE_INDEX:
            p, q = (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1]))
            cv2.line(image, p, q, self._joint_colours[b], width, cv2.LINE_AA, _SHIFT)
        for j, colour in enumerate(self._joint_colours):
            filled = -1 if kp[j, 2] >= self.style.min_score else width
            centre = (int(pts[j, 0]), int(pts[j, 1]))
            cv2.circle(image, centre, (3 * scale) << _SHIFT, colour, filled, cv2.LINE_AA, _SHIFT)


def hud_font(text: str, width: int) -> tuple[float, int]:
    """(font scale, thickness) of the heads-up text on a frame `width` px wide: 0.6 at 640 px, in
    proportion to the width, and never wider than the frame less its margins (so it cannot run off or
    pile up on narrow frames)."""
    scale = min(max(0.6 * width / 640, 0.25), 2.0)
    thick = max(1, round(scale * 1.7))
    text_w = cv2.getTextSize(text, _FONT, scale, thick)[0][0]
    room = width - 2 * max(2, round(8 * scale / 0.6))
    if text_w > room > 0:
        scale *= room / text_w
        thick = max(1, round(scale * 1.7))
    return scale, thick


def hud_line(fps: float, latency: float, drops: int) -> str:
    """The heads-up text: throughput, latency of the last frame, frames dropped so far."""
    return f"{fps:5.1f} fps  latency {latency * 1000:4.0f} ms  drops {drops}"


_END = object()
ENCODE_QUEUE_BYTES = 64 * 2**20  # frames waiting for the encoder: 16 at 640x480, 2 at 4K


class VideoWriter:
    """H.264 (libx264, yuv420p) through PyAV at the source's timing, encoded in its own thread.

    Frames are stamped from their time `t` in `time_base` units, so dropped or failed frames leave the
    right gap. Odd frame sizes lose their last column or row (yuv420p needs even sizes). No audio. Memory
    is bounded: at most ENCODE_QUEUE_BYTES of frames wait, and frames above 1080p use a 5-frame look-ahead.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        time_base: Fraction = Fraction(1, 1000),
        preset: str = "veryfast",
        crf: int = 23,
    ) -> None:
        self.path = Path(path)
        ensure_folder(self.path.parent, "--save-video", self.path)
        self.width, self.height = width - width % 2, height - height % 2
        try:
            self._encoder = H264Encoder(
                self.path, self.width, self.height, fps if fps > 0 else 30.0, crf=crf, preset=preset, exact=False,
                time_base=time_base, pixel_format="bgr24",
            )  # fmt: skip
        except (OSError, av.FFmpegError) as exc:
            raise InputError(f"--save-video {self.path}: cannot be written ({exc}); pick a writable .mp4") from None
        self._tb, self._last_pts = time_base, -1
        self._queue: queue.Queue = queue.Queue(max(2, min(16, ENCODE_QUEUE_BYTES // (self.width * self.height * 3))))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tpt-encode", daemon=True)
        self._thread.start()

    def write(self, image: np.ndarray, t: float) -> None:
        """Queue one BGR frame (H, W, 3) uint8 shown at `t` seconds. Raises the encoder's error, if any."""
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put((image, t), timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise InputError(f"{self.path}: the video encoder stopped") from None

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _END:
                image, t = item
                pts = max(int(round(t / self._tb)), self._last_pts + 1)
                if image.shape[0] - self.height not in (0, 1) or image.shape[1] - self.width not in (0, 1):
                    image = fit(image, self.width, self.height)  # a folder's photo of another size than the first
                self._encoder.encode(image[: self.height, : self.width], pts)
                self._last_pts = pts
        except BaseException as exc:  # noqa: B036 - re-raised in the writing thread
            self._error = exc

    def close(self) -> None:
        """Flush the encoder and finish the file (also after an interruption)."""
        if self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=10.0)
            except queue.Full:
                self._error = self._error or InputError(f"{self.path}: the video encoder did not drain")
            self._thread.join(timeout=30.0)
        self._encoder.close(flush=self._error is None)
        if self._error is not None:
            raise self._error


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` (H, W, 3) letterboxed into width x height: one scale for both axes, black bars, area resize."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    sw, sh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - sw) // 2, (height - sh) // 2
    out[y : y + sh, x : x + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return out


def has_display() -> bool:
    """Whether a window can be opened (cv2.imshow aborts the process without one)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Window:
    """An OpenCV window; `show` returns False once the user pressed q or Esc."""

    def __init__(self, title: str = "tpt-live") -> None:
        if not has_display():
            raise InputError("--show needs a display (no DISPLAY or WAYLAND_DISPLAY); use --save-video instead")
        self.title = title

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)

    def close(self) -> None:
        cv2.destroyWindow(self.title)
