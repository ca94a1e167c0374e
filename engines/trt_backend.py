"""TensorRT backend: runs a serialized engine built by `engines.trt_build` on a CUDA GPU.

Buffers are torch CUDA tensors (torch is already a dependency), bound by name with
`set_tensor_address` and run with `execute_async_v3` on a private stream. Batches larger than the
engine's optimisation profile allows are split into chunks.

An engine built from a graph with a temporal lifter (inputs `kp_history`, `track_start`, see
engines.onnx_export) gets the track's last keypoint rows from a `tpt_live.backend.KeypointHistory`, chunk
after chunk, as the ONNX Runtime and PyTorch backends; `new_track()` forgets them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engines.engine_cache import env_mismatch, read_sidecar, sidecar_field
from engines.frames import check_frames
from engines.trt_build import import_tensorrt, probe_env, trt_logger
from tpt_live.backend import KeypointHistory, Poses
from tpt_live.checkpoint import file_digest
from tpt_live.errors import InputError, ModelError
from tpt_live.template import Template

log = logging.getLogger(__name__)

REQUIRED_OUTPUTS = ("affines", "keypoints", "consistency")
HISTORY_INPUTS = ("kp_history", "track_start")  # engines.onnx_export.HISTORY_INPUTS: a temporal lifter's


class TrtBackend:
    """A `tpt_live.backend.PoseBackend` over a TensorRT engine file (.engine / .plan)."""

    name = "tensorrt"

    def __init__(self, path: str | Path, device: int = 0) -> None:
        trt = import_tensorrt()
        import torch

        path = Path(path)
        if not path.is_file():
            raise InputError(f"engine file {path} does not exist")
        env = probe_env(device)
        stale = env_mismatch(path, env)
        if stale:
            raise ModelError(stale)
        self.torch = torch
        self.device = torch.device("cuda", device)
        self.logger = trt_logger(trt)
        self.runtime = trt.Runtime(self.logger)
        with torch.cuda.device(self.device):
            self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
            if self.engine is None:
                raise ModelError(f"TensorRT cannot load {path} (built by another TensorRT version or GPU?)")
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in inputs]
        missing = [n for n in REQUIRED_OUTPUTS if n not in self.outputs]
        extra = tuple(n for n in inputs if n in HISTORY_INPUTS)
        if len(inputs) != 1 + len(extra) or extra not in ((), HISTORY_INPUTS) or missing:
            raise ModelError(f"{path}: not a tpt-live pose engine (tensors {names}, missing {missing})")
        self.input_name = next(n for n in inputs if n not in HISTORY_INPUTS)
        self.history: KeypointHistory | None = None
        if extra:  # a temporal lifter: (W - 1, J, 2) keypoint rows of the track fed back in
            w1, joints, _ = self.engine.get_tensor_shape("kp_history")
            self.history = KeypointHistory(int(w1) + 1, int(joints))
        self.dtypes = {n: _torch_dtype(torch, trt.nptype(self.engine.get_tensor_dtype(n))) for n in self.outputs}
        self.input_size = int(self.engine.get_tensor_shape(self.input_name)[1])
        lo, _, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.batch_range = (int(lo[0]), int(hi[0]))
        key = read_sidecar(path)
        self.precision = key.precision if key else "unknown"
        self.model_digest = key.model_digest if key else file_digest(path)
        self.model_name = path.name
        template = sidecar_field(path, "template")
        self.template = Template.from_dict(json.loads(template)) if template else None
        self.framing = sidecar_field(path, "framing") or "frame"
        self.flip = False  # engines are built without flip averaging (`open_backend` refuses --flip here)
        log.debug("tensorrt backend: %s, batch %s, outputs %s", path, self.batch_range, self.outputs)

    def new_track(self) -> None:
        """Forget the subject's history (a temporal lifter's window): the next frame starts a new track."""
        if self.history is not None:
            self.history.reset()

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        """frames: (B, S, S, 3) uint8 RGB -> Poses in model-input pixels (x=col, y=row); lift: `PoseBackend.infer`."""
        frames = check_frames(frames, self.input_size)
        lo, hi = self.batch_range
        if len(frames) < lo:
            raise InputError(f"this engine takes batches of {lo}..{hi} frames, got {len(frames)}; rebuild with --batch")
        if self.history is not None:  # consecutive chunks of one track; a short tail is padded at its end
            chunks = []  # (the lifter is causal: the padding frames change no earlier row)
            for i in range(0, len(frames), hi):
                part = frames[i : i + hi]
                padded = np.concatenate([part, np.repeat(part[-1:], lo - len(part), 0)]) if len(part) < lo else part
                chunks.append({k: v[: len(part)] for k, v in self._run(padded).items()})
                if lift:
                    self.history.push(chunks[-1]["keypoints"])
        else:
            chunks = [self._run(frames[i : i + hi]) for i in range(0, len(frames), hi)]
        if self.history is None and len(chunks[-1]["keypoints"]) < lo:  # a short tail: rerun the last full window
            tail = len(frames) % hi
            chunks[-1] = {k: v[-tail:] for k, v in self._run(frames[-hi:]).items()}
        out = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        return Poses(out["affines"], out["keypoints"], out["consistency"], kp3d=out.get("kp3d") if lift else None)

    def _run(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            x = torch.from_numpy(frames).pin_memory().to(self.device, non_blocking=True)
            self.context.set_input_shape(self.input_name, tuple(x.shape))
            self.context.set_tensor_address(self.input_name, x.data_ptr())
            history = []  # kept alive until the run has finished
            if self.history is not None:
                for name, value in zip(HISTORY_INPUTS, self.history.inputs(), strict=True):
                    history.append(torch.from_numpy(value).to(self.device, non_blocking=True))
                    self.context.set_tensor_address(name, history[-1].data_ptr())
            buffers: dict[str, Any] = {}
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                buffers[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
                self.context.set_tensor_address(name, buffers[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise ModelError("TensorRT execution failed (see the log with -v)")
            host = {n: b.float().cpu() for n, b in buffers.items()}
            self.stream.synchronize()
        return {n: t.numpy() for n, t in host.items()}

    def close(self) -> None:
        """Release the context, engine and runtime (in that order)."""
        del self.context, self.engine, self.runtime


def _torch_dtype(torch: Any, np_dtype: Any) -> Any:
    return torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
