"""Lifter geometry (conventions pinned with literals), network, files, ONNX parity and 3D metrics."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.onnx_export import export_model
from engines.ort_backend import OrtBackend
from engines.torch_backend import TorchBackend
from tpt_live.errors import InputError, ModelError
from tpt_live.evaluation.evaluate3d import depth_oracle, evaluate_3d, flat_pose, n_mpjpe, p_mpjpe
from tpt_live.lifter import (
    KeypointLifter,
    Lifter,
    LifterConfig,
    TemporalLifter,
    chain_length,
    lift_from_depth,
    load_lifter,
    normalise_2d,
    project,
    rotate,
    rotation_matrix,
    save_lifter,
    to_metric,
    upright_turn,
)
from tpt_live.model import ModelConfig, TptModel
from tpt_live.skeleton import BONE_INDEX, JOINT_INDEX, NUM_JOINTS
from tpt_live.template import load_template
from trainer.lifter_train import cycle_losses

TINY = LifterConfig(hidden=16, blocks=1)


def _pose(seed: int = 0) -> torch.Tensor:
    """A random root-centred 3D pose (J, 3) in lifter units."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(NUM_JOINTS, 3, generator=g, dtype=torch.float64)
    return X - X[0]


def _random_lifter(seed: int = 0) -> Lifter:
    torch.manual_seed(seed)
    lifter = Lifter(TINY)
    torch.nn.init.normal_(lifter.out.weight, std=0.3)
    return lifter.eval()


# -- conventions --------------------------------------------------------------------------------------
def test_rotation_convention_literals() -> None:
    rz = rotation_matrix(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(math.pi / 2))
    rx = rotation_matrix(torch.tensor([2.0, 0.0, 0.0]), torch.tensor(math.pi / 2))  # axis length does not matter
    assert torch.allclose(rz @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # right->down
    assert torch.allclose(rx @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)  # down->fwd
    R = rotation_matrix(torch.randn(5, 3), torch.randn(5))
    assert torch.allclose(R @ R.mT, torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(5), atol=1e-5)
    points = torch.tensor([[[1.0, 0.0, 0.0]]])
    assert torch.allclose(rotate(points, rz[None]), torch.tensor([[[0.0, 1.0, 0.0]]]), atol=1e-6)


def test_projection_literals() -> None:
    X = torch.tensor([[1.0, 2.0, 0.0], [1.0, 0.0, 10.0], [3.0, -1.0, -5.0]])
    assert torch.allclose(project(X, 10.0), torch.tensor([[0.1, 0.2], [0.05, 0.0], [0.6, -0.2]]))


def test_normalise_literal_and_invariances() -> None:
    kp = torch.zeros(NUM_JOINTS, 2)
    kp[:] = torch.tensor([10.0, 20.0])
    kp[JOINT_INDEX["neck"]] = torch.tensor([10.0, 0.0])  # neck 20 px above the pelvis
    kp[JOINT_INDEX["head"]] = torch.tensor([15.0, -10.0])
    x, scale = normalise_2d(kp, norm="root_neck")
    assert float(scale) == pytest.approx(0.005)
    assert torch.allclose(x[JOINT_INDEX["neck"]], torch.tensor([0.0, -0.1]))
    assert torch.allclose(x[JOINT_INDEX["head"]], torch.tensor([0.025, -0.15]))
    assert torch.equal(x[JOINT_INDEX["pelvis"]], torch.zeros(2))
    # bones: only thorax-neck (20 px) and neck-head (sqrt(125) px) are non-zero; mean over 15 -> 0.04
    x, scale = normalise_2d(kp)
    assert float(scale) == pytest.approx(0.04 * 15 / (20 + 125**0.5))
    assert torch.allclose(x[JOINT_INDEX["neck"]], torch.tensor([0.0, -20.0]) * scale)
    pts = torch.randn(4, NUM_JOINTS, 2) * 30 + 50
    for norm in ("bones", "root_neck"):
        a, _ = normalise_2d(pts, norm=norm)
        b, _ = normalise_2d(pts * 2.5 + torch.tensor([7.0, -3.0]), norm=norm)
        assert torch.allclose(a, b, atol=1e-5)
    neck = torch.linalg.vector_norm(normalise_2d(pts, norm="root_neck")[0][:, JOINT_INDEX["neck"]], dim=-1)
    assert torch.allclose(neck, torch.full((4,), 0.1))
    a, _ = normalise_2d(pts)
    bones = torch.stack([a[:, j] - a[:, i] for i, j in BONE_INDEX], 1).norm(dim=-1).mean(-1)
    assert torch.allclose(bones, torch.full((4,), 0.04), atol=1e-6)
    with pytest.raises(InputError):
        normalise_2d(pts, norm="height")


def test_normalise_stays_bounded_when_the_trunk_points_at_the_camera() -> None:
    """A standing body tipped so its pelvis-to-neck axis points at the camera: the root-to-neck length in
    the image nearly vanishes and its normalisation explodes, the bone normalisation stays within 0.6."""
    rng = np.random.default_rng(3)
    body = np.zeros((NUM_JOINTS, 3))  # metres, y down, the trunk along -y (up), left on +x
    for name, xyz in {"thorax": (0, -0.5, 0), "neck": (0, -0.65, 0), "head": (0, -0.75, 0),
                      "left_hip": (0.1, 0, 0), "right_hip": (-0.1, 0, 0), "left_knee": (0.1, 0.43, 0),
                      "right_knee": (-0.1, 0.43, 0.1), "left_ankle": (0.1, 0.86, 0), "right_ankle": (-0.1, 0.8, 0.2),
                      "left_shoulder": (0.18, -0.5, 0), "right_shoulder": (-0.18, -0.5, 0),
                      "left_elbow": (0.2, -0.2, 0.05), "right_elbow": (-0.2, -0.2, 0), "left_wrist": (0.22, 0.05, 0.1),
                      "right_wrist": (-0.3, 0.05, 0.1)}.items():  # fmt: skip
        body[JOINT_INDEX[name]] = xyz
    tip = rotation_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(-math.pi / 2)).double().numpy()
    for R, trunk_on_axis in ((np.eye(3), False), (tip, True)):
        X = body @ R.T + np.array([0.0, 0.0, 4.0]) + rng.normal(size=3) * 0.001
        kp = torch.as_tensor(X[:, :2] / X[:, 2:] * 800.0 + 320.0)
        assert (abs(float(X[JOINT_INDEX["neck"], 1] - X[0, 1])) < 0.01) == trunk_on_axis
        bones, _ = normalise_2d(kp)
        root_neck, _ = normalise_2d(kp, norm="root_neck")
        assert float(bones.abs().max()) <= 0.6
        if trunk_on_axis:
            assert float(root_neck.abs().max()) > 2.0  # the old normalisation explodes
        else:
            assert float(bones.abs().max()) == pytest.approx(float(root_neck.abs().max()), rel=0.5)


