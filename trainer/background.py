"""Per-scene background estimate and the foreground weight of the reconstruction loss.

On real footage the decoder can explain most of the pose frame by copying the appearance frame's
background: the loss then barely depends on the warped template and the keypoints stay at the template
("only vary a little"). With a static camera the background is what every frame shares, so it can be
estimated per scene and taken out of the loss: the weight is 0 where a frame equals the background and
rises to 1 where it differs (the subject, wherever it is in either frame of the pair).

The estimate is the per-pixel median of frames spread evenly over the *whole* clip, so a subject that lies
still for a while (less than half of the spread frames) does not become background; a subject that never
moves in the whole clip does, and then gives no training signal either (its pairs show no motion).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import Tensor


def estimate_background(frames: np.ndarray, samples: int = 64) -> np.ndarray:
    """Per-pixel median of up to `samples` frames spread evenly over the clip.

    frames: (N, S, S, 3) uint8 RGB -> (S, S, 3) uint8.
    """
    index = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), samples)).round().astype(int))
    return np.median(frames[index], axis=0).round().astype(np.uint8)


def static_share(frames: np.ndarray, background: np.ndarray, threshold: float = 0.06, samples: int = 16) -> float:
    """Share of pixels that match the background in frames spread over the clip (1.0: nothing moves).

    A low share (e.g. < 0.5) means the camera moves or the light changes: pairs then do not share a
    background and the method's assumption fails.
    """
    index = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), samples)).round().astype(int))
    diff = np.abs(frames[index].astype(np.int16) - background.astype(np.int16)).max(-1) / 255.0
    return float((diff <= threshold).mean())


def foreground_weight(image: Tensor, background: Tensor, threshold: float = 0.06, soft: float = 0.04) -> Tensor:
    """Where `image` differs from the background: 0 on the background, 1 on the subject.

    image, background: (B, 3, S, S) float in [0, 1] -> (B, 1, S, S) float in [0, 1]. The largest channel
    difference d gives clamp((d - threshold) / soft, 0, 1): differences up to `threshold` (compression
    noise) weigh exactly 0, differences of threshold + soft or more weigh 1. One pixel of dilation keeps
    the subject's outline in.
    """
    diff = (image - background).abs().amax(1, keepdim=True)
    weight = ((diff - threshold) / soft).clamp(0, 1)
    return F.max_pool2d(weight, 3, stride=1, padding=1)


def pair_weight(pose: Tensor, appearance: Tensor, background: Tensor, threshold: float = 0.06) -> Tensor:
    """Loss weight of a pair: the subject in the pose frame or in the appearance frame (B, 1, S, S).

    The pose frame's subject is what the template must explain; where the appearance frame's subject was
    and the pose frame shows background, the decoder must not paint a body: both regions carry signal.
    """
    return foreground_weight(pose, background, threshold).maximum(foreground_weight(appearance, background, threshold))
