"""benchmarks/peer_agreement.py: the torso-shape diagnostic (widths, trunk length against the peer's) and `versus`."""

from __future__ import annotations

import importlib.util
import json
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


def _peer_file(path: Path, frames: list) -> Path:
    path.write_text(json.dumps({"frames": [{"idx": i, "kp": kp} for i, kp in enumerate(frames)]}))
    return path


def test_versus_counts_the_frames_the_peer_lost_as_misses(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    body = np.column_stack([rng.uniform(0, 100, (17, 2)), np.ones(17)])
    body[[5, 6, 11, 12], :2] = (0.0, 0.0), (30.0, 0.0), (0.0, 40.0), (30.0, 40.0)  # both torso diagonals 50 px
    moved = body.copy()
    moved[:, 0] += 6.0  # 0.12 torso diagonals: inside PCK@0.2, outside PCK@0.1
    ref = _peer_file(tmp_path / "ref.json", [body.tolist()] * 4)
    var = _peer_file(tmp_path / "var.json", [body.tolist(), moved.tolist(), None, body.tolist()])
    got = peer_agreement.versus(var, ref, 0.5)
    assert got["frames"] == 4 and got["variant_found"] == 3 and got["frames_scored"] == 4
    assert got["pck@0.2"] == pytest.approx(0.75)  # the lost frame: every joint a miss
    assert got["pck@0.1"] == pytest.approx(0.5)  # the moved frame misses at 0.1 too


def test_score_auc_ranks_agreeing_joints_by_their_score() -> None:
    gt = np.zeros((2, NUM_JOINTS, 2))
    torso = np.full(2, 50.0)  # a hit is within 10 px
    pred = gt.copy()
    pred[:, ::2, 0] = 30.0  # every other joint off by 30 px: a miss
    ok = np.ones((2, NUM_JOINTS), bool)
    scores = np.where(np.arange(NUM_JOINTS) % 2 == 0, 0.2, 0.9)[None].repeat(2, 0)  # misses scored low
    assert peer_agreement.score_auc(pred, scores, gt, ok, torso) == 1.0
    assert peer_agreement.score_auc(pred, 1.0 - scores, gt, ok, torso) == 0.0
    assert peer_agreement.score_auc(pred, np.full_like(scores, 0.5), gt, ok, torso) == 0.5  # all tied: chance
    mixed = scores.copy()
    mixed[0, 0] = 0.95  # one miss above every hit: 16 of 256 pairs wrong
    assert peer_agreement.score_auc(pred, mixed, gt, ok, torso) == pytest.approx(1 - 16 / 256, abs=1e-3)
    ok[:, ::2] = False  # the peer is sure only of the hits
    assert peer_agreement.score_auc(pred, scores, gt, ok, torso) is None
