"""Frame pairs from unlabelled video: two frames of one scene, same crop window, flipped together.

Frames are decoded once, letterboxed into the model input in the decoder (swscale; one scale for both
axes, as `tpt-live track` does) or cut to the square box around a ROI, and kept in memory as uint8
(optionally cached on disk), so that training is never decode-bound. Every scene also carries
its frame rate (for the pair gap in seconds) and a background estimate (`trainer.background`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tpt_live.crop import CropBox, check_roi, crop_resize, head_turns, square_box, turn_input, turned_crop
from tpt_live.errors import InputError, SourceError
from tpt_live.localise import Location, crop_along, default_localiser_path
from tpt_live.localiser_net import Localiser, load_localiser
from tpt_live.videoio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image_folder, read_video, video_fps
from trainer.background import estimate_background, static_share
from trainer.stabilise import motion_extent, span_motions, warp_to_reference

log = logging.getLogger(__name__)


def decode_video(path: Path, size: int, roi: CropBox | None = None) -> np.ndarray:
    """All frames of a video as (N, size, size, 3) uint8 RGB, letterboxed or cut to the square around `roi`.

    Without a ROI the decoder letterboxes the whole frame (`tpt_live.crop.letterbox`, swscale, area); with
    one, `tpt_live.crop.crop_resize` cuts the square box around it (black outside the frame), as the
    tracker does with `--roi`.
    """
    if roi is None:
        frames = list(read_video(path, size))
    else:
        frames = [_roi_crop(f, roi, size) for f in read_video(path)]
    if not frames:
        raise SourceError(f"{path} holds no decodable frames")
    return np.stack(frames)


def load_image_folder(path: Path, size: int, roi: CropBox | None = None) -> np.ndarray:
    """Images of one folder (one scene) as (N, size, size, 3) uint8 RGB, sorted by name (as `decode_video`)."""
    if roi is None:
        return np.stack(list(read_image_folder(path, size)))
    return np.stack([_roi_crop(img, roi, size) for img in read_image_folder(path)])


def _roi_crop(frame: np.ndarray, roi: CropBox, size: int) -> np.ndarray:
    """The square around `roi` (as `tpt-live track --roi`); InputError when the ROI lies outside the frame."""
    check_roi(roi, frame.shape[1], frame.shape[0])
    return crop_resize(frame, square_box(roi), size)


def find_scenes(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand arguments into scenes: video files, and folders of videos or of images (one scene)."""
    scenes: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            scenes.append(p)
        elif p.is_dir():
            videos = sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES)
            if videos:
                scenes.extend(videos)
            elif any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()):
                scenes.append(p)
            else:
                raise InputError(f"{p} holds neither videos nor images")
        elif not p.exists():
            raise SourceError(f"{p}: no such file or folder")
        else:
            raise InputError(f"{p} is not a video file ({', '.join(sorted(VIDEO_SUFFIXES))}) or a folder")
    return scenes


@dataclass(frozen=True, eq=False)
class Scene:
    """One static-camera scene: frames (N, S, S, 3) uint8 RGB, its frame rate, its background estimate."""

    frames: np.ndarray
    fps: float | None = None  # None: an image folder (no time axis known)
    name: str = ""
    background: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # (S, S, 3) uint8

    def __post_init__(self) -> None:
        if self.background.size == 0 and len(self.frames):
            object.__setattr__(self, "background", estimate_background(self.frames))


@dataclass(frozen=True)
class PairConfig:
    gap_s: tuple[float, float] | None = None  # frame gap range in seconds (None: any two distinct frames)
    min_moving: float = 0.0  # redraw pairs with less than this share of changed pixels (0: keep all)
    moving_threshold: float = 0.1  # a pixel has changed when a channel differs by more than this (0..1)
    retries: int = 8  # redraws of a near-identical pair before it is kept anyway
    flip: bool = True  # mirror both frames of a pair (and the background) with p = 0.5
    flip_axis: str = "x"  # "x": left-right (a head-up subject); "y": top-bottom (a subject lying sideways)

    def __post_init__(self) -> None:
        if self.gap_s is not None and not 0 <= self.gap_s[0] <= self.gap_s[1]:
            raise InputError(f"pair gap {self.gap_s} must be MIN,MAX seconds with 0 <= MIN <= MAX, e.g. 0.2,2")
        if self.flip_axis not in ("x", "y"):
            raise InputError(f"flip axis {self.flip_axis!r}: use x or y")
        if not 0 <= self.min_moving < 1:
            raise InputError(f"min moving share {self.min_moving} must be in [0, 1)")


