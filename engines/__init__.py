"""Inference engines for tpt-live: one class per runtime behind `tpt_live.backend.PoseBackend`.

`open_backend` (engines.select) is the one entry point the tracker calls.
"""

from engines.select import (
    ALIASES,
    BACKENDS,
    DEVICES,
    SUFFIXES,
    choose_backend,
    model_kind,
    onnx_for_checkpoint,
    open_backend,
)

__all__ = [
    "ALIASES",
    "BACKENDS",
    "DEVICES",
    "SUFFIXES",
    "choose_backend",
    "model_kind",
    "onnx_for_checkpoint",
    "open_backend",
]
