"""Shared fixtures of the tracking tests: tiny videos written by PyAV, a tiny saved model, fake backends."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tpt_live.backend import Poses
from tpt_live.skeleton import NUM_JOINTS

PARTS = 18


def write_video(
    path: Path, frames: int = 30, width: int = 96, height: int = 64, fps: int = 30, codec: str = "libx264"
) -> Path:
    """A moving bright square on black, `frames` long (mjpeg in .mkv gives one packet per frame)."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=Fraction(fps))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    for i in range(frames):
        img = np.zeros((height, width, 3), np.uint8)
        x = (i * 3) % (width - 16)
        img[20:36, x : x + 16] = (255, 200, 100)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def tiny_model_file(directory: Path) -> Path:
    """A seeded 32x32 TptModel saved as a checkpoint."""
    import torch

    from tpt_live.checkpoint import save_model
    from tpt_live.model import ModelConfig, TptModel
    from tpt_live.template import load_template

    torch.manual_seed(0)
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16), hidden=16), load_template("tpose"))
    return save_model(model.eval(), directory / "tiny.safetensors")


class FakeBackend:
    """A PoseBackend whose keypoints are fixed model-input pixels; `delay` seconds per call (not per frame)."""

    name = "fake"
    precision = "fp32"
    model_name = "fake"
    model_digest = "0"
    template = None  # no part template: overlays draw the skeleton only
    framing = "frame"  # sees whole frames (no localiser unless asked)
    flip = False

    def __init__(self, input_size: int = 32, delay: float = 0.0, kp3d: bool = False) -> None:
        self.input_size, self.delay, self.with_3d = input_size, delay, kp3d
        self.calls: list[int] = []
        self.lifted = 0  # frames inferred with lift=True

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        assert frames.dtype == np.uint8 and frames.shape[1:] == (self.input_size, self.input_size, 3)
        self.calls.append(len(frames))
        self.lifted += len(frames) if lift else 0
        if self.delay:
            time.sleep(self.delay)
        b = len(frames)
        kp = np.tile(np.linspace(2, self.input_size - 3, NUM_JOINTS, dtype=np.float32)[:, None], (b, 1, 2))
        affines = np.tile(np.eye(2, 3, dtype=np.float32), (b, PARTS, 1, 1))
        kp3d = np.zeros((b, NUM_JOINTS, 3), np.float32) if self.with_3d and lift else None
        return Poses(affines, kp, np.full((b, NUM_JOINTS), 0.9, np.float32), kp3d)

    def close(self) -> None:
        pass
