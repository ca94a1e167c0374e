"""Keypoint error on a `tpt-live synth` folder while training (`tpt-live train --val`); reports only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tpt_live.evaluation.evaluate2d import evaluate_2d, load_labelled
from tpt_live.model import TptModel


def synth_validator(folder: str, size: int) -> Callable[[TptModel], dict[str, float]]:
    """A callback: model -> {"err_pct": mean error in % of S, <part>: error per part}."""
    videos = load_labelled(folder, size)

    def validate(model: TptModel) -> dict[str, float]:
        def predict(frames: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                batch = torch.from_numpy(frames).permute(0, 3, 1, 2).to(model.maps.device)
                return model.poses(batch).keypoints.cpu().numpy()

        r = evaluate_2d(videos, predict, size)
        return {"err_pct": round(r["mean_error_pct"], 3), **{k: round(v, 2) for k, v in r["per_part"].items()}}

    return validate
