"""Evaluation of 2D keypoints on `tpt-live synth` output (frames + ground-truth JSON per video).

Protocol: every frame of every video is letterboxed into the model input (S x S, whole frame, one scale
for both axes, black bars on the short side, area interpolation: `tpt_live.crop.letterbox`, as `tpt-live
track` does); ground truth is mapped into the same pixels; errors are in % of S, with and without a
left/right swap per frame (tpt_live.evaluation.metrics). All joints count, visible or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpt_live.crop import CropBox, crop_resize, letterbox, square_box, to_model
from tpt_live.errors import InputError, SourceError
from tpt_live.evaluation.metrics import summarize
from tpt_live.skeleton import JOINT_NAMES
from tpt_live.template import Template
from tpt_live.videoio import read_video

Predict = Callable[[np.ndarray], np.ndarray]  # (B, S, S, 3) uint8 RGB -> (B, J, 2) model-input pixels


@dataclass
class LabelledVideo:
    name: str  # file stem
    frames: np.ndarray  # (N, S, S, 3) uint8 RGB, letterboxed into the model input
    kp2d: np.ndarray  # (N, J, 2) ground truth in the same S x S pixels
    kp3d: np.ndarray  # (N, J, 3) metres, camera coordinates
    box: CropBox  # the source pixels the S x S model input shows (`tpt_live.crop.to_source` maps back)


def load_labelled(data_dir: str | Path, size: int, roi: CropBox | None = None) -> list[LabelledVideo]:
    """Every `<name>.mp4` with a `<name>.json` ground truth in `data_dir`.

    With `roi` (source pixels) every frame is cut to the square box around it (`tpt_live.crop.square_box`,
    as `tpt-live track --roi` does; black outside the frame) before resizing, and the ground truth is
    mapped into the same S x S pixels (`tpt_live.crop.to_model`).
    """
    box = square_box(roi) if roi is not None else None
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of `tpt-live synth` output")
    out = []
    for gt_path in sorted(root.glob("*.json")):
        video = gt_path.with_suffix(".mp4")
        if not video.exists():
            continue
        gt = json.loads(gt_path.read_text())
        if list(gt.get("joints", [])) != list(JOINT_NAMES):
            raise InputError(f"{gt_path} does not list the joints {JOINT_NAMES}")
        if box is None:
            frames = np.stack(list(read_video(video, size)))
        else:
            frames = np.stack([crop_resize(f, box, size) for f in read_video(video)])
        kp2d = np.array([f["kp2d"] for f in gt["frames"]], np.float64)
        if len(kp2d) != len(frames):
            raise SourceError(f"{video}: {len(frames)} frames but {len(kp2d)} ground-truth records")
        # pixel centres at integers: p' = (p - box origin + 0.5) * S / box size - 0.5
        shown = box or letterbox(gt["width"], gt["height"], size).box
        kp2d = to_model(kp2d, shown, size)
        kp3d = np.array([f["kp3d"] for f in gt["frames"]], np.float64)
        out.append(LabelledVideo(gt_path.stem, frames, kp2d, kp3d, shown))
    if not out:
        raise InputError(f"{root} holds no <name>.mp4 + <name>.json pairs (make some with `tpt-live synth`)")
    return out


def predict_all(videos: list[LabelledVideo], predict: Predict, batch: int = 32) -> list[np.ndarray]:
    """Predicted (N, J, 2) keypoints per video."""
    preds = []
    for v in videos:
        parts = [predict(v.frames[i : i + batch]) for i in range(0, len(v.frames), batch)]
        preds.append(np.concatenate(parts))
    return preds


def evaluate_2d(videos: list[LabelledVideo], predict: Predict, size: int) -> dict:
    """Metrics over all frames of all videos, plus per-video mean errors."""
    preds = predict_all(videos, predict)
    result = summarize(np.concatenate(preds), np.concatenate([v.kp2d for v in videos]), size)
    result["per_video"] = {
        v.name: summarize(p, v.kp2d, size)["mean_error_pct"] for v, p in zip(videos, preds, strict=True)
    }
    result["protocol"] = (
        f"whole frame letterboxed into {size}x{size}; error in % of {size} px; all 16 joints; "
        "mean_error_pct allows a left/right swap per frame, *_strict does not"
    )
    return result


def template_baseline(template: Template, videos: list[LabelledVideo], size: int) -> float:
    """Error of the untransformed template (every affine = identity): the floor a model must beat."""
    gt = np.concatenate([v.kp2d for v in videos])
    return float(summarize(np.broadcast_to(template.joints(size), gt.shape), gt, size)["mean_error_pct"])
