"""Lying posture from the image: a classifier that says supine, side, prone or sitting up, with a calibrated
probability.

The 2D cue of `tpt_live.monitor.posture` needs the pose model to tell the infant's left from right, which it does
not do reliably on real footage, and from a camera across the room it reads a baby in tummy time as a supine one
mirrored (docs/MONITOR.md). This classifier looks at the window the pose model sees (the body framed and turned
upright by the localisation stage, `Result.model_input`): EfficientNet-Lite0's stem and blocks 0-10 (ImageNet
weights when training starts, `tpt_live.effnet`), the mean and the maximum of the stride-16 features over the
window, and a linear map to four logits in the order of `IMAGE_CLASSES` (the three lying postures, then sitting
up: none of them, so that a sitting baby is not read as one); softmax after division by a temperature fitted on
held-out synthetic windows. It is trained on synthetic renders, which carry the label (`trainer.posture_train`).
A file holds one or more such nets trained alike on draws of their own seeds (`tpt-live train-posture --members K`;
the shipped file holds three, docs/MONITOR.md says why), and the probabilities are the mean of the members' calibrated
probabilities (`PostureEnsemble`). Weights: `tpt_live/weights/posture.safetensors` (`tpt_live.checkpoint.write_weights`
layout, format "tpt-live/posture-image" version 4; a version-3 file, one net, loads as an ensemble of one; the 32-px
CNN of version 1 and the three-class window classifier of version 2 are refused).
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
    from torch import Tensor

    from tpt_live.monitor.posture_net import WindowClassifier

log = logging.getLogger(__name__)
POSTURE_FORMAT = "tpt-live/posture-image"
POSTURE_VERSION = 4
ONE_NET_VERSION = 3  # a single net, its tensors unprefixed and one temperature: read as an ensemble of one
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

        with torch.inference_mode():
            return self.calibrated(self.net(self.window(rgb))[0])

    def window(self, rgb: np.ndarray) -> Tensor:
        """(1, 3, S, S) network input of one (S, S, 3) uint8 RGB window; InputError for another shape or type."""
        from tpt_live.monitor.posture_net import to_tensor

        if rgb.shape != (self.input_size, self.input_size, 3) or rgb.dtype != np.uint8:
            side = self.input_size
            raise InputError(f"posture window {rgb.shape} {rgb.dtype} is not {side} x {side} x 3 uint8")
        return to_tensor(rgb[None])

    def calibrated(self, logits: Tensor) -> np.ndarray:
        """(4,) softmax of one window's (4,) logits divided by the temperature."""
        import torch

        out: np.ndarray = torch.softmax(logits / self.temperature, 0).numpy().astype(np.float64)
        return out