class PairSampler:
    """Random frame pairs of the same scene, as float tensors in [0, 1].

    Every scene is held as (N, 3, S, S) uint8. `sample` draws scenes in proportion to their frame
    counts, then two distinct frames of that scene: any two, or (with `gap_s` and a known frame rate) a
    gap drawn uniformly from gap_s x fps frames (at least 1, at most N - 1); a pair in which fewer than
    `min_moving` of the pixels changed is redrawn. Both frames and the scene's background are mirrored
    across the subject's long axis (`flip_axis`: x = columns reversed, for a head-up subject)
    horizontally together with p = 0.5.
    """

    def __init__(self, scenes: Sequence[Scene | np.ndarray], seed: int = 0, cfg: PairConfig | None = None) -> None:
        items = [s if isinstance(s, Scene) else Scene(s) for s in scenes]
        usable = [s for s in items if len(s.frames) >= 2]
        if not usable:
            raise InputError("training needs at least one scene with two or more frames")
        self.cfg = cfg or PairConfig()
        self.scenes = [torch.from_numpy(np.ascontiguousarray(s.frames.transpose(0, 3, 1, 2))) for s in usable]
        self.backgrounds = [torch.from_numpy(np.ascontiguousarray(s.background.transpose(2, 0, 1))) for s in usable]
        self.gaps = [self._gap_frames(s) for s in usable]
        counts = np.array([len(s.frames) for s in usable], np.float64)
        self.weights = torch.from_numpy(counts / counts.sum())
        self.gen = torch.Generator().manual_seed(seed)
        self.redrawn = 0  # pairs redrawn for too little motion (diagnostic)

    def _gap_frames(self, scene: Scene) -> tuple[int, int] | None:
        n = len(scene.frames)
        if self.cfg.gap_s is None or scene.fps is None:
            return None
        lo = min(max(1, round(self.cfg.gap_s[0] * scene.fps)), n - 1)
        hi = min(max(lo, round(self.cfg.gap_s[1] * scene.fps)), n - 1)
        return lo, hi

    @property
    def num_frames(self) -> int:
        return sum(len(s) for s in self.scenes)

    def _draw(self, s: int) -> tuple[int, int]:
        n = len(self.scenes[s])
        gaps = self.gaps[s]
        if gaps is None:
            i = int(torch.randint(n, (1,), generator=self.gen))
            return i, (i + 1 + int(torch.randint(n - 1, (1,), generator=self.gen))) % n
        gap = int(torch.randint(gaps[0], gaps[1] + 1, (1,), generator=self.gen))
        i = int(torch.randint(n - gap, (1,), generator=self.gen))
        if bool(torch.rand(1, generator=self.gen) < 0.5):
            return i + gap, i
        return i, i + gap

    def _moving_share(self, s: int, i: int, j: int) -> float:
        a, b = self.scenes[s][i].short(), self.scenes[s][j].short()
        return float(((a - b).abs().amax(0) > 255 * self.cfg.moving_threshold).float().mean())

    def sample(self, batch: int) -> tuple[Tensor, Tensor, Tensor]:
        """(pose frames, appearance frames, backgrounds), each (B, 3, S, S) float32 in [0, 1]."""
        which = torch.multinomial(self.weights, batch, replacement=True, generator=self.gen)
        pose, app, bg = [], [], []
        for s in which.tolist():
            i, j = self._draw(s)
            for _ in range(self.cfg.retries if self.cfg.min_moving > 0 else 0):
                if self._moving_share(s, i, j) >= self.cfg.min_moving:
                    break
                self.redrawn += 1
                i, j = self._draw(s)
            pose.append(self.scenes[s][i])
            app.append(self.scenes[s][j])
            bg.append(self.backgrounds[s])
        x = torch.stack(pose).float().div_(255)
        y = torch.stack(app).float().div_(255)
        b = torch.stack(bg).float().div_(255)
        if self.cfg.flip:
            mask = torch.rand(batch, generator=self.gen) < 0.5
            dim = -1 if self.cfg.flip_axis == "x" else -2
            x[mask] = x[mask].flip(dim)
            y[mask] = y[mask].flip(dim)
            b[mask] = b[mask].flip(dim)
        return x, y, b


