"""benchmarks/peer_agreement.py's torso-shape diagnostic: widths and trunk length against the peer's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tpt_live.skeleton import JOINT_INDEX, NUM_JOINTS

_SPEC = importlib.util.spec_from_file_location(
    "peer_agreement", Path(__file__).parents[1] / "benchmarks" / "peer_agreement.py"
)
assert _SPEC is not None and _SPEC.loader is not None
peer_agreement = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(peer_agreement)


def torso(shoulders: float, hips: float, trunk: float) -> np.ndarray:
    kp = np.zeros((NUM_JOINTS, 2))
    kp[JOINT_INDEX["left_shoulder"]], kp[JOINT_INDEX["right_shoulder"]] = (shoulders / 2, 0.0), (-shoulders / 2, 0.0)
    kp[JOINT_INDEX["left_hip"]], kp[JOINT_INDEX["right_hip"]] = (hips / 2, trunk), (-hips / 2, trunk)
    return kp


def test_torso_shape_is_the_median_ratio_over_frames_the_peer_is_sure_of() -> None:
    gt = np.stack([torso(20, 16, 30)] * 3)
    pred = np.stack([torso(10, 4, 30), torso(10, 4, 30), torso(40, 40, 60)])
    ok = np.ones((3, NUM_JOINTS), bool)
    ok[2, JOINT_INDEX["left_hip"]] = False  # the third frame does not count
    got = peer_agreement.torso_shape(pred, gt, ok)
    assert got == {"frames": 2, "shoulder_width": 0.5, "hip_width": 0.25, "trunk_length": 1.0}
    ok[:, JOINT_INDEX["left_hip"]] = False
    assert peer_agreement.torso_shape(pred, gt, ok) == {}
    ok[:] = True
    assert peer_agreement.torso_shape(pred, gt, ok)["trunk_length"] == pytest.approx(1.0)  # median of 1, 1, 2