@dataclass
class PostureEnsemble:
    """Classifiers trained alike on other draws (`tpt-live train-posture --members K`); the probabilities of a window
    are the mean of the members' calibrated probabilities."""

    members: tuple[PostureNet, ...]
    metrics: dict = field(default_factory=dict)  # the file's metrics (each member's own under "members")

    shared_front: bool = field(init=False, default=False)  # every member's front is member 0's (`_fronts_agree`)

    def __post_init__(self) -> None:
        if not self.members or len({m.input_size for m in self.members}) != 1:
            raise ModelError("a posture ensemble needs at least one member, all of one window size")
        self.shared_front = _fronts_agree(self.members)

    @property
    def input_size(self) -> int:
        return self.members[0].input_size

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """(4,) P(supine, side, prone, sitting) of one (S, S, 3) uint8 RGB window: the members' mean. PyTorch runs
        them on one thread: beside the monitor's decoder and pose model, more threads for one small window only
        wait on each other (on this 2-core machine three members took 0.43 s on two threads, 0.04 s on one)."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if self.shared_front:  # the stem and blocks 0-2 once: two thirds of a member's time at 128 px
                from tpt_live.monitor.posture_net import FRONT_BLOCKS

                with torch.inference_mode():
                    h = self.members[0].net.trunk.front(self.members[0].window(rgb), FRONT_BLOCKS)
                    out: np.ndarray = np.mean([m.calibrated(m.net.back(h)[0]) for m in self.members], axis=0)
            else:
                out = np.mean([m.probabilities(rgb) for m in self.members], axis=0)
        finally:
            torch.set_num_threads(threads)
        return out

    def classify(self, rgb: np.ndarray) -> tuple[str, float]:
        """(most likely class of `IMAGE_CLASSES`, its probability) of one window."""
        p = self.probabilities(rgb)
        k = int(np.argmax(p))
        return IMAGE_CLASSES[k], float(p[k])


def _fronts_agree(members: tuple[PostureNet, ...]) -> bool:
    """Whether two or more members share one front (`WindowClassifier.back`): the stem and blocks 0-2, weights and
    batch-norm statistics equal to member 0's, as training keeps them at ImageNet's. Decided once, for members in
    eval mode (`PostureNet` sets it) whose weights do not change afterwards, as the monitor uses them."""
    if len(members) < 2 or not all(isinstance(m, PostureNet) for m in members):
        return False
    import torch

    from tpt_live.monitor.posture_net import FRONT_BLOCKS

    def front(m: PostureNet) -> list:
        return [t for module in m.net.trunk.first(FRONT_BLOCKS) for t in module.state_dict().values()]

    first = front(members[0])
    return all(all(torch.equal(a, b) for a, b in zip(first, front(m), strict=True)) for m in members[1:])


def save_posture(net: PostureEnsemble | PostureNet, path: Path) -> Path:
    """Write the weights (`tpt_live.checkpoint.write_weights` layout: metadata inside, JSON sidecar); a single net is
    written as an ensemble of one (its figures also its member's, as `load_posture` reads them back)."""
    from tpt_live.checkpoint import write_weights

    ens = PostureEnsemble((net,), {**net.metrics, "members": [net.metrics]}) if isinstance(net, PostureNet) else net
    meta = {
        "format": POSTURE_FORMAT,
        "format_version": POSTURE_VERSION,
        "config": {
            "input": ens.input_size,
            "view": "window",
            "classes": list(IMAGE_CLASSES),
            "members": len(ens.members),
        },
        "metrics": ens.metrics,
        "calibration": {"temperatures": [m.temperature for m in ens.members]},
    }
    tensors = {f"member{i}.{k}": v for i, m in enumerate(ens.members) for k, v in m.net.state_dict().items()}
    return write_weights(path, tensors, meta)


def load_posture(path: Path | str | None = None) -> PostureEnsemble | None:
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
    if meta.get("format_version") not in (POSTURE_VERSION, ONE_NET_VERSION):
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


def _load_weights(path: Path, meta: dict) -> PostureEnsemble:
    """The classifiers of a file whose metadata `_posture_meta` checked (torch is imported here)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tpt_live.monitor.posture_net import WindowClassifier

    calibration, size = meta.get("calibration"), int(meta["config"]["input"])
    calibration = calibration if isinstance(calibration, dict) else {}
    one = meta["format_version"] == ONE_NET_VERSION
    raw = [calibration.get("temperature", 1.0)] if one else calibration.get("temperatures")
    try:
        temperatures = [float(t) for t in raw] if isinstance(raw, list) else []
    except (TypeError, ValueError):
        temperatures = []
    if not temperatures or not all(t > 0 for t in temperatures):
        raise ModelError(f"{path}: posture temperatures {raw} must be one or more numbers > 0")
    if not one and meta["config"].get("members") != len(temperatures):
        raise ModelError(f"{path}: {meta['config'].get('members')} posture members, {len(temperatures)} temperatures")
    members = []
    try:
        tensors = load_file(str(path))
        for i, temperature in enumerate(temperatures):
            prefix = "" if one else f"member{i}."
            net = WindowClassifier()
            net.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
            members.append(PostureNet(net, size, {}, temperature))
        if not one and len(tensors) != len(members) * len(members[0].net.state_dict()):
            raise RuntimeError(f"{len(tensors)} tensors for {len(temperatures)} calibrated members")
    except (SafetensorError, RuntimeError) as exc:
        raise ModelError(f"{path}: not the posture classifier's weights ({str(exc).splitlines()[0]})") from exc
    metrics = meta.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    own = [dict(metrics)] if one else metrics.get("members")
    for member, figures in zip(members, own if isinstance(own, list) else [], strict=False):
        member.metrics = figures if isinstance(figures, dict) else {}
    return PostureEnsemble(tuple(members), metrics)


def open_posture(spec: str | None, input_size: int) -> PostureEnsemble | None:
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
