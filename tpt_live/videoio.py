"""Small PyAV helpers: the one H.264 (yuv420p) MP4 encoder, deterministic writes, and reading RGB frames.

Frames are (H, W, 3) uint8 RGB arrays, rows top to bottom, the way up the file says they are shown: a phone's
portrait clip stored landscape with a display matrix is turned upright (`upright`), as players, OpenCV and
annotation tools show it; photos are read with OpenCV, which applies their EXIF orientation.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from tpt_live.crop import letterbox, paste
from tpt_live.errors import InputError, SourceError

log = logging.getLogger(__name__)


def _rate(fps: float) -> Fraction:
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"bad fps {fps}: use a positive frame rate, e.g. 30")
    return Fraction(fps).limit_denominator(1001)


LARGE_FRAME = 1920 * 1088  # pixels; larger videos get a 5-frame x264 look-ahead (memory, see docs/TRACKING.md)


class H264Encoder:
    """The one H.264 (libx264, yuv420p) MP4 encoder: frames in, packets muxed, `close()` flushes.

    exact=True: single-threaded, bit-exact muxing and no macroblock tree (with it, 122 of 300 encodes of
    the same 8 frames in one process came out different), so the same frames give the same bytes (synth,
    evidence clips). exact=False: x264's own threading and `preset` (overlay videos). Frames are
    (height, width, 3) uint8 in `pixel_format` (rgb24 or bgr24); width and height must be even; `pts` is in
    `time_base` units (default 1 / fps).
    """

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: float,
        crf: int = 18,
        preset: str = "medium",
        exact: bool = True,
        time_base: Fraction | None = None,
        pixel_format: str = "rgb24",
    ) -> None:
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise InputError(f"bad video size {width}x{height}: H.264 yuv420p needs even width and height")
        rate = _rate(fps)
        self.width, self.height, self.pixel_format = width, height, pixel_format
        options = {"fflags": "+bitexact"} if exact else {}
        container_format = None if Path(path).suffix.lower() in (".mkv", ".mov") else "mp4"
        self._container = av.open(str(path), mode="w", format=container_format, options=options)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        stream.options = {"crf": str(crf), "preset": preset}
        if exact:
            stream.codec_context.thread_count = 1
            stream.codec_context.flags |= av.codec.context.Flags.bitexact
            stream.options = {**stream.options, "threads": "1", "x264-params": "threads=1:mbtree=0"}
        elif width * height > LARGE_FRAME:  # x264 holds ~15 MB per look-ahead frame at 4K
            stream.options = {**stream.options, "x264-params": "rc-lookahead=5"}
        self._stream, self._time_base = stream, time_base

    def encode(self, frame: np.ndarray, pts: int) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise InputError(f"bad frame {frame.shape} {frame.dtype}: expected ({self.height}, {self.width}, 3) uint8")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=self.pixel_format)
        video_frame.pts = pts
        if self._time_base is not None:
            video_frame.time_base = self._time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self, flush: bool = True) -> None:
        """Flush the encoder (unless `flush` is False, after an encoder error) and finish the file."""
        try:
            if flush:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()


def write_video(
    path: Path | str, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int], crf: int = 18
) -> int:
    """Encode `frames` (each (H, W, 3) uint8 RGB, size = (W, H)) to an H.264 yuv420p MP4 at `path`, bit-exact
    (`H264Encoder` with exact=True: the same frames give the same bytes). Returns the number of frames written.
    """
    width, height = size
    encoder = H264Encoder(path, width, height, fps, crf=crf)
    count = 0
    ok = False
    try:
        for frame in frames:
            encoder.encode(frame, count)
            count += 1
        ok = True
    finally:
        encoder.close(flush=ok)
    log.debug("wrote %d frames to %s", count, path)
    return count


# File kinds every command recognises (tracking, training, calibration), lower-case suffixes.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".ts", ".mpg", ".mpeg", ".wmv", ".flv"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})  # phone photos (iPhones by default): read with pi-heif (libheif)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}) | HEIF_SUFFIXES


def video_fps(path: Path | str) -> float | None:
    """Average frame rate of the first video stream (None when the container does not say)."""
    try:
        with av.open(str(path)) as c:
            rate = c.streams.video[0].average_rate
    except (av.FFmpegError, IndexError):
        return None
    return float(rate) if rate else None


def transcode(src: Path | str, dst: Path | str, change: Callable[[np.ndarray], np.ndarray], crf: int = 18) -> int:
    """Re-encode the video `src` as `dst` (`write_video`, its own frame rate, 30 where the container gives none)
    with every frame passed through `change` ((H, W, 3) uint8 RGB -> (H', W', 3), one size for all), streamed
    frame by frame. Returns the width of the frames written; a video without frames is an InputError."""
    frames = (change(f) for f in read_video(src))
    first = next(frames, None)
    if first is None:
        raise InputError(f"{src}: no frames")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    size = (first.shape[1], first.shape[0])
    write_video(dst, itertools.chain([first], frames), video_fps(src) or 30.0, size, crf=crf)
    return size[0]


def display_turns(frame: av.VideoFrame) -> int:
    """Clockwise quarter turns (0-3) that show `frame` the way up its file says: FFmpeg reads a video's display
    matrix into `frame.rotation` (degrees counter-clockwise; PyAV >= 14). A matrix FFmpeg cannot read as a turn
    (all zero) or one that mirrors (which `rotation` would call a half turn; phones write none) leaves the frame as
    stored. Photos are read with OpenCV instead, which applies their EXIF orientation, mirrors included
    (`tpt_live.track.sources`)."""
    rotation = float(getattr(frame, "rotation", 0) or 0)
    if not (np.isfinite(rotation) and abs(rotation) <= 360) or (rotation and _mirrored(frame)):
        return 0
    return round(-rotation / 90) % 4


def _mirrored(frame: av.VideoFrame) -> bool:
    """Whether the frame's display matrix (FFmpeg's int32 [a b u; c d v; x y w]) mirrors it: a d - b c < 0."""
    try:
        matrix = frame.side_data.get("DISPLAYMATRIX")
        if matrix is None:
            return False
        raw: Any = matrix  # PyAV's side-data type differs between releases; it is a buffer in each
        a, b, _, c, d = struct.unpack("=5i", memoryview(raw).tobytes()[:20])
    except (ValueError, KeyError, AttributeError, TypeError, struct.error):  # side data PyAV cannot name
        return False
    return a * d - b * c < 0


def upright_size(frame: av.VideoFrame, turns: int | None = None) -> tuple[int, int]:
    """(width, height) of `frame` shown after `turns` clockwise quarter turns (default: `display_turns`)."""
    turns = display_turns(frame) if turns is None else turns
    return (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)


def upright(
    frame: av.VideoFrame, fmt: str = "rgb24", width: int | None = None, height: int | None = None,
    turns: int | None = None,
) -> np.ndarray:  # fmt: skip
    """`frame` as an (H, W, 3) array after `turns` clockwise quarter turns (default: `display_turns`, the way up it
    is shown); `width` x `height` (of the turned picture), when given, resize it in the decoder (swscale, area)
    before the turn."""
    turns = display_turns(frame) if turns is None else turns
    if width is None or height is None:
        array = frame.to_ndarray(format=fmt)
    else:
        w, h = (height, width) if turns % 2 else (width, height)
        array = frame.to_ndarray(width=w, height=h, format=fmt, interpolation="AREA")
    return cv2.rotate(array, _CLOCKWISE[turns % 4]) if turns % 4 else array


_CLOCKWISE = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}


def read_video(path: Path | str, size: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame as (H, W, 3) uint8 RGB arrays, the way up it is shown (`upright`).

    With `size`, every whole frame is letterboxed into (size, size) in the decoder (`tpt_live.crop.letterbox`:
    one scale for both axes, black bars on the short side; swscale, area), exactly as `tpt-live track`
    makes its full-frame input, and several times cheaper than resizing decoded frames in Python.
    Raises `SourceError` when the file is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"video file not found: {path}: check the path")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise SourceError(f"cannot open video {path} ({exc}): is it a video file?") from exc
    with container:
        if not container.streams.video:
            raise SourceError(f"no video stream in {path}: give a video file")
        container.streams.video[0].thread_type = "AUTO"
        try:
            for frame in container.decode(video=0):
                if size is None:
                    yield upright(frame)
                else:
                    p = letterbox(*upright_size(frame), size)
                    yield paste(upright(frame, "rgb24", p.scaled_w, p.scaled_h), p, size)
        except av.FFmpegError as exc:
            raise SourceError(f"cannot decode video {path} ({exc}): the file may be truncated") from exc


def photo_files(path: Path) -> list[Path] | None:
    """The photos `path` names: itself when it is one (`IMAGE_SUFFIXES`), a folder's photos sorted by name (maybe
    none), or None when it is neither a folder nor a photo."""
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return None


def read_image_folder(folder: Path | str, size: int | None = None) -> Iterator[np.ndarray]:
    """The images of a folder, sorted by name, as (H, W, 3) uint8 RGB (letterboxed into size x size, area); a
    single photo's path reads that photo alone."""
    files = photo_files(Path(folder))
    if files is None:
        raise SourceError(f"{folder} is neither an image folder nor a photo")
    if not files:
        raise SourceError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for f in files:
        image = read_image(f)
        if image is None:
            raise SourceError(f"cannot read image {f}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if size is not None:
            p = letterbox(image.shape[1], image.shape[0], size)
            image = paste(cv2.resize(image, (p.scaled_w, p.scaled_h), interpolation=cv2.INTER_AREA), p, size)
        yield image


def read_image(path: Path | str, as_stored: bool = False) -> np.ndarray | None:
    """(H, W, 3) uint8 BGR pixels of a photo as it is shown: turned and mirrored as its EXIF orientation says
    (OpenCV), or for HEIF (`HEIF_SUFFIXES`) as its own transforms say (libheif, through pi-heif: colour brought to
    8 bits by it, 16-bit grey here; alpha dropped); None where the file cannot be read. `as_stored` ignores the EXIF
    orientation (HEIF: no effect, pi-heif always applies the transforms)."""
    if Path(path).suffix.lower() not in HEIF_SUFFIXES:
        return cv2.imread(str(path), cv2.IMREAD_COLOR | (cv2.IMREAD_IGNORE_ORIENTATION if as_stored else 0))
    import pi_heif

    try:
        heif = pi_heif.open_heif(str(path), convert_hdr_to_8bit=True, bgr_mode=True)
        pixels = np.array(heif)  # a copy: the array interface points into `heif`'s buffer, freed with it
    except (ValueError, EOFError, SyntaxError, RuntimeError, OSError):
        return None
    if pixels.dtype == np.uint16:  # grey pictures of 10-12 bits come as 16 bits (colour ones are brought to 8)
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        return None
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return cv2.cvtColor(pixels.reshape(pixels.shape[:2]), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(pixels[..., :3])


def read_photo(file: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB pixels of an annotated photo, turned as its EXIF orientation says, unless `size` (the annotation file's
    width, height) is that of the picture as stored and not as shown (a quarter turn, unequal sides): then as
    stored. A half turn, a mirror or a square photo is the same size both ways, so it is read as shown."""
    image = read_image(file)
    if image is None:
        raise InputError(f"cannot read image {file}")
    h, w = image.shape[:2]
    transposed = size is not None and (w, h) != size and (h, w) == size
    if transposed and Path(file).suffix.lower() in HEIF_SUFFIXES:  # pi-heif reads it as shown only
        log.warning("%s: the annotation file gives its stored size; a HEIF photo is read as shown", file)
    elif transposed:
        stored = read_image(file, as_stored=True)
        if stored is not None and (stored.shape[1], stored.shape[0]) == size:
            image = stored
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


_HEAP_BOUNDED = False
MMAP_THRESHOLD = 4 * 2**20  # bytes: blocks at least this big (a 1080p or 4K frame) come from mmap


def bound_frame_heap() -> None:
    """Keep full-resolution frame buffers out of malloc's heaps, so their memory is returned when freed.

    glibc raises its mmap threshold to the largest block freed (up to 32 MiB); after the first 4K frame
    (25 MB) is freed, every later frame is carved from per-thread heaps that fragment and never shrink
    (about 350 MB more peak memory for 4K tracking with --save-video, see docs/TRACKING.md). Fixing the
    threshold keeps such blocks in mmap. Called once per process; a no-op off glibc.
    """
    global _HEAP_BOUNDED
    if _HEAP_BOUNDED:
        return
    _HEAP_BOUNDED = True
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # musl or another libc without mallopt
        log.debug("mallopt unavailable: frame buffers use the default allocator policy")
