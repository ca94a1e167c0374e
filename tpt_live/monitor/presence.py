"""Is an infant in view? A tiny CNN on the model-input crop, run in numpy, smoothed over stream time.

The pose model always outputs a pose, so presence needs its own evidence. `PresenceNet` is a three-layer
strided CNN (3 -> C0 -> C1 -> C2 channels, as the file holds them; 3x3, stride 2, ReLU; mean and max pooled;
one logistic unit) on the whole picture (the decoder's model input) downsized to 32 x 32, and with
`PresenceConfig.subject` also on the window the tracker cut around the located baby, the two calibrated logits
averaged; with `PresenceConfig.mirror` (the default) each view is judged mirrored left-right as well and the mean
is taken over all of them, so the answer does not depend on which way the baby lies. It is trained on synthetic
frames with and without the infant (`trainer.presence_train`); the weights file describes itself (format,
version, input size, metrics; `tpt_live.checkpoint.write_weights` layout).
`PresenceDetector` adds an exponential average over stream time, and hysteresis, so one odd frame does not flip
the state. Each view's probability is calibrated: the logit is divided by a temperature fitted on held-out
synthetic frames (stored in the file). A file may hold several such nets trained alike on other draws
(`PresenceEnsemble`, format version 2): their calibrated logits are averaged, because one tiny net's answers on
real footage move with its training draws as much as with its recipe (docs/MONITOR.md, "Three nets instead of
one").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tpt_live.checkpoint import shipped_file
from tpt_live.errors import InputError, ModelError

PRESENCE_FORMAT = "tpt-live/presence"
PRESENCE_VERSION = 2  # 2: several members, "member{i}." key prefixes; 1 (still read): one net
INPUT = 32  # the net's input side, pixels
WINDOW_ZOOM = 2.0  # the second view is used where the located window is at most half the searched picture's side
PRESENCE_VIEWS = ("both", "frame")  # what the net judges: the picture and the pose model's window, or the picture
LAYERS = ("conv0", "conv1", "conv2")


def default_presence_path() -> Path:
    """The shipped presence weights (`tpt_live/weights/presence.safetensors`)."""
    return shipped_file("presence.safetensors")


def presence_input(rgb: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB model input -> (INPUT, INPUT, 3) float32 in [-0.5, 0.5] (area resize)."""
    small = cv2.resize(rgb, (INPUT, INPUT), interpolation=cv2.INTER_AREA) if rgb.shape[0] != INPUT else rgb
    out: np.ndarray = small.astype(np.float32) / 255.0 - 0.5
    return out