def test_lift_from_depth_reprojects_and_clamps() -> None:
    x = torch.tensor([[0.0, 0.0], [0.1, -0.2]] + [[0.0, 0.0]] * (NUM_JOINTS - 2))
    d = torch.zeros(NUM_JOINTS)
    d[1] = 2.0
    Y = lift_from_depth(x, d, c=10.0)
    assert torch.allclose(Y[1], torch.tensor([1.2, -2.4, 2.0]))  # (x z, y z, z - c) with z = 12
    assert torch.equal(Y[0], torch.zeros(3))
    assert torch.allclose(project(Y, 10.0), x)
    d[1] = -50.0  # z clamps at min_depth = 1
    assert torch.allclose(lift_from_depth(x, d)[1], torch.tensor([0.1, -0.2, -9.0]))


def test_to_metric_sets_the_chain_length() -> None:
    X = _pose(1)
    assert float(chain_length(to_metric(X, 0.55))) == pytest.approx(0.55)
    with pytest.raises(InputError):
        LifterConfig(camera_distance=0.5)


# -- network ------------------------------------------------------------------------------------------
def test_untrained_lifter_is_flat_and_consistent() -> None:
    lifter = Lifter(TINY).eval()
    x, _ = normalise_2d(torch.randn(3, NUM_JOINTS, 2))
    Y = lifter(x)
    assert Y.shape == (3, NUM_JOINTS, 3)
    assert torch.allclose(Y[..., 2], torch.zeros(3, NUM_JOINTS))
    Y = _random_lifter()(x)
    assert torch.equal(Y[:, 0], torch.zeros(3, 3)) and Y[..., 2].abs().max() > 0
    assert torch.allclose(project(Y, 10.0), x, atol=1e-6)


def test_upright_turn_literals() -> None:
    x = torch.zeros(2, NUM_JOINTS, 2)
    for name, at in (("thorax", 1.0), ("neck", 2.0), ("head", 3.0)):
        x[0, JOINT_INDEX[name]] = torch.tensor([at, 0.0])  # trunk pointing right
    M = upright_turn(x)  # the second pose has no trunk at all: identity
    assert torch.allclose(M[0], torch.tensor([[0.0, 1.0], [-1.0, 0.0]]), atol=1e-5)
    assert torch.allclose(M[1], torch.eye(2))
    assert torch.allclose((x @ M.mT)[0, JOINT_INDEX["neck"]], torch.tensor([0.0, -2.0]), atol=1e-5)  # points up (-y)
    M = upright_turn(torch.randn(50, NUM_JOINTS, 2))
    assert torch.allclose(torch.linalg.det(M), torch.ones(50), atol=1e-5)  # a turn, never a mirror


