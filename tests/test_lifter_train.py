"""Lifter training: pose files in, view sampler, losses, a tiny run whose loss falls, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tpt_live.cli import app
from tpt_live.errors import InputError
from tpt_live.lifter import LifterConfig, load_lifter
from tpt_live.skeleton import JOINT_NAMES, NUM_JOINTS
from trainer.lifter_train import (
    LifterTrainConfig,
    PoseSequences,
    bone_lengths,
    bone_loss,
    ema_decay,
    load_sequences,
    reference_ratios,
    sample_rotations,
    train_lifter,
)

TINY = LifterConfig(hidden=32, blocks=1)


def _walk(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A moving random 3D pose seen by a pinhole camera: (n, J, 2) pixels, (n, J, 3) metres."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(NUM_JOINTS, 3)) * np.array([0.1, 0.1, 0.03])
    t = np.linspace(0, 2 * np.pi, n)[:, None, None]
    X = base + 0.02 * np.sin(t + rng.normal(size=(NUM_JOINTS, 3))) + np.array([0.0, 0.0, 1.0])
    return X[..., :2] / X[..., 2:] * 90 + 32, X


def _synth_json(path: Path, n: int, seed: int) -> None:
    kp2d, kp3d = _walk(n, seed)
    frames = [{"idx": i, "kp2d": kp2d[i].tolist(), "kp3d": kp3d[i].tolist()} for i in range(n)]
    path.write_text(json.dumps({"format": "tpt-live-synth", "joints": list(JOINT_NAMES), "frames": frames}))


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("poses")
    for i in range(3):
        _synth_json(folder / f"v{i}.json", 40, i)
    return folder


def test_load_synth_and_track_json(synth_dir: Path, tmp_path: Path) -> None:
    seqs = load_sequences([synth_dir])
    assert len(seqs.kp2d) == 3 and seqs.kp2d[0].shape == (40, NUM_JOINTS, 2)
    assert seqs.kp3d is not None and seqs.kp3d[0].shape == (40, NUM_JOINTS, 3)
    kp2d, _ = _walk(6, 0)
    frames: list[dict] = [{"idx": i, "status": "ok", "kp2d": [[*p, 0.9] for p in kp2d[i].tolist()]} for i in range(6)]
    frames[2] = {"idx": 2, "status": "dropped"}  # a gap splits the sequence
    track = tmp_path / "track.json"
    track.write_text(json.dumps({"schema": "tpt-live/poses", "keypoints": list(JOINT_NAMES), "frames": frames}))
    seqs = load_sequences([track])
    assert [len(k) for k in seqs.kp2d] == [2, 3] and seqs.kp3d is None
    np.testing.assert_allclose(seqs.kp2d[1][0], kp2d[3])
    (tmp_path / "other.json").write_text(json.dumps({"frames": []}))
    with pytest.raises(InputError):
        load_sequences([tmp_path / "other.json"])


def test_view_sampler_fits_the_domain() -> None:
    gen = torch.Generator().manual_seed(0)
    R = sample_rotations(500, LifterTrainConfig(views="infant"), gen)
    tilt = torch.rad2deg(torch.arccos(R[:, 2, 2].clamp(-1, 1)))  # angle between old and new optical axes
    assert float(tilt.min()) > 19.9 and float(tilt.max()) < 40.1
    # the axis is horizontal (in the image plane): R is symmetric in the xy-block
    assert torch.allclose(R[:, 0, 1], R[:, 1, 0], atol=1e-6)
    R = sample_rotations(500, LifterTrainConfig(views="upright", elevation_deg=20.0), gen)
    elevation = torch.rad2deg(torch.arcsin(R[:, 2, 1].clamp(-1, 1)))  # y (vertical) tipped toward z
    assert float(elevation.abs().max()) < 20.1 and float(R[:, 0, 2].abs().max()) > 0.95  # full azimuth
    with pytest.raises(InputError):
        LifterTrainConfig(views="sideways")


def test_bone_prior_is_zero_at_the_reference() -> None:
    _, X = _walk(1, 3)
    Y = torch.as_tensor(X - X[:, :1], dtype=torch.float64)
    Y = 0.5 * (Y + Y[:, [0, 1, 2, 3, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14]] * torch.tensor([-1.0, 1.0, 1.0]))
    ref = reference_ratios(Y, quantile=0.5)
    assert float(bone_loss(Y, ref)) == pytest.approx(0.0, abs=1e-12)
    assert float(bone_loss(Y * torch.tensor([1.0, 1.0, 3.0]), ref)) > 1e-4
    assert bone_lengths(Y).shape == (1, len(ref))


def _first_last(run: Path) -> tuple[dict, dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return rows[0], rows[-1]


def test_tiny_unsupervised_run_loss_falls(synth_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    seqs = load_sequences([synth_dir])
    seqs = PoseSequences(seqs.kp2d, None, seqs.names)  # no 3D labels
    cfg = LifterTrainConfig(steps=150, batch=64, flow_steps=100, noise=0.0, lr=2e-3)
    path = train_lifter(seqs, tmp_path, cfg, TINY, log_every=10)
    first, last = _first_last(tmp_path)
    assert last["cycle2d"] + last["cycle3d"] + last["bone"] < first["cycle2d"] + first["cycle3d"] + first["bone"]
    assert load_lifter(path).metadata["training"]["views"] == "infant"


def test_ema_saves_a_moving_average_of_the_late_weights(synth_dir: Path, tmp_path: Path) -> None:
    """The saved weights are an average (not the last step's) whose window is at most a third of the run."""
    assert ema_decay(0.999, 3000) == 0.999 and ema_decay(0.999, 300) == pytest.approx(0.99)
    assert ema_decay(0.0, 3000) == 0.0 and ema_decay(0.999, 2) == 0.0
    with pytest.raises(InputError, match="ema"):
        LifterTrainConfig(ema=1.0)
    torch.set_num_threads(1)
    seqs = load_sequences([synth_dir])
    weights = {}
    for name, ema in (("plain", 0.0), ("again", 0.0), ("ema", 0.999)):
        cfg = LifterTrainConfig(steps=30, batch=16, lr=1e-2, ema=ema)
        weights[name] = dict(load_lifter(train_lifter(seqs, tmp_path / name, cfg, TINY)).state_dict())
    keys = [k for k in weights["plain"] if k.endswith("weight")]
    gap = {n: max(float((weights[n][k] - weights["plain"][k]).abs().max()) for k in keys) for n in ("again", "ema")}
    assert gap["again"] == 0.0 and gap["ema"] > 1e-3  # runs repeat exactly; the average is not the last step


def test_tiny_supervised_run_loss_falls(synth_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = LifterTrainConfig(steps=150, batch=64, supervised=True, noise=0.0, lr=2e-3)
    train_lifter(load_sequences([synth_dir]), tmp_path, cfg, TINY, log_every=10)
    first, last = _first_last(tmp_path)
    assert last["sup"] < 0.7 * first["sup"]
    with pytest.raises(InputError):
        train_lifter(PoseSequences([np.zeros((3, NUM_JOINTS, 2))], None, ["x"]), tmp_path, cfg, TINY)


def test_train_lifter_cli(synth_dir: Path, tmp_path: Path) -> None:
    args = ["train-lifter", str(synth_dir), "--out", str(tmp_path), "--steps", "5", "--prior", "flow",
            "--body-length", "0.6", "--hidden", "16", "--quiet", "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lifter = load_lifter(tmp_path / "lifter.safetensors")
    assert lifter.cfg.body_length_m == 0.6 and lifter.metadata["training"]["prior"] == "flow"
    assert math.isfinite(json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["loss"])


# -- absolute bone ratios and the lying-on-a-mat sign prior -------------------------------------------
def _template_pose() -> torch.Tensor:
    """The infant template's joints as a flat 3D pose (1, J, 3), root-centred, z = 0 (camera axes)."""
    from tpt_live.template import load_template

    xy = torch.as_tensor(load_template("infant").joints(256), dtype=torch.float32)
    X = torch.cat([xy, torch.zeros(NUM_JOINTS, 1)], -1)[None]
    return X - X[:, :1]


def test_template_bone_ratios_are_absolute_and_symmetric() -> None:
    from tpt_live.skeleton import BONES
    from trainer.lifter_train import template_bone_ratios

    r = template_bone_ratios("infant")
    assert len(r) == len(BONES)
    assert r[0] + r[1] == pytest.approx(1.0)  # pelvis-thorax + thorax-neck is the unit
    assert r[5] == pytest.approx(r[6]) and r[9] == pytest.approx(r[10])  # left == right
    assert 0.4 < r[5] < 0.5  # thigh: 0.10 m of a 0.225 m pelvis-to-neck infant


def test_bone_prior_is_zero_for_prescribed_lengths_and_scale_free() -> None:
    from trainer.lifter_train import template_bone_ratios

    ref = torch.tensor(template_bone_ratios("infant"))
    X = _template_pose()
    assert float(bone_loss(X, ref)) < 1e-10
    assert float(bone_loss(3.7 * X, ref)) < 1e-10
    longer = X.clone()
    longer[:, JOINT_NAMES.index("left_wrist")] *= 1.5
    assert float(bone_loss(longer, ref)) > 1e-4


def test_sign_prior_zero_when_flat_or_raised_positive_through_the_mat() -> None:
    from trainer.lifter_train import sign_loss

    X = _template_pose()
    X = X / X[0, JOINT_NAMES.index("neck")].norm()  # unit root-to-neck length
    assert float(sign_loss(X)) == 0.0
    raised = X.clone()
    raised[:, JOINT_NAMES.index("left_wrist"), 2] = -0.8  # towards the camera (z forward)
    assert float(sign_loss(raised)) == 0.0
    sunk = X.clone()
    sunk[:, JOINT_NAMES.index("left_wrist"), 2] = 0.8  # 0.8 root-to-neck lengths behind the torso plane
    assert float(sign_loss(sunk, margin=0.25)) == pytest.approx((0.8 - 0.25) ** 2 / NUM_JOINTS, rel=1e-3)
    stood = X[..., [0, 2, 1]]  # torso plane edge-on to the camera
    assert float(sign_loss(stood, max_tilt_deg=45.0)) > 0.4


def test_load_bone_ratios_file_and_errors(tmp_path: Path) -> None:
    from tpt_live.skeleton import BONES
    from trainer.lifter_train import load_bone_ratios, template_bone_ratios

    good = tmp_path / "bones.json"
    ratios = template_bone_ratios("infant")
    good.write_text(json.dumps({f"{a}-{b}": 2.0 * r for (a, b), r in zip(BONES, ratios, strict=True)}))
    assert load_bone_ratios(good) == pytest.approx(template_bone_ratios("infant"))
    assert load_bone_ratios("infant") == pytest.approx(template_bone_ratios("infant"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pelvis-thorax": 1.0}))
    with pytest.raises(InputError):
        load_bone_ratios(bad)
    with pytest.raises(InputError):
        LifterTrainConfig(bone_ratios=(1.0, 2.0))


def _legs_bent(knee_bend_deg: float = 40.0) -> torch.Tensor:
    """A standing pose (1, J, 3), camera axes (y down), facing the camera (-z), left on +x, knees flexed
    (shins folded backwards, +z) by `knee_bend_deg`, thighs slightly forward."""
    from tpt_live.skeleton import JOINT_INDEX as J

    Y = torch.zeros(1, NUM_JOINTS, 3)
    b = math.radians(knee_bend_deg)
    for side, x in (("left", 0.1), ("right", -0.1)):
        Y[0, J[f"{side}_hip"]] = torch.tensor([x, 0.0, 0.0])
        Y[0, J[f"{side}_knee"]] = torch.tensor([x, 0.43, -0.1])
        Y[0, J[f"{side}_ankle"]] = torch.tensor([x, 0.43 + 0.43 * math.cos(b), -0.1 + 0.43 * math.sin(b)])
        Y[0, J[f"{side}_shoulder"]] = torch.tensor([1.8 * x, -0.5, 0.0])
        Y[0, J[f"{side}_elbow"]] = torch.tensor([2 * x, -0.2, 0.0])
        Y[0, J[f"{side}_wrist"]] = torch.tensor([2 * x, 0.05, -0.1])
    Y[0, J["thorax"]], Y[0, J["neck"]], Y[0, J["head"]] = (torch.tensor([0.0, -y, 0.0]) for y in (0.5, 0.65, 0.75))
    return Y


def test_limit_loss_breaks_the_depth_mirror() -> None:
    from trainer.lifter_losses import body_axes, limit_loss

    Y = _legs_bent()
    left, up, forward = body_axes(Y)
    assert torch.allclose(left, torch.tensor([[1.0, 0.0, 0.0]])) and torch.allclose(
        up, torch.tensor([[0.0, -1.0, 0.0]])
    )
    assert torch.allclose(forward, torch.tensor([[0.0, 0.0, -1.0]]))  # facing the camera
    mirrored = Y * torch.tensor([1.0, 1.0, -1.0])  # the depth-sign twin: the same image
    assert float(limit_loss(Y)) == 0.0
    # mirrored, both knees bend forwards by 40 deg + the thigh's 13 deg: sin^2 per leg, halved per leg pair
    bend = math.radians(40) + math.atan2(0.1, 0.43)
    assert float(limit_loss(mirrored)) == pytest.approx(math.sin(bend) ** 2, rel=1e-5)
    straight = _legs_bent(0.0)
    straight[:, :, 2] = 0.0
    assert float(limit_loss(straight)) == 0.0 and float(limit_loss(straight * torch.tensor([1.0, 1.0, -1.0]))) == 0.0
    # a thigh 60 deg behind the trunk costs (sin 60 - sin 30)^2 / 2 (one leg)
    swung = Y.clone()
    from tpt_live.skeleton import JOINT_INDEX as J

    swung[0, J["left_knee"]] = torch.tensor([0.1, 0.43 * 0.5, 0.43 * math.sin(math.radians(60))])
    swung[0, J["left_ankle"]] = 2 * swung[0, J["left_knee"]] - swung[0, J["left_hip"]]  # a straight leg
    expected = 0.5 * (math.sin(math.radians(60)) - 0.5) ** 2
    assert float(limit_loss(swung)) == pytest.approx(expected, rel=1e-4)


def test_gravity_and_smooth_losses() -> None:
    from trainer.lifter_losses import gravity_loss, smooth_loss

    Y = _legs_bent()
    lean = rotation_about_x(math.radians(20))
    towards, away = Y @ lean.T, Y @ lean.mT.T  # the trunk top tipped towards / away from the camera
    assert float(gravity_loss(towards)) == 0.0
    assert float(gravity_loss(away)) == pytest.approx(
        (math.sin(math.radians(20)) - math.sin(math.radians(5))) ** 2, rel=1e-4
    )
    assert float(smooth_loss(Y, Y)) == 0.0
    assert float(smooth_loss(Y, Y * torch.tensor([1.0, 1.0, -1.0]))) > 0.0


def rotation_about_x(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