def _conv_s2(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 convolution, stride 2, zero padding 1 (torch `Conv2d(c, o, 3, 2, 1)`): (B, H, W, C) -> (B, H/2, W/2, O).

    w: (O, C, 3, 3) in torch layout; output pixel i reads input rows 2i-1 .. 2i+1. One matrix product of the
    (B h w, C 9) windows (a small copy) with the (C 9, O) kernel.
    """
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::2, ::2]  # (B, h, w, C, 3, 3)
    n, h, w_out, c = win.shape[:4]
    out: np.ndarray = win.reshape(n * h * w_out, c * 9) @ w.reshape(len(w), c * 9).T + b
    return out.reshape(n, h, w_out, len(w))


def cnn_logits(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The CNN's forward pass: x (B, INPUT, INPUT, 3) float32 -> (B, K) logits, K = rows of head.weight."""
    h = x.astype(np.float32)
    for name in LAYERS:
        h = np.maximum(_conv_s2(h, weights[f"{name}.weight"], weights[f"{name}.bias"]), 0.0)
    pooled = np.concatenate([h.mean(axis=(1, 2)), h.max(axis=(1, 2))], axis=1)
    out: np.ndarray = pooled @ weights["head.weight"].T + weights["head.bias"]
    return out


@dataclass(frozen=True)
class PresenceNet:
    """Weights of one presence CNN (torch layout), its temperature and what its training says about it; the
    monitor reads nets through `PresenceEnsemble`."""

    weights: dict[str, np.ndarray]  # conv{k}.weight (O, C, 3, 3), conv{k}.bias (O,), head.weight (1, 2 C), head.bias
    metrics: dict  # held-out figures recorded at training time
    temperature: float = 1.0  # logits are divided by it before the sigmoid (fitted on held-out frames)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """x: (B, INPUT, INPUT, 3) float32 from `presence_input` -> (B,) logits (> 0: infant present)."""
        return cnn_logits(self.weights, x)[:, 0]


def sigmoid(z: float) -> float:
    """The logistic function, its argument clipped to +-50."""
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class PresenceEnsemble:
    """Presence nets trained alike on other draws (`tpt-live train-presence --members K`); the calibrated logit is
    the mean of the members' calibrated logits, so the probability is the sigmoid of that mean."""

    members: tuple[PresenceNet, ...]
    metrics: dict  # the file's metrics (each member's own under "members")

    def __post_init__(self) -> None:
        if not self.members:
            raise ModelError("a presence ensemble needs at least one member")

    def calibrated(self, rgb: np.ndarray) -> float:
        """The mean over members of the calibrated logit of one (S, S, 3) uint8 RGB input."""
        return float(self.calibrated_many([rgb])[0])

    def calibrated_many(self, rgbs: list[np.ndarray]) -> np.ndarray:
        """`calibrated` of several uint8 RGB inputs of any sizes at once: (N,) float64."""
        x = np.stack([presence_input(rgb) for rgb in rgbs])
        return np.mean([m.logits(x) / m.temperature for m in self.members], axis=0)

    def probability(self, rgb: np.ndarray) -> float:
        """P(infant in view) of one (S, S, 3) uint8 RGB model input (sigmoid of `calibrated`)."""
        return sigmoid(self.calibrated(rgb))


def save_presence(net: PresenceEnsemble | PresenceNet, path: Path) -> Path:
    """Write the weights (`tpt_live.checkpoint.write_weights` layout: metadata inside, JSON sidecar); a single
    net is written as an ensemble of one."""
    from tpt_live.checkpoint import write_weights

    ens = net if isinstance(net, PresenceEnsemble) else PresenceEnsemble((net,), net.metrics)
    meta = {"format": PRESENCE_FORMAT, "format_version": PRESENCE_VERSION, "config": {"input": INPUT}}
    meta["metrics"] = ens.metrics
    meta["calibration"] = {"temperatures": [m.temperature for m in ens.members]}
    tensors = {
        f"member{i}.{k}": np.asarray(v, np.float32) for i, m in enumerate(ens.members) for k, v in m.weights.items()
    }
    return write_weights(path, tensors, meta)


def load_presence(path: Path | str | None = None) -> PresenceEnsemble:
    """Load presence weights (None: the shipped file); a version-1 file (one net) loads as an ensemble of one.
    InputError when a given file is missing (exit 2); ModelError when the shipped file is absent or a file is
    foreign (exit 4)."""
    from safetensors.numpy import load_file

    from tpt_live.checkpoint import read_meta

    given = path is not None
    path = Path(path) if path is not None else default_presence_path()
    if not path.is_file():
        message = f"presence weights {path} not found; train them: tpt-live train-presence --out {path}"
        raise (InputError if given else ModelError)(message)
    meta = read_meta(path, PRESENCE_FORMAT, PRESENCE_VERSION, "presence")
    if meta.get("config", {}).get("input") != INPUT:
        raise ModelError(f"{path}: presence input {meta.get('config')} is not {INPUT} px")
    tensors, calibration = load_file(str(path)), meta.get("calibration", {})
    if int(meta.get("format_version", 1)) < 2:
        groups, temperatures = [tensors], [calibration.get("temperature", 1.0)]
    else:
        temperatures = list(calibration.get("temperatures", []))
        groups = [{k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"member{i}.")}
                  for i in range(len(temperatures))]  # fmt: skip
        if sum(map(len, groups)) != len(tensors) or not all(groups):
            raise ModelError(f"{path}: presence tensors do not match its {len(temperatures)} member temperatures")
    if not all(float(t) > 0 for t in temperatures):
        raise ModelError(f"{path}: presence temperatures {temperatures} must be > 0")
    metrics = meta.get("metrics", {})
    members = tuple(PresenceNet(w, {}, float(t)) for w, t in zip(groups, temperatures, strict=True))
    return PresenceEnsemble(members, metrics)


