"""Train the image posture classifier (`tpt_live.monitor.posture_image`) on synthetic renders.

Frames with the infant in view come from the monitoring scenarios (`active` with postures drawn 60% supine,
20% side, 20% prone; `roll`, which turns the body to the side or front; `still`), half of the clips over
procedural textures, each frame cropped as an `--roi` would and passed through the camera-like
augmentation of `trainer.presence_data`; the label is the ground-truth `posture`. Loss: cross-entropy
weighted by inverse class frequency. A temperature is fitted on clips of another seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tpt_live.monitor.posture import POSTURES
from tpt_live.monitor.posture_image import PostureNet
from tpt_live.monitor.presence import INPUT, cnn_logits, presence_input
from trainer.presence_train import _torch_net, check_cnn_settings, fit_cnn, scenario_frames

log = logging.getLogger(__name__)
POSTURE_MIX: tuple[tuple[str, float], ...] = (("active", 0.5), ("roll", 0.35), ("still", 0.15))


@dataclass(frozen=True)
class PostureTrainConfig:
    seed: int = 2000  # first dataset seed of the training clips
    clips: int = 1000  # training clips
    frames: int = 24  # frames per clip (every 2nd is used)
    size: int = 64  # model input S
    epochs: int = 16
    batch: int = 64
    lr: float = 3e-3
    textured: float = 0.5  # share of clips over a procedural texture
    calibration_clips: int = 60  # clips of seed + 500 that fit the temperature

    def __post_init__(self) -> None:
        check_cnn_settings(self)


def dataset(seed: int, clips: int, frames: int, size: int, textured: float) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, INPUT, INPUT, 3) float32, y (N,) int64 index into POSTURES) of the frames with the infant."""
    xs, ys = [], []
    for rgb, gt in scenario_frames(seed, clips, frames, size, textured=textured, hard=True, mix=POSTURE_MIX):
        if gt["present"] and gt["posture"] in POSTURES:
            xs.append(presence_input(rgb))
            ys.append(POSTURES.index(gt["posture"]))
    return np.stack(xs), np.array(ys, np.int64)


def fit_temperature_softmax(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the cross-entropy of softmax(logits / T); logits (N, K), y (N,) int."""
    best, best_t = float("inf"), 1.0
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 61)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def accuracy(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = np.concatenate([cnn_logits(weights, x[i : i + 256]).argmax(axis=1) for i in range(0, len(x), 256)])
    out = {"frames": int(len(y)), "accuracy": float((pred == y).mean())}
    for k, name in enumerate(POSTURES):
        out[f"accuracy_{name}"] = float((pred[y == k] == k).mean()) if (y == k).any() else float("nan")
    return out


def train_posture(config: PostureTrainConfig, on_log: Callable[[dict], None] | None = None) -> PostureNet:
    """Render the training frames, fit the CNN, calibrate it, return it as numpy weights."""
    import torch

    torch.manual_seed(config.seed)
    x, y = dataset(config.seed, config.clips, config.frames, config.size, config.textured)
    counts = np.bincount(y, minlength=len(POSTURES)).astype(np.float32)
    class_w = torch.from_numpy(counts.sum() / np.maximum(counts, 1.0) / len(POSTURES))

    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, labels, weight=class_w)

    weights = fit_cnn(_torch_net(len(POSTURES)), x, y, loss, config.epochs, config.batch, config.lr, config.seed,
                      on_log)  # fmt: skip
    metrics: dict = {"train_frames": len(x), "train_seed": config.seed, "input": INPUT,
                     "train_counts": counts.astype(int).tolist()}  # fmt: skip
    temperature = 1.0
    if config.calibration_clips > 0:
        cx, cy = dataset(config.seed + 500, config.calibration_clips, config.frames, config.size, config.textured)
        logits = np.concatenate([cnn_logits(weights, cx[i : i + 256]) for i in range(0, len(cx), 256)])
        temperature = fit_temperature_softmax(logits, cy)
        metrics.update({"calibration": accuracy(weights, cx, cy)})
        log.info("posture temperature %.3f on %d calibration frames", temperature, len(cx))
    return PostureNet(weights, metrics, temperature)
