"""Frames for the engines: the input check every backend applies, and frame sources for calibration
and parity checks (seeded random frames, a video file, an image folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpt_live.errors import InputError, SourceError


def check_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Validate a batch and return it C-contiguous.

    frames: (B, S, S, 3) uint8 RGB, S = `size`; a single (S, S, 3) frame is not accepted (add the batch
    axis with `frames[None]`), so that a caller never gets a silently broadcast result.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        kind = getattr(frames, "dtype", type(frames).__name__)
        raise InputError(f"frames must be a uint8 numpy array, got {kind}; convert with np.asarray(x, np.uint8)")
    if frames.ndim != 4 or frames.shape[1:] != (size, size, 3) or frames.shape[0] < 1:
        raise InputError(f"frames must be (B, {size}, {size}, 3) RGB, got {frames.shape}; resize to the model input")
    return np.ascontiguousarray(frames)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def random_frames(count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count, S, S, 3) uint8 seeded noise with smooth structure (not pure noise: the CNN sees edges)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, size // 8, size // 8, 3), dtype=np.uint8)
    frames = coarse.repeat(8, axis=1).repeat(8, axis=2)
    noise = rng.integers(-20, 21, frames.shape)
    return np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def read_frames(src: str | Path, size: int, limit: int = 256) -> np.ndarray:
    """Up to `limit` frames of a video file or an image folder, resized to (S, S) RGB uint8.

    Returns (N, S, S, 3) uint8, N >= 1. A video is sampled evenly when it has more than `limit`
    frames; the whole frame is resized (no crop), as the tracker's full-frame mode does.
    """
    path = Path(src)
    if path.is_dir():
        frames = _read_images(path, size, limit)
    elif path.is_file():
        frames = _read_video(path, size, limit)
    else:
        raise SourceError(f"frame source {src} is neither a video file nor an image folder")
    if not frames:
        raise SourceError(f"no decodable frames in {src}; pass a video or a folder of {IMAGE_SUFFIXES} images")
    return np.stack(frames)


def _read_video(path: Path, size: int, limit: int) -> list[np.ndarray]:
    import av  # PyAV; resizing in the decoder is 10x cheaper than cv2.resize on the full frame

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            total = stream.frames or 0
            step = max(1, total // limit) if total else 1
            out: list[np.ndarray] = []
            for i, frame in enumerate(container.decode(stream)):
                if i % step:
                    continue
                small = frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA")
                out.append(small.to_ndarray())
                if len(out) >= limit:
                    break
            return out
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise SourceError(f"cannot decode video {path}: {exc}") from exc


def _read_images(folder: Path, size: int, limit: int) -> list[np.ndarray]:
    import cv2

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    step = max(1, len(files) // limit)
    out = []
    for f in files[::step][:limit]:
        image = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot read image {f}")
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    return out
