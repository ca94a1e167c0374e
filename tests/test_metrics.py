import numpy as np
import pytest

from tpt_live.evaluation.metrics import joint_errors_pct, summarize
from tpt_live.skeleton import FLIP_INDEX, JOINT_INDEX


def test_ground_truth_against_itself_is_zero():
    gt = np.random.default_rng(0).uniform(0, 64, (5, 16, 2))
    r = summarize(gt, gt, 64)
    assert r["mean_error_pct"] == 0.0 and r["mean_error_pct_strict"] == 0.0
    assert r["pck@0.05"] == 1.0 and r["n_frames"] == 5


def test_error_in_percent_of_size():
    gt = np.zeros((1, 16, 2))
    pred = gt.copy()
    pred[0, JOINT_INDEX["pelvis"]] = (3.0, 4.0)  # 5 px off on a 100 px image
    err = joint_errors_pct(pred, gt, 100)
    assert err[0, JOINT_INDEX["pelvis"]] == pytest.approx(5.0)
    assert summarize(pred, gt, 100)["mean_error_pct"] == pytest.approx(5.0 / 16)


def test_swap_tolerance():
    gt = np.random.default_rng(1).uniform(0, 64, (2, 16, 2))
    swapped = gt[:, list(FLIP_INDEX)]
    assert summarize(swapped, gt, 64)["mean_error_pct"] == pytest.approx(0.0)
    assert summarize(swapped, gt, 64)["mean_error_pct_strict"] > 1.0
    r = summarize(swapped, gt, 64)
    assert set(r["per_part"]) == {"hips", "knees", "feet", "shoulders", "hands"}
