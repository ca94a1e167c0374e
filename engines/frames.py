"""Input checks shared by every backend: what a batch of frames must look like."""

from __future__ import annotations

import numpy as np

from tpt_live.errors import InputError


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
