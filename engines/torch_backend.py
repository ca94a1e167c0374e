"""PyTorch backend: the reference runtime, CPU or CUDA, fp32 / fp16 / bf16 autocast."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import torch

from engines.frames import check_frames
from tpt_live.backend import PRECISIONS as ALL_PRECISIONS
from tpt_live.backend import Poses
from tpt_live.checkpoint import file_digest, load_model, model_label, resolve_device, resolve_model_file
from tpt_live.errors import InputError
from tpt_live.lifter import KeypointLifter, Lifter, LiftStream, load_default_lifter, load_lifter
from tpt_live.localiser_net import Localiser, load_localiser
from tpt_live.model import TptModel, normalise
from tpt_live.template import Template

log = logging.getLogger(__name__)

PRECISIONS = tuple(p for p in ALL_PRECISIONS if p != "int8")  # int8 runs only as a TensorRT engine
_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    """A `tpt_live.backend.PoseBackend` running the checkpoint in PyTorch.

    The regressor runs under autocast for fp16 (CUDA only) and bf16 (CPU with AMX/AVX-512, or CUDA);
    the keypoint read-out always runs in fp32 on fp32 affines, so reduced precision only touches the CNN.
    lifter: a Lifter or lifter file; None = the shipped lifter when present; False = no 3D. When there is
    one, `Poses.kp3d` holds metres, root-relative, camera axes (tpt_live.lifter.KeypointLifter), fp32. A
    flip: test-time flip averaging (`TptModel.regress`). A
    temporal lifter (`LifterConfig.window` > 1) treats the rows of successive `infer` calls as consecutive
    frames of one subject, as the `Tracker` feeds them (`tpt_live.lifter.LiftStream`); `new_track()` forgets them.
    """

    name = "torch"

    def __init__(
        self,
        model: str | Path | TptModel | None = None,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool = True,
        lifter: Lifter | str | Path | None | bool = None,
        flip: bool = False,
    ) -> None:
        if precision not in PRECISIONS:
            raise InputError(f"precision {precision!r} is not available in PyTorch; use one of {PRECISIONS}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise InputError("fp16 autocast needs a CUDA device; on CPU use --precision bf16 or fp32")
        if isinstance(model, TptModel):
            self.model = model.to(self.device).eval()
            self.model_name, self.model_digest = "in-memory", "none"
        else:
            path = resolve_model_file(model)
            self.model = load_model(path, self.device)
            self.model_name = model_label(path)
            self.model_digest = file_digest(path)
        self.template: Template | None = self.model.template
        if flip:
            self.model.check_flip()
        self.flip = flip
        self.framing = self.model.cfg.framing
        self.channels_last = channels_last
        if channels_last:
            # Module.to accepts memory_format at run time; torch's stubs do not list it
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.precision = precision
        self.input_size = self.model.cfg.input_size
        lift: Lifter | None
        if lifter is None or lifter is True:
            lift = load_default_lifter(self.model.template.name)
        elif isinstance(lifter, str | Path):
            lift = load_lifter(lifter)
        else:
            lift = lifter or None
        self.lifter: KeypointLifter | LiftStream | None = None
        if lift is not None:  # a temporal lifter keeps the subject's recent frames between calls
            self.lifter = (LiftStream(lift) if lift.cfg.window > 1 else KeypointLifter(lift)).to(self.device).eval()
        log.debug("torch backend: %s on %s, %s", self.model_name, self.device, precision)

    def open_localiser(self, path: str | Path | None = None) -> Localiser:
        """The localiser file `path` (None: the shipped one) on this backend's device."""
        return load_localiser(path, self.device)

    def new_track(self) -> None:
        """Forget the subject's history (a temporal lifter's window): the next frame starts a new track."""
        if isinstance(self.lifter, LiftStream):
            self.lifter.reset()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AUTOCAST[self.precision])

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        """frames: (B, S, S, 3) uint8 RGB -> Poses in model-input pixels (x=col, y=row); lift: `PoseBackend.infer`."""
        frames = check_frames(frames, self.input_size)
        with torch.inference_mode():
            x = torch.from_numpy(frames).to(self.device, non_blocking=True).permute(0, 3, 1, 2)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                affines = self.model.regress(normalise(x), self.flip)
            out = self.model.read_out(affines)
            kp3d = self.lifter(out.keypoints).cpu().numpy() if self.lifter is not None and lift else None
            return Poses(
                affines=out.affines.cpu().numpy(),
                keypoints=out.keypoints.cpu().numpy(),
                consistency=out.consistency.cpu().numpy(),
                kp3d=kp3d,
            )

    def close(self) -> None:
        """Drop the model (and the cached CUDA memory)."""
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
