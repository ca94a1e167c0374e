"""Lying posture from the image: a classifier that says supine, side, prone or sitting up, with a calibrated
probability.

The 2D cue of `tpt_live.monitor.posture` needs the pose model to tell the infant's left from right, which it does
not do reliably on real footage, and from a camera across the room it reads a baby in tummy time as a supine one
mirrored (docs/MONITOR.md). This classifier looks at the window the pose model sees (the body framed and turned
upright by the localisation stage, `Result.model_input`): EfficientNet-Lite0's stem and blocks 0-10 (ImageNet
weights when training starts, `tpt_live.effnet`), the mean and the maximum of the stride-16 features over the
window, and a linear map to four logits in the order of `IMAGE_CLASSES` (the three lying postures, then sitting
up: none of them, so that a sitting baby is not read as one); softmax after division by a temperature fitted on
held-out synthetic windows. It is trained on synthetic renders, which carry the label (`trainer.posture_train`);
weights: `tpt_live/weights/posture.safetensors` (`tpt_live.checkpoint.write_weights` layout, format
"tpt-live/posture-image" version 3; the 32-px CNN of version 1 and the three-class window classifier of version 2
are refused).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tpt_live.checkpoint import shipped_file
from tpt_live.errors import InputError, ModelError
from tpt_live.monitor.posture import IMAGE_CLASSES

if TYPE_CHECKING:  # torch is imported when a classifier is loaded, not by every command that imports the monitor
    from tpt_live.monitor.posture_net import WindowClassifier

log = logging.getLogger(__name__)
POSTURE_FORMAT = "tpt-live/posture-image"
POSTURE_VERSION = 3
SHIPPED_POSTURE = "shipped"  # `monitor --posture-net`'s default: the shipped classifier (`default_posture_path`)


def default_posture_path() -> Path:
    """The shipped posture classifier (`tpt_live/weights/posture.safetensors`; may be absent)."""
    return shipped_file("posture.safetensors")


@dataclass
class PostureNet:
    """The classifier, its input side and what its file says about itself."""

    net: WindowClassifier
    input_size: int
    metrics: dict = field(default_factory=dict)
    temperature: float = 1.0

    def __post_init__(self) -> None:
        self.net.eval()

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """(4,) P(supine, side, prone, sitting) of one (S, S, 3) uint8 RGB window (softmax of logit / temperature)."""
        import torch

        from tpt_live.monitor.posture_net import to_tensor

        if rgb.shape != (self.input_size, self.input_size, 3) or rgb.dtype != np.uint8:
            side = self.input_size
            raise InputError(f"posture window {rgb.shape} {rgb.dtype} is not {side} x {side} x 3 uint8")
        with torch.inference_mode():
            z = self.net(to_tensor(rgb[None]))[0] / self.temperature
        out: np.ndarray = torch.softmax(z, 0).numpy().astype(np.float64)
        return out

    def classify(self, rgb: np.ndarray) -> tuple[str, float]:
        """(most likely class of `IMAGE_CLASSES`, its probability) of one window."""
        p = self.probabilities(rgb)
        k = int(np.argmax(p))
        return IMAGE_CLASSES[k], float(p[k])


def save_posture(net: PostureNet, path: Path) -> Path:
    from tpt_live.checkpoint import write_weights

    meta = {
        "format": POSTURE_FORMAT,
        "format_version": POSTURE_VERSION,
        "config": {"input": net.input_size, "view": "window", "classes": list(IMAGE_CLASSES)},
        "metrics": net.metrics,
        "calibration": {"temperature": net.temperature},
    }
    return write_weights(path, dict(net.net.state_dict()), meta)


def load_posture(path: Path | str | None = None) -> PostureNet | None:
    """Load posture weights; None for the default when no file is shipped (torch is not imported then). Raises
    InputError for a missing path and ModelError for a foreign or old file."""
    found = _posture_meta(path)
    return None if found is None else _load_weights(*found)


def _posture_meta(path: Path | str | None) -> tuple[Path, dict] | None:
    """The file `path` names (None: the shipped one, or None where none is) and its checked metadata, without
    loading the weights."""
    from tpt_live.checkpoint import read_meta

    if path is None and not default_posture_path().is_file():
        return None
    path = Path(path) if path is not None else default_posture_path()
    if not path.is_file():  # a path that does not exist is a bad argument (exit code 2), as for the other weights
        raise InputError(f"posture weights {path} not found; train them: tpt-live train-posture --out {path}")
    meta = read_meta(path, POSTURE_FORMAT, POSTURE_VERSION, "posture")
    config = meta.get("config", {})
    if meta.get("format_version") != POSTURE_VERSION:
        old = {1: "the 32-px CNN", 2: "three classes, without sitting"}.get(meta.get("format_version", 0), "old")
        raise ModelError(f"{path}: a posture file of version {meta.get('format_version')} ({old}); "
                         "retrain it: tpt-live train-posture --out FILE")  # fmt: skip
    if (
        config.get("view") != "window"
        or config.get("classes") != list(IMAGE_CLASSES)
        or not isinstance(config.get("input"), int)
    ):
        raise ModelError(f"{path}: not a window posture classifier (config {config})")
    return path, meta


def _load_weights(path: Path, meta: dict) -> PostureNet:
    """The classifier of a file whose metadata `_posture_meta` checked (torch is imported here)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tpt_live.monitor.posture_net import WindowClassifier

    net = WindowClassifier()
    try:
        net.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError) as exc:
        raise ModelError(f"{path}: not the posture classifier's weights ({str(exc).splitlines()[0]})") from exc
    temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
    return PostureNet(net, int(meta["config"]["input"]), meta.get("metrics", {}), temperature)


def open_posture(spec: str | None, input_size: int) -> PostureNet | None:
    """The classifier `spec` names (a file, `SHIPPED_POSTURE`, or None: none) for a 2D model whose windows are
    `input_size` px. The shipped one is None where none is installed, and skipped with a log line where it reads
    windows of another size; a file of another size is an InputError (exit 2). The size is read from the file's
    metadata, so a classifier that cannot run is never built."""
    if spec is None:
        return None
    shipped = spec == SHIPPED_POSTURE
    found = _posture_meta(None if shipped else spec)
    if found is None:
        return None
    size = int(found[1]["config"]["input"])
    if size == input_size:
        return _load_weights(*found)
    why = f"it reads {size}-px windows; the 2D model gives {input_size}-px ones"
    if shipped:
        log.info("no image posture classifier: %s", why)
        return None
    raise InputError(f"--posture-net {spec}: {why}")
