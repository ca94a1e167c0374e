"""Video sources: files, globs, folders, image folders, webcams and network streams, decoded by PyAV.

A source yields `Frame`s. When the crop is fixed (full frame or `--roi`) the decoder also makes the
model input: one swscale resize (`VideoFrame.to_ndarray(width=, height=, interpolation="AREA")`) plus
a paste into the S x S canvas, never a Python-side resize (see `tpt_live.crop` for the coordinates).
Iterating a source is blocking work meant for its own thread (`tpt_live.track.pipeline` runs it there).

A corrupt packet gives a `decode_error` frame and decoding goes on. A file that ends early (truncated)
stops there and leaves a message in `VideoSource.problems`.

Opening and retrying differ by kind. A file is opened once: one that cannot be read raises `SourceError`
at once (retrying cannot heal it). A live source (camera, stream) is opened in a helper thread, so Ctrl-C
and `VideoSource.cancel()` act within 0.1 s while FFmpeg blocks for up to `timeout` s; a failure raises
`SourceUnavailable` (it may come back). Once a live source has delivered frames, a loss is ridden out
by `ReconnectPolicy`: the source may stay away for `reconnect` x `timeout` seconds, tried again every
0.5-2 s, before `SourceUnavailable` says it is lost.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tpt_live import videoio
from tpt_live.crop import CropBox, ResizePlan, crop_resize, full_box, paste, plan_resize
from tpt_live.errors import InputError, SourceError, SourceUnavailable
from tpt_live.videoio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, bound_frame_heap, display_turns, upright, upright_size

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "srt://", "udp://")
IMAGE_FPS = 30.0  # frame rate assumed for image folders (t = index / IMAGE_FPS)
STABLE_AFTER = 10.0  # seconds a live connection must hold before an outage counts as over


@dataclass(frozen=True)
class ReconnectPolicy:
    """How long a live source may stay away: `reconnect` windows of `timeout` seconds, retried every 0.5-2 s."""

    reconnect: int = 3  # reconnect windows after a loss (0: a loss is final)
    timeout: float = 10.0  # seconds one open or read may block; also the length of one window

    def __post_init__(self) -> None:
        if self.reconnect < 0:
            raise InputError(f"--reconnect {self.reconnect} must be 0 or more")
        if not self.timeout > 0:
            raise InputError(f"--timeout {self.timeout:g} must be more than 0 seconds")

    @property
    def budget(self) -> float:
        """Seconds of outage ridden out before the source counts as lost."""
        return self.reconnect * self.timeout

    def wait(self, down_for: float, attempts: int) -> float | None:
        """Seconds to wait before reconnect attempt `attempts + 1`, `down_for` s into the outage; None: lost."""
        left = self.budget - down_for
        if left <= 0:
            return None
        return min(0.5 * 2**attempts, 2.0, left)


@dataclass(frozen=True)
class SourceSpec:
    uri: str  # file path, folder, camera device or URL
    kind: str  # "file" | "images" | "camera" | "stream"
    name: str  # short name for output files (file stem, folder name, "camera0", host)
    images: tuple[str, ...] = ()  # the image files of an image folder, sorted

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "stream")


@dataclass
class SourceInfo:
    uri: str  # as given
    kind: str  # as in SourceSpec
    width: int  # source pixels
    height: int
    fps: float  # nominal frame rate (0 when unknown)
    time_base: str  # of the timestamps, e.g. "1/15360"
    frame_count: int  # expected frames from the header (0 when unknown or live)
    live: bool  # frames arrive in real time and may be dropped


@dataclass
class Frame:
    """One decoded (or failed) frame. Images are uint8; `image` is BGR for drawing and encoding."""

    idx: int  # 0-based position in the source, counting failed and dropped frames
    t: float  # seconds from the first frame (wall clock for live sources)
    status: str  # "ok" | "decode_error" | "dropped"
    net: np.ndarray | None = None  # (S, S, 3) RGB model input, when the crop is fixed
    box: CropBox | None = None  # the crop `net` realises, source pixels
    image: np.ndarray | None = None  # (H, W, 3) BGR full frame, when asked for
    pts: int | None = None  # presentation timestamp in `SourceInfo.time_base` units
    arrival: float = 0.0  # time.perf_counter() when the decoder produced it (latency origin)


def _camera_device(arg: str) -> str | None:
    if arg.isdigit():
        return f"/dev/video{arg}" if sys.platform.startswith("linux") else arg
    if arg.startswith("/dev/video"):
        return arg
    return None


def _folder(path: Path) -> list[SourceSpec]:
    files = sorted(p for p in path.iterdir() if p.is_file())
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        return [SourceSpec(str(p), "file", p.stem) for p in videos]
    images = [str(p) for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if images:
        return [SourceSpec(str(path), "images", path.name, tuple(images))]
    raise SourceError(f"folder {path} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) and no images")


def resolve_sources(args: list[str]) -> list[SourceSpec]:
    """Command-line sources -> one spec per output. Folders give one spec per video inside (or one
    image-folder spec); globs are expanded and sorted. Raises InputError / SourceError."""
    specs: list[SourceSpec] = []
    for arg in args:
        device = _camera_device(arg)
        if device is not None:
            specs.append(SourceSpec(device, "camera", f"camera{device.removeprefix('/dev/video')}"))
        elif arg.lower().startswith(STREAM_SCHEMES):
            host = arg.split("://", 1)[1].split("/", 1)[0].replace(":", "_") or "stream"
            specs.append(SourceSpec(arg, "stream", host))
        elif "://" in arg:
            raise InputError(f"unsupported source {arg!r}: use a file, folder, glob, camera 0 or rtsp/http(s) URL")
        elif any(c in arg for c in "*?["):
            matches = sorted(glob.glob(arg))
            if not matches:
                raise SourceError(f"no files match {arg!r}")
            specs += resolve_sources(matches)
        else:
            path = Path(arg)
            if path.is_dir():
                specs += _folder(path)
            elif not path.exists():
                raise SourceError(f"{arg}: no such file or folder")
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                specs.append(SourceSpec(arg, "images", path.stem, (arg,)))
            else:
                specs.append(SourceSpec(arg, "file", path.stem))
    return distinct_names(specs)


def distinct_names(specs: list[SourceSpec]) -> list[SourceSpec]:
    """The specs, numbered when two share a name (the same stem in two folders), so their outputs stay apart."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        return [SourceSpec(s.uri, s.kind, f"{s.name}_{i}", s.images) for i, s in enumerate(specs)]
    return specs


