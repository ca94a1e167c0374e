"""Where compiled artefacts live: ONNX exports of checkpoints and TensorRT engines, keyed by what made them."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$TPT_LIVE_CACHE, else $XDG_CACHE_HOME/tpt-live, else ~/.cache/tpt-live."""
    if os.environ.get("TPT_LIVE_CACHE"):
        return Path(os.environ["TPT_LIVE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tpt-live"