@pytest.mark.parametrize("window", [1, 3])
def test_a_roll_invariant_lifter_turns_with_the_camera(window: int) -> None:
    a = 2.2  # camera roll: the image turns about the optical axis
    turn2 = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    turn3 = torch.eye(3)
    turn3[:2, :2] = turn2
    g = torch.Generator().manual_seed(5)
    kp = 40 * torch.randn(4, *([window] if window > 1 else []), NUM_JOINTS, 2, generator=g) + 100
    for invariant in (True, False):
        torch.manual_seed(0)
        cfg = LifterConfig(hidden=16, blocks=1, window=window, roll_invariant=invariant)
        lifter = TemporalLifter(cfg) if window > 1 else Lifter(cfg)
        torch.nn.init.normal_(lifter.out.weight, std=0.3)
        lifter.eval()
        Y, Y_turned = lifter(lifter.normalise(kp)), lifter(lifter.normalise(kp @ turn2.mT))
        gap = float((Y @ turn3.mT - Y_turned).abs().max().detach())
        assert (gap < 2e-4) if invariant else (gap > 1e-2)
    assert load_lifter(save_lifter(lifter, Path(tempfile.mkdtemp()) / "r.safetensors")).cfg == lifter.cfg


def test_shipped_lifters_roll_settings() -> None:
    """The shipped upright and infant files are the roll-invariant default configuration; the monitor's posture
    lifter (the infant file shipped before) predates it."""
    from tpt_live.checkpoint import default_lifter_path, posture_lifter_path

    upright = load_lifter(default_lifter_path(template="tpose"))
    assert upright.cfg.roll_invariant and upright.cfg.window == 9 and upright.cfg.norm == "bones"
    assert upright.metadata["training"]["views"] == "upright" and upright.metadata["training"]["seed"] == 0
    infant = load_lifter(default_lifter_path(template="infant"))
    assert infant.cfg.roll_invariant and infant.cfg.window == 1 and infant.cfg.norm == "bones"
    assert infant.metadata["training"]["views"] == "infant" and infant.metadata["training"]["seed"] == 0
    posture = load_lifter(posture_lifter_path())
    assert not posture.cfg.roll_invariant and posture.cfg.norm == "root_neck"


def test_cycle_losses_are_zero_for_a_consistent_pose() -> None:
    P = _pose(2)[None] * 0.5
    R = rotation_matrix(torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64))
    candidates = [P, rotate(P, R)]

    def oracle(x: torch.Tensor) -> torch.Tensor:  # the true 3D of whichever view it is shown
        errors = [float((project(Q) - x).abs().max()) for Q in candidates]
        return candidates[int(np.argmin(errors))]

    l2d, l3d, Y, xr = cycle_losses(project(P), oracle, R)
    assert float(l2d) < 1e-20 and float(l3d) < 1e-20
    assert torch.allclose(xr, project(rotate(P, R)))
    flat = Lifter(LifterConfig(hidden=8, blocks=0)).double()
    with torch.no_grad():
        l2d, l3d, _, _ = cycle_losses(project(P), flat, R)
    assert float(l2d) > 1e-4 and float(l3d) > 1e-4


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    lifter = _random_lifter()
    path = save_lifter(lifter, tmp_path / "l.safetensors", extra={"note": "x"})
    again = load_lifter(path)
    x, _ = normalise_2d(torch.randn(2, NUM_JOINTS, 2))
    assert torch.equal(lifter(x), again(x))
    assert again.cfg == TINY and again.metadata["note"] == "x"
    assert path.with_suffix(".json").is_file()
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(ModelError):
        load_lifter(tmp_path / "bad.safetensors")
    with pytest.raises(InputError):
        load_lifter(tmp_path / "missing.safetensors")


def test_onnx_kp3d_matches_pytorch(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16)), load_template("infant")).eval()
    torch.nn.init.normal_(model.regressor.head.weight, std=0.02)
    lifter = _random_lifter(3)
    onnx_path = export_model(model, tmp_path / "m.onnx", lifter=lifter)
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    ort = OrtBackend(onnx_path, device="cpu").infer(frames)
    ref = TorchBackend(model, device="cpu", lifter=lifter).infer(frames)
    assert ref.kp3d is not None and ort.kp3d is not None and ort.kp3d.shape == (3, NUM_JOINTS, 3)
    np.testing.assert_allclose(ort.kp3d, ref.kp3d, atol=1e-4)
    with torch.no_grad():
        direct = KeypointLifter(lifter)(torch.from_numpy(ref.keypoints)).numpy()
    np.testing.assert_allclose(ref.kp3d, direct, atol=1e-6)
    assert TorchBackend(model, device="cpu", lifter=False).infer(frames).kp3d is None