def open_container(spec: SourceSpec, timeout: float) -> av.container.InputContainer:
    """Open with PyAV; every failure becomes a SourceError (SourceUnavailable for live sources) that names
    the source and the fix. Blocks for up to `timeout` s on live sources (see `open_live`)."""
    if spec.kind == "file":
        if not os.access(spec.uri, os.R_OK):
            raise SourceError(f"{spec.uri}: cannot be read (permission denied)")
        if os.path.getsize(spec.uri) == 0:
            raise SourceError(f"{spec.uri}: the file is empty")
    try:
        if spec.kind == "camera":
            fmt = "v4l2" if spec.uri.startswith("/dev/") else ("avfoundation" if sys.platform == "darwin" else None)
            return av.open(spec.uri, format=fmt, timeout=timeout)
        if spec.kind == "stream":
            opts = {"rtsp_transport": "tcp"} if spec.uri.startswith("rtsp") else {}
            return av.open(spec.uri, options=opts, timeout=timeout)
        return av.open(spec.uri)
    except FileNotFoundError:
        what = "camera not found (is it plugged in? try another index)" if spec.kind == "camera" else "not found"
        raise (SourceUnavailable if spec.live else SourceError)(f"{spec.uri}: {what}") from None
    except (av.FFmpegError, OSError) as exc:
        if spec.live:
            why = f"no answer within {timeout:g} s" if isinstance(exc, av.ExitError) else f"{exc}"
            hint = "check the URL and that the server is up" if spec.kind == "stream" else "is the camera connected?"
            raise SourceUnavailable(f"{spec.uri}: cannot open ({why}); {hint}") from None
        raise SourceError(
            f"{spec.uri}: cannot open ({exc.__class__.__name__}: {exc}); the file is not a video FFmpeg can read"
        ) from None


class _Cancelled(Exception):
    """`VideoSource.cancel()` was called while a live source was opening or waiting to reconnect."""


def open_live(spec: SourceSpec, timeout: float, cancel: threading.Event) -> av.container.InputContainer:
    """`open_container` in a helper thread. The caller waits in 0.1 s slices, so Ctrl-C (in the main
    thread) and `cancel` (from any thread) act at once; FFmpeg's own open ends within `timeout` s, and a
    container it opens after the caller left is closed. Raises SourceUnavailable, or _Cancelled."""
    lock, done = threading.Lock(), threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            container = open_container(spec, timeout)
        except BaseException as exc:  # noqa: B036 - handed to the waiting thread
            with lock:
                result["error"] = exc
        else:
            with lock:
                if result.get("abandoned"):
                    container.close()
                else:
                    result["container"] = container
        done.set()

    threading.Thread(target=work, name="tpt-open", daemon=True).start()
    try:
        while not done.wait(0.1):
            if cancel.is_set():
                raise _Cancelled
    except BaseException:  # Ctrl-C or cancel: leave the open to finish (or time out) by itself
        with lock:
            result["abandoned"] = True
            if "container" in result:
                result["container"].close()
        raise
    if "error" in result:
        raise result["error"]
    return result["container"]