def _full_frames(scene: Path) -> Iterator[np.ndarray]:
    return read_video(scene) if scene.is_file() else read_image_folder(scene)


def _window(found: Sequence[Location]) -> tuple[CropBox, float]:
    """The median centre and length and the score-weighted mean direction of `found`, framed and turned as
    `tpt-live track --locate` does (`tpt_live.localise.crop_along`). Returns (box, degrees to turn)."""
    xs, ys, lengths = (np.median([getattr(f, k) for f in found]) for k in ("x", "y", "length"))
    direction = sum((f.score + 1e-6) * np.exp(1j * np.radians(f.angle)) for f in found)
    angle = float(np.degrees(np.angle(direction)) % 360.0)
    return crop_along(Location(float(xs), float(ys), float(lengths), angle, 1.0))


def _to_reference(loc: Location, motion: np.ndarray) -> Location:
    """`loc` moved by a (2, 3) similarity map (`trainer.stabilise`) into its span's first frame."""
    x, y = motion[:, :2] @ np.array([loc.x, loc.y]) + motion[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(motion[:, :2]))))
    turn = float(np.degrees(np.arctan2(motion[1, 0], motion[0, 0])))  # image axes: clockwise on screen
    return Location(float(x), float(y), loc.length * scale, (loc.angle + turn) % 360.0, loc.score)


def _locations(scene: Path, localiser: Localiser, span: int | None, every: int) -> dict[int, Location]:
    """The localiser's finding on every `every`-th frame and on the first frame of every span, by frame index."""
    found = {}
    for i, f in enumerate(_full_frames(scene)):
        if i % every == 0 or (span is not None and i % span == 0):
            found[i] = localiser.locate([f])[0]
    if not found:
        raise SourceError(f"{scene} holds no decodable frames")
    return found


def _span_windows(
    found: dict[int, Location], span: int | None, motions: Sequence[np.ndarray] | None = None
) -> list[tuple[int, CropBox, float]]:
    groups: dict[int, list[Location]] = {}
    for i, loc in sorted(found.items()):
        groups.setdefault(0 if span is None else i // span, []).append(
            loc if motions is None else _to_reference(loc, motions[i])
        )
    return [(k * (span or 0), *_window(group)) for k, group in sorted(groups.items())]


def located_windows(
    scene: Path, localiser: Localiser, span: int | None = None, every: int = 10
) -> list[tuple[int, CropBox, float]]:
    """Crop windows from the localisation stage for a static-camera scene: one per `span` consecutive frames
    (None: one for the whole scene), each from every `every`-th frame of its span (at least its first).
    Returns [(first frame, CropBox, degrees to turn), ...] in frame order."""
    return _span_windows(_locations(scene, localiser, span, every), span)


def stabilised_windows(
    scene: Path, localiser: Localiser, span: int, every: int = 10
) -> tuple[list[tuple[int, CropBox, float]], list[np.ndarray]]:
    """`located_windows` for a camera that may move: also the camera's motion within each span
    (`trainer.stabilise.span_motions`, the subject's features left out: a disc of 0.75 body lengths around its
    latest location), and the windows placed in each span's first frame, into which every frame of the span is
    warped before it is cut. Returns (windows, per-frame (2, 3) maps)."""
    found = _locations(scene, localiser, span, every)
    latest, subjects = None, []
    for i in range(max(found) + 1 + every):
        latest = found.get(i, latest)
        subjects.append(None if latest is None else (latest.x, latest.y, 0.75 * latest.length))
    shape: list[int] = []

    def frames() -> Iterator[np.ndarray]:
        for f in _full_frames(scene):
            shape[:] = f.shape[:2]
            yield f

    motions = span_motions(frames(), span, subjects)
    log.info("scene %s: camera motion up to %.1f%% of the width within a span (taken out)", scene.name,
             100 * motion_extent(motions, shape[1], shape[0]))  # fmt: skip
    return _span_windows(found, span, motions), motions


