"""Small PyAV helpers: write H.264 (yuv420p) MP4 files deterministically and read RGB frames.

Frames are (H, W, 3) uint8 RGB arrays, rows top to bottom.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tpt_live.errors import InputError, SourceError

log = logging.getLogger(__name__)


def _rate(fps: float) -> Fraction:
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"bad fps {fps}: use a positive frame rate, e.g. 30")
    return Fraction(fps).limit_denominator(1001)


def write_video(
    path: Path | str, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int], crf: int = 18
) -> int:
    """Encode `frames` (each (H, W, 3) uint8 RGB, size = (W, H)) to an H.264 yuv420p MP4 at `path`.

    The encoder runs single-threaded with bit-exact muxing and without x264's macroblock tree (with it,
    122 of 300 encodes of the same 8 frames in one process came out different), so the same frames give the
    same bytes.
    Width and height must be even (yuv420p). Returns the number of frames written.
    """
    width, height = size
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise InputError(f"bad video size {width}x{height}: H.264 yuv420p needs even width and height")
    rate = _rate(fps)
    count = 0
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1", "x264-params": "threads=1:mbtree=0"}
        for frame in frames:
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise InputError(f"bad frame {frame.shape} {frame.dtype}: expected ({height}, {width}, 3) uint8 RGB")
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            video_frame.pts = count
            for packet in stream.encode(video_frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode(None):
            container.mux(packet)
    log.debug("wrote %d frames to %s", count, path)
    return count


# File kinds every command recognises (tracking, training, calibration), lower-case suffixes.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".ts", ".mpg", ".mpeg", ".wmv", ".flv"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def read_video(path: Path | str, size: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame as (H, W, 3) uint8 RGB arrays.

    With `size`, every whole frame is resized to (size, size) in the decoder (swscale, area), which is
    several times cheaper than resizing decoded frames in Python. Raises `SourceError` when the file
    is missing or cannot be decoded.
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
                    yield frame.to_ndarray(format="rgb24")
                else:
                    yield frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA").to_ndarray()
        except av.FFmpegError as exc:
            raise SourceError(f"cannot decode video {path} ({exc}): the file may be truncated") from exc


def read_image_folder(folder: Path | str, size: int | None = None) -> Iterator[np.ndarray]:
    """The images of a folder, sorted by name, as (H, W, 3) uint8 RGB (resized to size x size, area)."""
    import cv2

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for f in files:
        image = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot read image {f}")
        if size is not None:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
