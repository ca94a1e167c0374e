"""The inference seam: what the tracker needs from any runtime (PyTorch, ONNX Runtime, TensorRT).

Defined here, next to its consumers; `engines/` implements it, one class per backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tpt_live.skeleton import NUM_JOINTS
from tpt_live.template import Template

PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # every precision a runtime may offer (each backend: a subset)


@dataclass
class Poses:
    """Poses of a batch, in model-input pixels of an S x S frame (x=col, y=row, pixel centres at integers)."""

    affines: np.ndarray  # (B, K, 2, 3) float32, template -> image
    keypoints: np.ndarray  # (B, J, 2) float32
    consistency: np.ndarray  # (B, J) float32 in (0, 1]
    kp3d: np.ndarray | None = None  # (B, J, 3) float32 root-relative, when a lifter is present


class PoseBackend(Protocol):
    """A loaded model on one runtime."""

    name: str  # "torch", "onnxruntime", "tensorrt"
    precision: str  # "fp32", "fp16", "bf16", "int8"
    input_size: int  # S
    model_name: str  # file name or "default"
    model_digest: str  # short hash of the weights file
    template: Template | None  # the part template (overlay ellipses); None when the file does not carry it
    framing: str  # what the model expects to see: "frame" or "located" (`ModelConfig.framing`)
    flip: bool  # each frame's pose is averaged with its mirror image's (`TptModel.regress`, `track --flip`)

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        """frames: (B, S, S, 3) uint8 RGB -> Poses. lift=False: no 3D (kp3d None), and a temporal lifter's history
        stays as it was: for a second look at frames that are lifted in another call (`track --refine`)."""
        ...

    def close(self) -> None:
        """Release the runtime."""
        ...

    # Optional: `new_track()` forgets per-subject state (a temporal lifter's window, in every backend);
    # the Tracker calls it, when present, before its first frame. `open_localiser(path)` returns the
    # localisation stage on the backend's own runtime (`tpt_live.localise.Locator`); without it the Tracker
    # locates in PyTorch.


class KeypointHistory:
    """The last W - 1 keypoint rows (pixels) of one track, the history input of `tpt_live.lifter.WindowLift`
    (and of the exported graph): one per backend, as the `Tracker` feeds it one subject; `reset()` starts a new track.

    `inputs()` gives (history (W - 1, J, 2) float32, start (1,) float32); `push(kp)` appends the rows of a
    call (B, J, 2) after it ran. Numpy and here, not in `tpt_live.lifter`, so that the ONNX Runtime and
    TensorRT backends keep it without PyTorch, as `tpt_live.lifter.LiftStream` does.
    """

    def __init__(self, window: int, joints: int = NUM_JOINTS) -> None:
        self.window = window
        self.joints = joints
        self.rows: np.ndarray | None = None

    def reset(self) -> None:
        self.rows = None

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self.rows is None:
            return np.zeros((self.window - 1, self.joints, 2), np.float32), np.ones(1, np.float32)
        return self.rows, np.zeros(1, np.float32)

    def push(self, kp: np.ndarray) -> None:
        kp = np.asarray(kp, np.float32)
        if not len(kp):
            return
        before = self.rows if self.rows is not None else np.repeat(kp[:1], self.window - 1, 0)
        self.rows = np.ascontiguousarray(np.concatenate([before, kp])[len(kp) :])
