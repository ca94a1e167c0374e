"""`tpt-live export`: compile a checkpoint to ONNX or a TensorRT engine, then check it against PyTorch.

The check runs the new artefact and the PyTorch reference (fp32) on the same frames and compares
keypoints in model-input pixels. Tolerances per precision (max over frames and joints of the Euclidean
keypoint distance):

- fp32: 0.05 px. ONNX Runtime and TensorRT FP32 reorder float sums only (measured about 1e-5 px).
- fp16: 0.5 px. The CNN runs in half precision (10-bit mantissa); affine translations are scaled by S,
  so rounding of the head's output shows at roughly 1e-3 * S px (0.13 px at S = 128).
- int8: 2.0 px. Quantised activations move keypoints by about a pixel on 128 px inputs; larger
  differences mean bad calibration frames (use footage like the footage to be tracked).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.frames import random_frames, read_frames
from tpt_live.backend import PoseBackend
from tpt_live.checkpoint import resolve_model_file
from tpt_live.errors import InputError, ModelError

log = logging.getLogger(__name__)

TOLERANCE_PX = {"fp32": 0.05, "fp16": 0.5, "bf16": 0.5, "int8": 2.0}
FORMATS = ("onnx", "tensorrt")
CHECK_FRAMES = 16  # frames in the parity check


@dataclass(frozen=True)
class ExportRequest:
    """One `tpt-live export` invocation, validated."""

    model: Path  # checkpoint (.safetensors)
    format: str  # "onnx" | "tensorrt"
    out: Path  # where the artefact goes
    precision: str = "fp32"  # "fp32" | "fp16" | "int8" (fp16/int8: TensorRT only)
    batch: tuple[int, int, int] = (1, 8, 32)  # TensorRT optimisation profile min, opt, max
    workspace_gb: float = 2.0  # TensorRT builder workspace limit
    calib: Path | None = None  # INT8 calibration frames: video file, image folder or one photo
    check: Path | None = None  # parity-check frames (default: calib, else seeded random frames)
    flip: bool = False  # ONNX only: test-time flip averaging in the graph (`TptModel.regress`)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"--format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.model.suffix != ".safetensors":
            raise InputError(f"--model {self.model} must be a .safetensors checkpoint to export from")
        if self.format == "onnx" and self.precision != "fp32":
            raise InputError("--fp16/--int8 apply to --format tensorrt; the ONNX graph is fp32")
        if self.flip and self.format != "onnx":
            raise InputError("--flip applies to --format onnx; TensorRT engines are built without it")
        if self.precision == "int8" and self.calib is None:
            raise InputError("--int8 needs --calib VIDEO_OR_IMAGE_FOLDER (frames like those to be tracked)")
        for name, path in (("--calib", self.calib), ("--check", self.check)):
            if path is not None and not path.exists():
                raise InputError(f"{name} {path}: no such file or folder")
        if self.format == "onnx" and self.out.suffix != ".onnx":
            raise InputError(f"--out {self.out} should end in .onnx for --format onnx")
        if self.format == "tensorrt" and self.out.suffix not in (".engine", ".plan"):
            raise InputError(f"--out {self.out} should end in .engine or .plan for --format tensorrt")


@dataclass(frozen=True)
class ParityRow:
    """One line of the check table."""

    backend: str  # backend.name
    precision: str  # backend.precision
    max_px: float  # max keypoint distance to the PyTorch fp32 reference, model-input pixels
    ms_per_frame: float  # mean over the timed runs, check batch
    tolerance_px: float | None  # None for the reference row


def resolve_model(model: str | Path | None) -> Path:
    """The checkpoint to export (None = the shipped model), which must exist."""
    return resolve_model_file(model)


def export(req: ExportRequest) -> Path:
    """Write the artefact of `req` and return its path (TensorRT: also cached, see engine_cache)."""
    if req.format == "onnx":
        from engines.onnx_export import export_onnx

        return export_onnx(req.model, req.out, flip=req.flip)
    from engines import onnx_for_checkpoint
    from engines.trt_build import BuildSpec, build_engine, import_tensorrt

    import_tensorrt()  # fail in one line before spending time on the ONNX export
    spec = BuildSpec(precision=req.precision, batch=req.batch, workspace_gb=req.workspace_gb)
    out, _ = build_engine(onnx_for_checkpoint(req.model), req.out, spec, calib_src=req.calib)
    return out


def check_frames_for(req: ExportRequest, size: int) -> np.ndarray:
    """Parity-check frames: --check, else --calib, else seeded random frames."""
    src = req.check or req.calib
    frames = read_frames(src, size, limit=CHECK_FRAMES) if src is not None else random_frames(CHECK_FRAMES, size)
    return frames


def time_backend(backend: PoseBackend, frames: np.ndarray, repeats: int = 3) -> tuple[np.ndarray, float]:
    """(keypoints (N, J, 2), ms per frame): one warm-up call, then the mean of `repeats` timed calls."""
    keypoints = backend.infer(frames).keypoints
    start = time.perf_counter()
    for _ in range(repeats):
        backend.infer(frames)
    return keypoints, (time.perf_counter() - start) / (repeats * len(frames)) * 1000


def max_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Max Euclidean distance between keypoint arrays (..., 2), pixels."""
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum(-1)).max())


def parity(req: ExportRequest, artefact: Path) -> list[ParityRow]:
    """Run PyTorch fp32 and the exported artefact on the same frames; the reference row first."""
    from engines import open_backend

    reference = open_backend(req.model, backend="torch", precision="fp32", flip=req.flip)
    try:
        frames = check_frames_for(req, reference.input_size)
        ref_kp, ref_ms = time_backend(reference, frames)
    finally:
        reference.close()
    backend = open_backend(artefact)
    try:
        kp, ms = time_backend(backend, frames)
        precision = backend.precision
    finally:
        backend.close()
    return [
        ParityRow("torch", "fp32", 0.0, ref_ms, None),
        ParityRow(backend.name, precision, max_distance(kp, ref_kp), ms, TOLERANCE_PX.get(precision, 2.0)),
    ]


def check_parity(rows: list[ParityRow]) -> None:
    """ModelError when a row exceeds its tolerance."""
    for row in rows:
        if row.tolerance_px is not None and not row.max_px <= row.tolerance_px:
            raise ModelError(
                f"{row.backend} {row.precision} keypoints differ from PyTorch by {row.max_px:.3f} px "
                f"(tolerance {row.tolerance_px} px); the export is not trustworthy"
            )
