"""Frames for the engines: the input check every backend applies, and frame sources for calibration
and parity checks (seeded random frames, a video file, an image folder, one photo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpt_live.errors import InputError, SourceError
from tpt_live.videoio import IMAGE_SUFFIXES, photo_files, read_image_folder, read_video


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


def random_frames(count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count, S, S, 3) uint8 seeded noise with smooth structure (not pure noise: the CNN sees edges)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, size // 8, size // 8, 3), dtype=np.uint8)
    frames = coarse.repeat(8, axis=1).repeat(8, axis=2)
    noise = rng.integers(-20, 21, frames.shape)
    return np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def read_frames(src: str | Path, size: int, limit: int = 256) -> np.ndarray:
    """Up to `limit` frames of a video file, an image folder or one photo, letterboxed into (S, S) RGB uint8.

    Returns (N, S, S, 3) uint8, N >= 1. A video is sampled evenly when it has more than `limit`
    frames; the whole frame is letterboxed (`tpt_live.crop.letterbox`), as the tracker's full-frame mode does.
    """
    path = Path(src)
    if photo_files(path) is not None:  # one photo or a folder of them (HEIC: as shown)
        frames = list(read_image_folder(path, size))
    elif path.is_file():
        frames = list(read_video(path, size))
    else:
        raise SourceError(f"frame source {src} is neither a video file nor an image folder")
    if not frames:
        raise SourceError(f"no decodable frames in {src}; pass a video or a folder of {IMAGE_SUFFIXES} images")
    return np.stack(frames[:: max(1, len(frames) // limit)][:limit])