def first_turns(spec: SourceSpec, timeout: float) -> int:
    """`display_turns` of a file's first decodable frame (0 where none decodes: the file's errors come later)."""
    try:
        with open_container(spec, timeout) as container:
            for packet in container.demux(video=0):
                try:
                    decoded = packet.decode()
                except av.FFmpegError:  # a damaged first packet: the next one tells
                    continue
                if decoded:
                    return display_turns(decoded[0])
    except (av.FFmpegError, OSError, SourceError):
        pass
    return 0


class VideoSource:
    """Frames of one source, files and images the way up they are shown (`tpt_live.videoio.upright`; cameras and
    streams as sent). `size` is the model input S; `box` the fixed crop (None: full frame, or
    follow mode when `fixed_crop` is False); `want_image` asks for the full BGR frame as well."""

    def __init__(
        self,
        spec: SourceSpec,
        size: int,
        box: CropBox | None = None,
        fixed_crop: bool = True,
        want_image: bool = False,
        reconnect: int = 3,
        pace: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.spec, self.size, self.roi, self.fixed_crop = spec, size, box, fixed_crop
        self.want_image = want_image or not fixed_crop
        if self.want_image:
            bound_frame_heap()  # full frames: large buffers, allocated and freed at the frame rate
        self.reconnect, self.pace, self.timeout = reconnect, pace, timeout
        self.policy = ReconnectPolicy(reconnect, timeout)
        self.problems: list[str] = []  # truncation and similar, for the summary
        self._cancel = threading.Event()
        self._plan: ResizePlan | None = None
        self._plan_for: tuple[int, int] = (0, 0)
        self._container: av.container.InputContainer | None = None
        self.info = self._probe()

    @property
    def live(self) -> bool:
        return self.spec.live or self.pace

    def _probe(self) -> SourceInfo:
        if self.spec.kind == "images":
            first = self._open_image(self.spec.images[0])
            return SourceInfo(
                self.spec.uri, "images", *upright_size(first), IMAGE_FPS, f"1/{int(IMAGE_FPS)}",
                len(self.spec.images), False,
            )  # fmt: skip
        self._container = self._open()
        if not self._container.streams.video:
            raise SourceError(f"{self.spec.uri}: has no video stream")
        stream = self._container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise SourceError(f"{self.spec.uri}: the video stream has no frame size (damaged header?)")
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        count = stream.frames or (round(self._container.duration / 1e6 * fps) if self._container.duration else 0)
        turned = not self.spec.live and first_turns(self.spec, self.timeout) % 2
        size = (ctx.height, ctx.width) if turned else (ctx.width, ctx.height)
        return SourceInfo(
            self.spec.uri, self.spec.kind, *size, fps, str(stream.time_base or Fraction(1, 1000)),
            0 if self.spec.live else int(count), self.live,
        )  # fmt: skip

    def _open(self) -> av.container.InputContainer:
        if self.spec.live:
            return open_live(self.spec, self.timeout, self._cancel)
        return open_container(self.spec, self.timeout)

    def _open_image(self, path: str) -> av.VideoFrame:
        image = videoio.read_image(path)  # EXIF orientation or HEIF transforms applied, as `evaluate` reads photos
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        return av.VideoFrame.from_ndarray(np.asarray(image, np.uint8), format="bgr24")

    def _convert(self, vf: av.VideoFrame, idx: int, t: float) -> Frame:
        frame = Frame(idx, t, "ok", pts=vf.pts, arrival=time.perf_counter())
        turns = 0 if self.spec.live else display_turns(vf)  # files and images the way up they are shown
        width, height = upright_size(vf, turns)
        if self.fixed_crop:
            if self._plan is None or self._plan_for != (width, height):
                box = self.roi or full_box(width, height)
                self._plan, self._plan_for = plan_resize(width, height, box, self.size), (width, height)
            p = self._plan
            if p.scaled_w * p.scaled_h <= width * height:  # one swscale resize of the whole frame
                scaled = upright(vf, "rgb24", p.scaled_w, p.scaled_h, turns)
                frame.net, frame.box = paste(scaled, p, self.size), p.box
            else:  # a box smaller than S: cut it out, then upscale only the box (never the whole frame)
                box = self.roi or full_box(width, height)
                frame.image = upright(vf, "bgr24", turns=turns)
                frame.net = np.ascontiguousarray(crop_resize(frame.image, box, self.size)[..., ::-1])
                frame.box = box
        if self.want_image and frame.image is None:
            frame.image = upright(vf, "bgr24", turns=turns)
        elif not self.want_image:
            frame.image = None
        return frame

    def frames(self) -> Iterator[Frame]:
        """Decode every frame in order (blocking). Live sources reconnect; files never skip frames."""
        if self.spec.kind == "images":
            yield from self._images()
        elif self.spec.live:
            yield from self._live()
        else:
            yield from self._file()

    def _images(self) -> Iterator[Frame]:
        for idx, path in enumerate(self.spec.images):
            t = idx / IMAGE_FPS
            try:
                yield self._convert(self._open_image(path), idx, t)
            except SourceError as exc:
                log.warning("%s", exc)
                yield Frame(idx, t, "decode_error", arrival=time.perf_counter())

    def _file(self) -> Iterator[Frame]:
        container = self._container or open_container(self.spec, self.timeout)
        self._container = None
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base or 0)
        start = stream.start_time or 0
        period = 1.0 / self.info.fps if self.info.fps else 0.0
        idx, t, clock = 0, -period, time.perf_counter()
        try:
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:  # a corrupt packet: record it and go on
                    log.warning("%s: frame %d does not decode (%s)", self.spec.uri, idx, exc)
                    t = (packet.pts - start) * tb if packet.pts is not None and tb else t + period
                    yield Frame(idx, t, "decode_error", pts=packet.pts, arrival=time.perf_counter())
                    idx += 1
                    continue
                for vf in decoded:
                    t = (vf.pts - start) * tb if vf.pts is not None and tb else t + period
                    if self.pace:  # simulated live source: release frames at their presentation time
                        time.sleep(max(0.0, clock + t - time.perf_counter()))
                    yield self._convert(vf, idx, t)
                    idx += 1
        except av.FFmpegError as exc:
            self.problems.append(f"{self.spec.uri}: reading stopped after {idx} frames ({exc}); file damaged?")
        finally:
            container.close()
        expected = self.info.frame_count
        if expected and idx < expected - 1 and not self.problems:
            self.problems.append(f"{self.spec.uri}: ends after {idx} of {expected} frames (truncated file?)")
        if idx == 0 and not self.problems:
            self.problems.append(f"{self.spec.uri}: no frame could be decoded")

    def _live(self) -> Iterator[Frame]:
        """Frames of a camera or stream; a loss is ridden out as `self.policy` says (see the module doc)."""
        idx, clock = 0, time.perf_counter()
        container = self._container
        self._container = None
        last_frame = time.perf_counter()  # the outage, if any, began here
        down_since: float | None = None  # start of the current outage; None while frames flow
        attempts = 0
        while not self._cancel.is_set():
            try:
                if container is None:
                    container = self._open()
                connected = time.perf_counter()
                for vf in container.decode(video=0):
                    last_frame = time.perf_counter()
                    if down_since is not None and last_frame - connected >= STABLE_AFTER:
                        down_since, attempts = None, 0  # a connection that held: the outage is over
                    yield self._convert(vf, idx, last_frame - clock)
                    idx += 1
                if container.duration:  # a finite video served over http(s): it is over, not lost
                    return
                reason = "the stream ended"
            except _Cancelled:
                return
            except (av.FFmpegError, OSError, SourceError) as exc:
                reason = str(exc)
            finally:
                if container is not None:
                    container.close()
                container = None
            if down_since is None:
                down_since = last_frame
            away = time.perf_counter() - down_since
            wait = self.policy.wait(away, attempts)
            if wait is None:
                raise SourceUnavailable(
                    f"{self.spec.uri}: lost: no frame for {away:.0f} s after {attempts} reconnect attempts ({reason}); "
                    f"--reconnect {self.reconnect} x --timeout {self.timeout:g} s rides out {self.policy.budget:g} s"
                )
            attempts += 1
            log.warning("%s: %s; reconnecting in %.1f s (attempt %d, away %.0f of %g s)", self.spec.uri, reason,
                        wait, attempts, away, self.policy.budget)  # fmt: skip
            self._cancel.wait(wait)

    def cancel(self) -> None:
        """Stop a live source from another thread: an open or reconnect wait in progress ends within 0.1 s."""
        self._cancel.set()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
