"""ONNX Runtime backend: runs a graph written by `engines.onnx_export` on CPU or CUDA.

A graph with a temporal lifter (inputs `kp_history`, `track_start`) gets the track's last W - 1 keypoint
rows from a `tpt_live.backend.KeypointHistory` kept here: the rows of successive `infer` calls are
consecutive frames of one subject, as in the PyTorch backend; `new_track()` forgets them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from engines.frames import check_frames
from tpt_live.backend import KeypointHistory, Poses
from tpt_live.checkpoint import file_digest
from tpt_live.errors import BackendUnavailable, InputError, ModelError
from tpt_live.localise import Locator
from tpt_live.template import Template

log = logging.getLogger(__name__)

REQUIRED_OUTPUTS = ("affines", "keypoints", "consistency")
OPTIONAL_OUTPUTS = ("kp3d",)  # a lifter's root-relative 3D joints, when the graph has one
HISTORY_INPUTS = ("kp_history", "track_start")  # engines.onnx_export.HISTORY_INPUTS: a temporal lifter's


def import_ort() -> ModuleType:
    """`onnxruntime`, or BackendUnavailable with the install hint."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(
            "ONNX Runtime is not installed: pip install onnxruntime (or onnxruntime-gpu for CUDA)"
        ) from exc
    return onnxruntime


def session_options(ort: ModuleType, threads: int | None) -> Any:
    """Options that let ONNX Runtime share the machine: no spinning threads (see docs/ENGINES.md).

    threads: intra-op threads; None lets ONNX Runtime use one per physical core.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads is not None:
        if threads < 1:
            raise InputError(f"threads {threads} must be >= 1")
        so.intra_op_num_threads = threads
    # spinning workers steal the cores of the decode / torch threads beside us (measured 3.5 -> 10 ms)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so


def _load_errors(ort: ModuleType) -> tuple[type[BaseException], ...]:
    """The exception types ONNX Runtime raises for unreadable or invalid graphs (pybind, not RuntimeError)."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("Fail", "InvalidGraph", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "RuntimeException")
    return (RuntimeError, *(getattr(state, n) for n in names if hasattr(state, n)))


def providers_for(ort: ModuleType, device: str) -> list[str]:
    """ONNX Runtime's execution providers for `device` (auto | cpu | cuda)."""
    available = ort.get_available_providers()
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise BackendUnavailable(
            f"ONNX Runtime has no CUDA provider here (has {available}): pip install onnxruntime-gpu"
        )
    if device not in ("cpu", "auto"):
        raise InputError(f"device {device!r} is not one of auto, cpu, cuda")
    return ["CPUExecutionProvider"]


def open_session(ort: ModuleType, path: Path, device: str, threads: int | None) -> Any:
    """An InferenceSession over the ONNX file `path` on `device`; ModelError when ONNX Runtime cannot load it."""
    providers = providers_for(ort, device)
    try:
        return ort.InferenceSession(str(path), session_options(ort, threads), providers=providers)
    except _load_errors(ort) as exc:
        raise ModelError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from exc


class OrtBackend:
    """A `tpt_live.backend.PoseBackend` over an ONNX file with named outputs (see engines.onnx_export)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        ort = import_ort()
        path = Path(path)
        if not path.is_file():
            raise InputError(f"ONNX file {path} does not exist")
        self.session = open_session(ort, path, device, threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        inputs = self.session.get_inputs()
        outputs = [o.name for o in self.session.get_outputs()]
        missing = [n for n in REQUIRED_OUTPUTS if n not in outputs]
        extra = tuple(i.name for i in inputs[1:])
        if not inputs or extra not in ((), HISTORY_INPUTS) or missing:
            names = [i.name for i in inputs]
            raise ModelError(
                f"{path}: not a tpt-live pose graph (inputs {names}, outputs {outputs}, missing {missing})"
            )
        self.input_name = inputs[0].name
        # a temporal lifter: the history of one track, (W - 1, J, 2) keypoint rows fed back into the graph
        self.history = KeypointHistory(int(inputs[1].shape[0]) + 1, int(inputs[1].shape[1])) if extra else None
        self.output_names = [n for n in outputs if n in REQUIRED_OUTPUTS + OPTIONAL_OUTPUTS]
        self.input_size = int(meta.get("input_size") or inputs[0].shape[1])
        self.keypoint_names: list[str] = json.loads(meta.get("keypoint_names", "[]"))
        self.precision = meta.get("precision", "fp32")
        self.model_name = meta.get("model_name", path.name)
        self.model_digest = meta.get("model_digest") or file_digest(path)
        self.metadata = meta
        self.template = Template.from_dict(json.loads(meta["template"])) if meta.get("template") else None
        self.framing = meta.get("framing") or "frame"
        self.flip = meta.get("flip") == "1"  # the graph averages each frame with its mirror image
        self.providers = self.session.get_providers()
        self._device, self._threads = device, threads
        log.debug("onnxruntime backend: %s with %s", path, self.providers)

    def open_localiser(self, path: str | Path | None = None) -> Locator:
        """The localiser file `path` (None: the shipped one) on this runtime and device (its ONNX export is
        cached like the model's; `engines.localiser_onnx`)."""
        from engines.localiser_onnx import OrtLocaliser, onnx_for_localiser

        return OrtLocaliser(onnx_for_localiser(path), self._device, self._threads)

    def new_track(self) -> None:
        """Forget the subject's history (a temporal lifter's window): the next frame starts a new track."""
        if self.history is not None:
            self.history.reset()

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        """frames: (B, S, S, 3) uint8 RGB -> Poses in model-input pixels (x=col, y=row); lift: `PoseBackend.infer`."""
        frames = check_frames(frames, self.input_size)
        feed = {self.input_name: frames}
        if self.history is not None:
            feed |= dict(zip(HISTORY_INPUTS, self.history.inputs(), strict=True))
        values = self.session.run(self.output_names, feed)
        out = dict(zip(self.output_names, values, strict=True))
        if self.history is not None and lift:
            self.history.push(out["keypoints"])
        return Poses(
            affines=out["affines"],
            keypoints=out["keypoints"],
            consistency=out["consistency"],
            kp3d=out.get("kp3d") if lift else None,
        )

    def close(self) -> None:
        """Release the session."""
        del self.session
