"""Lying posture from the image: a tiny CNN that says supine, side or prone, with a calibrated probability.

The 2D cue of `tpt_live.monitor.posture` needs the pose model to tell the infant's left from right, which
it does not do reliably on real footage. This classifier looks at the crop itself: the same three-layer
strided CNN as the presence net (`tpt_live.monitor.presence.cnn_logits`, input 32 x 32 from
`presence_input`) with three logits in the order of `POSTURES`, softmax after division by a temperature
fitted on held-out synthetic frames. It is trained on synthetic renders, which carry the posture label
(`trainer.posture_train`); weights: `tpt_live/weights/posture.safetensors`
(`tpt_live.checkpoint.write_weights` layout, format "tpt-live/posture-image").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpt_live.checkpoint import shipped_file
from tpt_live.errors import InputError, ModelError
from tpt_live.monitor.posture import POSTURES
from tpt_live.monitor.presence import INPUT, cnn_logits, presence_input

POSTURE_FORMAT = "tpt-live/posture-image"
POSTURE_VERSION = 1


def default_posture_path() -> Path:
    """The shipped posture classifier (`tpt_live/weights/posture.safetensors`; may be absent)."""
    return shipped_file("posture.safetensors")


@dataclass(frozen=True)
class PostureNet:
    """Weights of the posture CNN (torch layout; head.weight (3, 2 C)) and what the file says about itself."""

    weights: dict[str, np.ndarray]
    metrics: dict
    temperature: float = 1.0

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """(3,) P(supine, side, prone) of one (S, S, 3) uint8 RGB model input (softmax of logit / temperature)."""
        z = cnn_logits(self.weights, presence_input(rgb)[None])[0] / self.temperature
        e = np.exp(z - z.max())
        out: np.ndarray = e / e.sum()
        return out

    def classify(self, rgb: np.ndarray) -> tuple[str, float]:
        """(most likely posture, its probability) of one model input."""
        p = self.probabilities(rgb)
        k = int(np.argmax(p))
        return POSTURES[k], float(p[k])


def save_posture(net: PostureNet, path: Path) -> Path:
    from tpt_live.checkpoint import write_weights

    meta = {
        "format": POSTURE_FORMAT,
        "format_version": POSTURE_VERSION,
        "config": {"input": INPUT, "classes": list(POSTURES)},
        "metrics": net.metrics,
        "calibration": {"temperature": net.temperature},
    }
    return write_weights(path, {k: np.asarray(v, np.float32) for k, v in net.weights.items()}, meta)


def load_posture(path: Path | str | None = None) -> PostureNet | None:
    """Load posture weights; None for the default when no file is shipped. Raises ModelError for bad files."""
    from safetensors.numpy import load_file

    from tpt_live.checkpoint import read_meta

    if path is None and not default_posture_path().is_file():
        return None
    path = Path(path) if path is not None else default_posture_path()
    if not path.is_file():  # a path that does not exist is a bad argument (exit code 2), as for the other weights
        raise InputError(f"posture weights {path} not found; train them: tpt-live train-posture --out {path}")
    meta = read_meta(path, POSTURE_FORMAT, POSTURE_VERSION, "posture")
    if meta.get("config", {}).get("classes") != list(POSTURES) or meta["config"].get("input") != INPUT:
        raise ModelError(f"{path}: posture classes/input {meta.get('config')} are not {list(POSTURES)} / {INPUT} px")
    temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
    return PostureNet(load_file(str(path)), meta.get("metrics", {}), temperature)
