"""Evaluation of 2D keypoints on `tpt-live synth` output (frames + ground-truth JSON per video).

Protocol: every frame of every video is letterboxed into the model input (S x S, whole frame, one scale
for both axes, black bars on the short side, area interpolation: `tpt_live.crop.letterbox`, as `tpt-live
track` does); ground truth is mapped into the same pixels; errors are in % of S, with and without a
left/right swap per frame (tpt_live.evaluation.metrics). All joints count, visible or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tpt_live.crop import CropBox, check_roi, crop_resize, letterbox, square_box, to_model
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
    out = []
    for gt_path, gt in _labelled_files(data_dir):
        video = gt_path.with_suffix(".mp4")
        if roi is not None:
            check_roi(roi, gt["width"], gt["height"])
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


def gt_framed(points: np.ndarray, kp2d: np.ndarray, size: int) -> np.ndarray:
    """Points (N, J, 2) in source pixels -> the S x S input that frame's ground truth `kp2d` (N, J, 2) would
    frame along its own body axis and turn upright (`localise.crop_along`, `crop.turn_points_by`): the yardstick
    of the located protocol."""
    from tpt_live.crop import turn_points_by
    from tpt_live.localise import Location, body_axis, crop_along

    out = np.zeros_like(points, dtype=np.float64)
    for i, (x, y, length, angle) in enumerate(body_axis(kp2d)):
        box, degrees = crop_along(Location(float(x), float(y), float(length), float(angle), score=1.0))
        out[i] = turn_points_by(to_model(points[i], box, size), degrees, size)
    return out


def evaluate_located(
    data_dir: str | Path,
    backend: object,
    size: int,
    template: Template | None = None,
    localiser: str | None = None,
    refine: int | None = None,
    look_again: float | None = None,
    handedness: object | None = None,
) -> tuple[dict, list[LabelledVideo], list[np.ndarray]]:
    """The located protocol on `tpt-live synth` output: every video goes through `tpt-live track` itself
    (localiser, crop and turn, no smoothing); predictions and ground truth are both mapped into the input the
    ground truth's own body axis would frame (`gt_framed`), so errors are in % of S of a perfectly framed
    crop whatever crop the tracker chose. With `template`, `template_only_error_pct` is the untransformed
    template placed in the tracker's crops. Returns the metrics, the videos (`kp2d` in source pixels, `box`
    the identity (0, 0, S, S), no frames) and the predictions in source pixels. `localiser`: a localiser
    file (None: the shipped one); `refine`, `look_again`: `track --refine`, `--look-again` (None: their defaults);
    `handedness`: `track --handedness`'s model (a PoseBackend), or None."""
    from tpt_live.crop import to_source, unturn_points_by
    from tpt_live.track.pipeline import TrackConfig, Tracker
    from tpt_live.track.sources import VideoSource, resolve_sources

    videos, preds, framed, bases = [], [], [], []
    for gt_path, gt in _labelled_files(data_dir):
        source = VideoSource(resolve_sources([str(gt_path.with_suffix(".mp4"))])[0], size, None, fixed_crop=False)
        config = TrackConfig(locate=True, head="auto", localiser=localiser)
        config = config if refine is None else replace(config, refine=refine)
        config = config if look_again is None else replace(config, look_again=look_again)
        results = list(Tracker(source, backend, config, handedness).results())  # type: ignore[arg-type]
        kp2d = np.array([f["kp2d"] for f in gt["frames"]], np.float64)
        if len(results) != len(kp2d) or any(r.kp2d_raw is None or r.box is None for r in results):
            raise SourceError(f"{gt_path.stem}: {len(results)} tracked frames for {len(kp2d)} ground-truth records")
        pred = np.stack([r.kp2d_raw[:, :2] for r in results if r.kp2d_raw is not None]).astype(np.float64)
        kp3d = np.array([f["kp3d"] for f in gt["frames"]], np.float64)
        videos.append(LabelledVideo(gt_path.stem, np.zeros((0, size, size, 3), np.uint8), kp2d, kp3d,
                                    CropBox(0, 0, size, size)))  # fmt: skip
        preds.append(pred)
        framed.append((gt_framed(pred, kp2d, size), gt_framed(kp2d, kp2d, size)))
        if template is not None:
            joints = template.joints(size).astype(np.float64)
            base = [to_source(unturn_points_by(joints, r.turn, size), r.box, size) for r in results if r.box]
            bases.append(gt_framed(np.stack(base), kp2d, size))
    pred_f, gt_f = (np.concatenate(x) for x in zip(*framed, strict=True))
    result = summarize(pred_f, gt_f, size)
    result["per_video"] = {
        v.name: summarize(p, g, size)["mean_error_pct"] for v, (p, g) in zip(videos, framed, strict=True)
    }
    if bases:
        result["template_only_error_pct"] = float(summarize(np.concatenate(bases), gt_f, size)["mean_error_pct"])
    result["protocol"] = (
        f"located: each video through `tpt-live track` (localiser, crop, turn; unsmoothed); error in % of {size} px "
        "of the crop the ground truth's own body axis frames; all 16 joints; mean_error_pct allows a left/right "
        "swap per frame, *_strict does not"
    )
    return result, videos, preds


def _labelled_files(data_dir: str | Path) -> list[tuple[Path, dict]]:
    """The ground-truth JSON files of `data_dir` that have a video beside them and list our joints, read."""
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of `tpt-live synth` output")
    found = []
    for gt_path in sorted(root.glob("*.json")):
        if not gt_path.with_suffix(".mp4").exists():
            continue
        gt = json.loads(gt_path.read_text())
        if list(gt.get("joints", [])) != list(JOINT_NAMES):
            raise InputError(f"{gt_path} does not list the joints {JOINT_NAMES}")
        found.append((gt_path, gt))
    if not found:
        raise InputError(f"{root} holds no <name>.mp4 + <name>.json pairs (make some with `tpt-live synth`)")
    return found