def combine_presence(files: list[Path | str]) -> PresenceEnsemble:
    """One ensemble holding every member of the presence `files`, in order, each with its own temperature; its
    metrics name the files and keep theirs (`scripts/combine_presence.py`)."""
    parts = [load_presence(f) for f in files]
    members = tuple(m for part in parts for m in part.members)
    metrics = {"combined_from": [Path(f).name for f in files], "files": [p.metrics for p in parts]}
    return PresenceEnsemble(members, metrics)


@dataclass(frozen=True)
class PresenceConfig:
    tau: float = 0.5  # seconds: time constant of the exponential average of the per-frame probability
    threshold: float = 0.5  # averaged probability above which the infant counts as present
    band: float = 0.1  # hysteresis: "present" from threshold + band/2 up, "absent" from threshold - band/2 down
    subject: bool = True  # also judge the pose model's located window and average the two calibrated logits
    mirror: bool = True  # also judge each view mirrored left-right and average: the answer cannot hang on handedness

    def __post_init__(self) -> None:
        from tpt_live.errors import InputError

        if self.tau < 0 or not 0.0 < self.threshold - self.band / 2 <= self.threshold + self.band / 2 < 1.0:
            raise InputError(f"presence tau {self.tau} must be >= 0 and threshold {self.threshold} +- band/2 "
                             f"({self.band} / 2) in (0, 1)")  # fmt: skip


class PresenceDetector:
    """Per-frame presence probability, averaged over stream time. Call `reset()` between streams."""

    def __init__(self, net: PresenceEnsemble, config: PresenceConfig | None = None) -> None:
        self.net, self.config = net, config or PresenceConfig()
        self.reset()

    def reset(self) -> None:
        self._p: float | None = None
        self._t = 0.0
        self._present: bool | None = None  # hysteresis state; None: decided by the threshold alone

    def update(self, rgb: np.ndarray, t: float, subject: np.ndarray | None = None) -> tuple[float, float]:
        """(raw probability, averaged probability) at stream time t (s) for the whole picture `rgb` (the decoder's
        (S, S, 3) uint8 RGB input) and, with `config.subject`, the window the pose model saw (`subject`, any
        size; None where there is none): the mean of the two calibrated logits, so each view can outvote the
        other only by being surer. With `config.mirror` each view's mirror image is judged too and the mean is
        taken over all of them: a baby lying head left or head right gets the same answer."""
        views = [rgb, subject] if self.config.subject and subject is not None else [rgb]
        if self.config.mirror:
            views += [v[:, ::-1] for v in views]
        p = sigmoid(float(np.mean(self.net.calibrated_many(views))))
        if self._p is None or self.config.tau == 0:
            self._p = p
        else:
            a = 1.0 - math.exp(-max(t - self._t, 0.0) / self.config.tau)
            self._p += a * (p - self._p)
        self._t = t
        return p, self._p

    def present(self, averaged: float) -> bool:
        """Present or not for the averaged probability, with hysteresis (call once per frame)."""
        c = self.config
        if self._present is None:
            self._present = averaged >= c.threshold
        elif self._present and averaged < c.threshold - c.band / 2:
            self._present = False
        elif not self._present and averaged >= c.threshold + c.band / 2:
            self._present = True
        return self._present