# -- metrics ------------------------------------------------------------------------------------------
def test_ground_truth_against_itself_is_zero_and_flat_is_not() -> None:
    rng = np.random.default_rng(0)
    gt3d = rng.normal(size=(20, NUM_JOINTS, 3)) * 0.1 + np.array([0.0, 0.0, 1.0])
    gt2d = gt3d[..., :2] / gt3d[..., 2:] * 100 + 32
    G = gt3d - gt3d[:, :1]
    assert p_mpjpe(G, G) == pytest.approx(0.0, abs=1e-9) and n_mpjpe(G, G) == pytest.approx(0.0, abs=1e-9)
    R = rotation_matrix(torch.tensor([0.3, 1.0, 0.2], dtype=torch.float64), torch.tensor(0.7)).numpy()
    assert p_mpjpe(2.0 * G @ R.T, G) == pytest.approx(0.0, abs=1e-9)
    mirrored = G * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, G, reflection=True) == pytest.approx(0.0, abs=1e-9)
    assert p_mpjpe(mirrored, G) > 0.01
    result = evaluate_3d(gt2d, gt3d, None)
    assert result["flat_p_mpjpe_mm"] > 1.0
    assert flat_pose(gt2d)[..., 2].max() == 0.0


def test_depth_oracle_is_exact_where_the_geometry_holds_and_keeps_2d_noise() -> None:
    """True depths lifted through the lifter's geometry: exact when the camera sits 1 / root_neck = 10
    root-to-neck lengths from the root (the distance the normalisation implies), and no better than the
    2D it is given (2D noise stays in the pose)."""
    rng = np.random.default_rng(1)
    G = rng.normal(size=(30, NUM_JOINTS, 3)) * 0.05
    G[:, 0] = 0.0
    G[:, 2] = [0.0, -0.1, 0.0]  # the neck, side-on: root-to-neck length 0.1 m
    P = G + np.array([0.0, 0.0, 1.0])  # root 1 m = 10 root-to-neck lengths away
    gt2d = P[..., :2] / P[..., 2:] * 500.0 + 32.0
    assert p_mpjpe(depth_oracle(gt2d, P, norm="root_neck"), G) == pytest.approx(0.0, abs=1e-9)
    exact = evaluate_3d(gt2d, P, None)  # the default bone normalisation implies another distance
    assert exact["oracle_depth_p_mpjpe_mm"] < 0.05 * exact["flat_p_mpjpe_mm"]
    assert exact["flat_p_mpjpe_mm"] > 10.0
    noisy = evaluate_3d(gt2d + rng.normal(size=gt2d.shape) * 0.5, P, None)
    assert 0.1 < noisy["oracle_depth_p_mpjpe_mm"] < noisy["flat_p_mpjpe_mm"]
    lifted = depth_oracle(gt2d, P)
    assert lifted.shape == G.shape and np.abs(lifted[:, 0]).max() == 0.0


def test_the_template_picks_the_shipped_lifter() -> None:
    from tpt_live.checkpoint import default_lifter_path

    infant, upright = default_lifter_path(template="infant"), default_lifter_path(template="tpose")
    assert infant.name == "lifter.safetensors" and upright.name == "lifter_upright.safetensors"
    assert default_lifter_path() == infant and default_lifter_path(template="arms_down") == upright
    assert default_lifter_path(supervised=True, template="tpose").name == "lifter_supervised.safetensors"
    adult = load_lifter(upright)
    assert adult.cfg.norm == "bones" and adult.cfg.body_length_m == pytest.approx(1.65)
    # the `train-lifter --views upright` defaults: joint limits (None resolves to 10 for upright views), W = 9
    assert adult.metadata["training"]["views"] == "upright" and adult.metadata["training"]["w_limits"] is None
    from tpt_live.lifter import UPRIGHT_WINDOW

    assert adult.cfg.window == UPRIGHT_WINDOW == 9
    assert load_lifter(infant).cfg.norm == "bones" and load_lifter(infant).cfg.body_length_m == pytest.approx(0.55)


def test_depth_flip_better_counts_frames_with_the_wrong_depth_sign() -> None:
    from tpt_live.evaluation.evaluate3d import depth_flip_better

    rng = np.random.default_rng(4)
    G = rng.normal(size=(20, NUM_JOINTS, 3)) * 0.2
    G -= G[:, :1]
    mirrored = G * np.array([1.0, 1.0, -1.0])
    assert depth_flip_better(G, G) == 0.0 and depth_flip_better(mirrored, G) == 1.0
    half = np.concatenate([G[:10], mirrored[10:]])
    assert depth_flip_better(half, G) == 0.5