def load_scenes(
    inputs: Sequence[str | Path],
    size: int,
    roi: CropBox | None = None,
    cache_dir: Path | None = None,
    head: str = "up",
    locate: bool = False,
    window_s: float = 0.0,
    stabilise: bool = False,
) -> list[Scene]:
    """Decode every scene once (cached as .npy under `cache_dir` by path, mtime, size, roi, head and locate).

    `head` (up, right, down, left: where the subject's head points in the picture) turns every model input
    so that the head points up, exactly as `tpt-live track --head` does (`tpt_live.crop.turn_input`).
    `locate` cuts the frames of a scene through windows found by the shipped localiser (`located_windows`:
    subject-centred, turned head up): one per `window_s` seconds of video (0, or no frame rate: one for the
    whole scene), each span a scene of its own, so both frames of a pair share crop and background while the
    windows follow a subject or camera that moves. `stabilise` (with `window_s`) also takes out the camera's
    own motion inside each span (`trainer.stabilise`): every frame is moved into its span's first frame
    before it is cut, so a hand-held camera's pairs share a background as a static camera's do.
    """
    if locate and (roi is not None or head != "up"):
        raise InputError("--locate finds the crop and the turn itself: leave out --roi and --head")
    turns = head_turns(head)
    localiser = load_localiser() if locate else None
    if window_s < 0:
        raise InputError(f"window_s {window_s} must be >= 0 (0: one located window per clip)")
    out = []
    for scene in find_scenes(inputs):
        fps = video_fps(scene) if scene.is_file() else None
        span = max(2, round(window_s * fps)) if locate and window_s > 0 and fps else None
        located = default_localiser_path().stat().st_mtime_ns if locate else None
        key = f"{scene.resolve()}|{scene.stat().st_mtime_ns}|{size}|{roi}|letterbox|head={head}|locate={located}"
        key += f"|span={span}" if span else ""
        key += "|stabilised" if span and stabilise else ""
        cached = cache_dir / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".npy") if cache_dir else None
        if cached is not None and cached.exists():
            frames = np.asarray(np.load(cached), np.uint8)
        elif localiser is not None:
            motions = None
            if span and stabilise:
                windows, motions = stabilised_windows(scene, localiser, span)
            else:
                windows = located_windows(scene, localiser, span)
            if len(windows) == 1:
                _, box, degrees = windows[0]
                log.info("scene %s: located window %s, turned %.0f degrees", scene.name, box.as_list(), degrees)
            else:
                angles = ", ".join(f"{d:.0f}" for _, _, d in windows)
                log.info("scene %s: %d located windows of %d frames, turned %s degrees", scene.name,
                         len(windows), span, angles)  # fmt: skip
            crops = []
            for i, f in enumerate(_full_frames(scene)):
                _, box, degrees = windows[0 if span is None else i // span]  # every span has its window
                f = f if motions is None else warp_to_reference(f, motions[i])
                crops.append(turned_crop(f, box, degrees, size)[0])
            frames = np.stack(crops)
        else:
            frames = decode_video(scene, size, roi) if scene.is_file() else load_image_folder(scene, size, roi)
            frames = np.stack([turn_input(f, turns) for f in frames])
        if cached is not None and not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, frames)
        log.info("scene %s: %d frames%s", scene.name, len(frames), f" at {fps:g} fps" if fps else "")
        parts = [frames] if span is None else [frames[i : i + span] for i in range(0, len(frames), span)]
        items = [Scene(f, fps, scene.name if span is None else f"{scene.name}#{k}") for k, f in enumerate(parts)]
        still = float(np.mean([static_share(item.frames, item.background) for item in items]))
        if still < 0.5:
            log.warning(
                "scene %s: only %.0f%% of the pixels match its background estimate: the camera moves or the "
                "light changes, so pairs do not share a background (use a static camera)",
                scene.name,
                100 * still,
            )
        out.extend(items)
    return out
