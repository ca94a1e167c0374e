"""The monitor's handedness model: a second 2D model whose left/right says when a prone infant's back is shown.

The shipped file is scored on located crops of fresh synthetic scenes (seeds it was not trained on): its signed
width shows the back on prone bodies and the front on supine ones, where the shipped default model's does not
(it reads a prone baby as a mirrored supine one, docs/MONITOR.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.localise import body_axis
from tpt_live.monitor.posture import BACK_2D, signed_width_2d
from tpt_live.synth import SynthConfig, render_clip
from trainer.part_pretrain import located_sample


def located_crops(pose: str, scenes: int = 12, seed: int = 424242) -> np.ndarray:
    """(N, 128, 128, 3) RGB located crops (exact body axis) of `scenes` wide-world scenes lying `pose`."""
    crops = []
    for i in range(scenes):
        look = "varied" if i % 2 else "plain"
        clip = render_clip(
            SynthConfig(320, 240, frames=2, fps=1.0, seed=seed, index=i, pose=pose, world="wide", look=look)
        )
        for frame, rec in zip(clip.frames, clip.gt["frames"], strict=True):
            kp = np.asarray(rec["kp2d"], np.float64)
            crops.append(located_sample(frame, kp, body_axis(kp), 128)[0])
    return np.stack(crops)


def widths(model: str, crops: np.ndarray) -> np.ndarray:
    import engines

    backend = engines.open_backend(model, backend="torch", device="cpu")
    try:
        return np.array([signed_width_2d(kp) for kp in backend.infer(crops).keypoints])
    finally:
        backend.close()


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    return {pose: located_crops(pose) for pose in ("prone", "supine")}


def test_the_shipped_handedness_model_shows_a_prone_back_and_a_supine_front(crops) -> None:
    """Per frame (the monitor votes over 2 s): the sign is right on most prone frames and the back clears
    BACK_2D on most of them (measured: 79% and 62% of 24 frames; the misses are in the varied look); a supine
    front never does."""
    prone, supine = widths("handedness", crops["prone"]), widths("handedness", crops["supine"])
    assert np.mean(prone > 0) >= 0.7 and np.mean(prone >= BACK_2D) >= 0.5, prone.round(2)
    assert np.median(prone) >= BACK_2D and np.median(supine) < -BACK_2D, (prone.round(2), supine.round(2))
    assert np.mean(supine >= BACK_2D) == 0.0, supine.round(2)


def test_the_shipped_default_model_reads_a_prone_back_as_a_front(crops) -> None:
    """Why the monitor runs a second model: the default's handedness never shows the back."""
    prone = widths("default", crops["prone"])
    assert np.median(prone) < 0 and np.mean(prone >= BACK_2D) <= 0.1, prone.round(2)
