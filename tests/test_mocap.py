"""Motion capture in: a BVH the test writes, forward kinematics, the 16-joint mapping, virtual cameras,
and `tpt-live mocap` / `tpt-live evaluate` on the keypoint-only folder it writes."""

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
from tpt_live.evaluation.evaluate3d import has_videos, load_keypoint_clips, report_clips
from tpt_live.lifter import Lifter, LifterConfig, save_lifter
from tpt_live.mocap import View, bvh_joints, import_mocap, load_motion, read_bvh, view_clip
from tpt_live.skeleton import JOINT_INDEX

# A CMU-like skeleton (3ds Max names, 1 unit = 0.056444 m), facing +z with its left on +x, y up. The arms
# use the ZXY channel order of the CMU files, the rest ZYX.
HIERARCHY = """HIERARCHY
ROOT Hips
{
 OFFSET 0 0 0
 CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
 JOINT LHipJoint
 { OFFSET 0 0 0
  CHANNELS 3 Zrotation Yrotation Xrotation
  JOINT LeftHip
  { OFFSET 1.5 -1.6 0.7
   CHANNELS 3 Zrotation Yrotation Xrotation
   JOINT LeftKnee
   { OFFSET 0 -7.3 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT LeftAnkle
    { OFFSET 0 -6.9 0
     CHANNELS 3 Zrotation Yrotation Xrotation
     End Site
     { OFFSET 0 -0.5 2 }
 } } } }
 JOINT RHipJoint
 { OFFSET 0 0 0
  CHANNELS 3 Zrotation Yrotation Xrotation
  JOINT RightHip
  { OFFSET -1.5 -1.6 0.7
   CHANNELS 3 Zrotation Yrotation Xrotation
   JOINT RightKnee
   { OFFSET 0 -7.3 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT RightAnkle
    { OFFSET 0 -6.9 0
     CHANNELS 3 Zrotation Yrotation Xrotation
     End Site
     { OFFSET 0 -0.5 2 }
 } } } }
 JOINT Chest
 { OFFSET 0 4 0
  CHANNELS 3 Zrotation Yrotation Xrotation
  JOINT Neck
  { OFFSET 0 4.5 0
   CHANNELS 3 Zrotation Yrotation Xrotation
   JOINT Head
   { OFFSET 0 1.6 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    { OFFSET 0 1.6 0 }
   }
  }
  JOINT LeftShoulder
  { OFFSET 3 3.5 0
   CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT LeftElbow
   { OFFSET 0 -4.3 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftWrist
    { OFFSET 0 -3.3 0
     CHANNELS 3 Zrotation Xrotation Yrotation
     End Site
     { OFFSET 0 -1 0 }
  } } }
  JOINT RightShoulder
  { OFFSET -3 3.5 0
   CHANNELS 3 Zrotation Xrotation Yrotation
   JOINT RightElbow
   { OFFSET 0 -4.3 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightWrist
    { OFFSET 0 -3.3 0
     CHANNELS 3 Zrotation Xrotation Yrotation
     End Site
     { OFFSET 0 -1 0 }
  } } }
 }
}
"""
N_CHANNELS = 6 + 3 * 17


def _write_bvh(path: Path, frames: int = 40, seed: int = 0) -> Path:
    """A walk along +z: root translation plus smooth random joint angles (degrees), 120 fps."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 120.0
    amp, phase = rng.uniform(5, 35, N_CHANNELS), rng.uniform(0, 2 * np.pi, N_CHANNELS)
    values = amp * np.sin(2 * np.pi * 1.5 * t + phase)
    values[:, :3] = np.hstack([0.2 * np.sin(5 * t), 17.0 + 0.3 * np.sin(9 * t), 20.0 * t])  # root position
    values[:, 3:6] *= 0.3  # the trunk stays roughly upright and facing +z
    body = "\n".join(" ".join(f"{v:.5f}" for v in row) for row in values)
    path.write_text(HIERARCHY + f"MOTION\nFrames: {frames}\nFrame Time: {1 / 120:.7f}\n{body}\n")
    return path


def test_rotation_channels_follow_the_declared_order(tmp_path: Path) -> None:
    text = "HIERARCHY\nROOT A\n{ OFFSET 0 0 0 CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
    text += " JOINT B\n { OFFSET 1 0 0 CHANNELS 3 Zrotation Yrotation Xrotation End Site { OFFSET 0 0 1 } }\n}\n"
    (tmp_path / "a.bvh").write_text(text + "MOTION\nFrames: 1\nFrame Time: 0.01\n1 2 3 90 0 0 0 90 0\n")
    m = read_bvh(tmp_path / "a.bvh")
    assert m.names == ["A", "B", "B_end"] and m.parents == [-1, 0, 1]
    P = m.positions[0]
    np.testing.assert_allclose(P[0], [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(P[1] - P[0], [0, 1, 0], atol=1e-12)  # +90 deg about z: x -> y
    # B's local +90 deg about y takes its +z end offset to +x; the root's z turn then takes x -> y
    np.testing.assert_allclose(P[2] - P[1], [0, 1, 0], atol=1e-12)


def test_import_keeps_limb_lengths_and_anatomical_sides(tmp_path: Path) -> None:
    joints, fps = load_motion(_write_bvh(tmp_path / "walk.bvh"))
    assert fps == pytest.approx(120.0, rel=1e-5) and joints.shape == (40, 16, 3)
    unit = 0.056444  # picked by auto_unit: a chain of about 1.4 m
    for a, b, length in (("left_hip", "left_knee", 7.3), ("right_knee", "right_ankle", 6.9),
                         ("left_shoulder", "left_elbow", 4.3), ("right_elbow", "right_wrist", 3.3)):  # fmt: skip
        d = np.linalg.norm(joints[:, JOINT_INDEX[b]] - joints[:, JOINT_INDEX[a]], axis=-1)
        np.testing.assert_allclose(d, length * unit, rtol=1e-9)
    J = JOINT_INDEX
    np.testing.assert_allclose(joints[:, J["pelvis"]], 0.5 * (joints[:, J["left_hip"]] + joints[:, J["right_hip"]]))
    head_len = np.linalg.norm(joints[:, J["head"]] - joints[:, J["neck"]], axis=-1)
    np.testing.assert_allclose(head_len, 0.8 * unit, rtol=1e-9)  # midpoint of the head joint and its end
    assert (joints[:, J["head"], 1] > joints[:, J["pelvis"], 1] + 0.5).all()  # y up, metres
    front = view_clip(joints, View(0.0, 0.0, 5.0), fps, "front")
    back = view_clip(joints, View(180.0, 0.0, 5.0), fps, "back")
    left_view = view_clip(joints, View(90.0, 0.0, 5.0), fps, "left")
    for doc, sign in ((front, 1), (back, -1)):
        kp = np.array([f["kp2d"] for f in doc["frames"]])
        for side in ("hip", "shoulder"):  # facing the camera: the subject's left on the image right
            assert (sign * (kp[:, J[f"left_{side}"], 0] - kp[:, J[f"right_{side}"], 0]) > 0).all()
        assert (kp[:, J["head"], 1] < kp[:, J["pelvis"], 1]).all()  # head up in the image
    k3 = np.array([f["kp3d"] for f in left_view["frames"]])
    assert (k3[:, J["left_hip"], 2] < k3[:, J["right_hip"], 2]).all()  # seen from its left: left hip nearer
    K = np.array(front["camera"]["K"])
    X = np.array([f["kp3d"] for f in front["frames"]])
    uv = X @ K.T
    np.testing.assert_allclose(uv[..., :2] / uv[..., 2:], [f["kp2d"] for f in front["frames"]], atol=1e-3)
    pelvis = X[:, J["pelvis"]]
    assert np.abs(pelvis[:, 0]).max() < 1e-3 and np.abs(pelvis[:, 2] - 5.0).max() < 0.05  # the camera follows


def test_unknown_skeleton_and_malformed_files_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bvh"
    bad.write_text(
        HIERARCHY.replace("LeftKnee", "Knee_L") + "MOTION\nFrames: 1\nFrame Time: 0.01\n" + "0 " * N_CHANNELS
    )
    with pytest.raises(InputError, match="left_knee"):
        bvh_joints(read_bvh(bad))
    bad.write_text(HIERARCHY + "MOTION\nFrames: 2\nFrame Time: 0.01\n" + "0 " * N_CHANNELS)
    with pytest.raises(InputError, match="MOTION"):
        read_bvh(bad)
    bad.write_text("not a bvh")
    with pytest.raises(InputError):
        read_bvh(bad)
    with pytest.raises(InputError):
        View(0.0, 95.0, 5.0)


def test_mocap_cli_then_evaluate_a_keypoint_only_folder(tmp_path: Path) -> None:
    walk = _write_bvh(tmp_path / "walk.bvh", frames=60)
    out = tmp_path / "clips"
    runner = CliRunner()
    result = runner.invoke(app, ["mocap", str(walk), "--out", str(out), "--azimuth", "30", "--azimuth", "200",
                                 "--elevation", "15", "--size", "640x360"])  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["walk_az030_el+15.json", "walk_az200_el+15.json"]
    doc = json.loads((out / names[0]).read_text())
    assert doc["format"] == "tpt-live-synth" and doc["num_frames"] == 15 and doc["fps"] == pytest.approx(30.0, rel=1e-5)
    assert not has_videos(out)
    torch.manual_seed(0)
    flat = save_lifter(Lifter(LifterConfig(hidden=16, blocks=1)), tmp_path / "flat.safetensors")
    result = runner.invoke(app, ["evaluate", str(out), "--lifter", str(flat), "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    r3 = json.loads((tmp_path / "e.json").read_text())["3d"]
    assert set(r3["per_file"]) == {n[:-5] for n in names}
    # an untrained lifter is the flat pose: the same P-MPJPE as the flat column; the true depths beat it
    assert r3["p_mpjpe_mm"] == pytest.approx(r3["flat_p_mpjpe_mm"], rel=1e-4)
    assert r3["oracle_depth_p_mpjpe_mm"] < 0.2 * r3["flat_p_mpjpe_mm"]
    for row in r3["per_file"].values():
        assert row["n_frames"] == 15 and row["oracle_depth_p_mpjpe_mm"] < row["flat_p_mpjpe_mm"]


def test_aspect_is_kept_in_the_3d_figures(tmp_path: Path) -> None:
    """The same motion filmed at 640x360 and 360x640 (the same focal length) scores the same."""
    joints, fps = load_motion(_write_bvh(tmp_path / "walk.bvh"))
    lifter = Lifter(LifterConfig(hidden=16, blocks=1))
    torch.nn.init.normal_(lifter.out.weight, std=0.3)
    lifter.eval()
    figures = []
    for size, fov in (((640, 360), 45.0), ((360, 640), 2 * math.degrees(math.atan(639 / 359 * math.tan(math.pi / 8))))):
        import_dir = tmp_path / f"{size[0]}"
        import_dir.mkdir()
        doc = view_clip(joints, View(60.0, 10.0, 5.0), fps, "walk", size, fov)
        (import_dir / "walk.json").write_text(json.dumps(doc))
        figures.append(report_clips(load_keypoint_clips(import_dir), lifter, None)["p_mpjpe_mm"])
    assert figures[0] == pytest.approx(figures[1], rel=1e-3)
    with pytest.raises(InputError):
        load_keypoint_clips(tmp_path / "missing")


def test_import_mocap_resamples(tmp_path: Path) -> None:
    paths = import_mocap([_write_bvh(tmp_path / "w.bvh", frames=40)], tmp_path / "o", (View(),), fps=60.0)
    doc = json.loads(paths[0].read_text())
    assert doc["num_frames"] == 20 and doc["fps"] == pytest.approx(60.0, rel=1e-5)


def _deepmimic(folder: Path) -> Path:
    """A two-leg, two-arm DeepMimic character facing +x (left on -z) and a 3-frame motion with bent knees."""
    names = ["root", "chest", "neck"] + [f"{s}_{j}" for s in ("right", "left")
                                          for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")]  # fmt: skip
    parents = [-1, 0, 1, 0, 3, 4, 1, 6, 7, 0, 9, 10, 1, 12, 13]
    attach = [(0, 0, 0), (0, 0.24, 0), (0, 0.22, 0), (0, 0, 0.085), (0, -0.42, 0), (0, -0.41, 0), (0, 0.24, 0.18),
              (0, -0.27, 0), (0, -0.26, 0), (0, 0, -0.085), (0, -0.42, 0), (0, -0.41, 0), (0, 0.24, -0.18),
              (0, -0.27, 0), (0, -0.26, 0)]  # fmt: skip
    kinds = {"knee": "revolute", "elbow": "revolute", "wrist": "fixed"}
    joints = [{"ID": i, "Name": n, "Type": "none" if i == 0 else kinds.get(n.split("_")[-1], "spherical"),
               "Parent": p, "AttachX": a[0], "AttachY": a[1], "AttachZ": a[2]}
              for i, (n, p, a) in enumerate(zip(names, parents, attach, strict=True))]  # fmt: skip
    bodies = [{"ID": 2, "Name": "neck", "AttachX": 0, "AttachY": 0.175, "AttachZ": 0, "Param0": 0.2}]
    (folder / "character.txt").write_text(json.dumps({"Skeleton": {"Joints": joints}, "BodyDefs": bodies}))
    ident = [1.0, 0.0, 0.0, 0.0]
    rows = []
    for k in range(3):
        bend = -0.3 * (k + 1)  # knees about local z: negative folds the shin backwards (-x)
        turn = [math.cos(0.1 * k), 0.0, math.sin(0.1 * k), 0.0]  # the root turns about y
        row = [1 / 30, 0.0, 0.9, 0.1 * k, *turn, *ident, *ident, *ident, bend, *ident, *ident, -0.2]
        rows.append(row + [*ident, bend, *ident, *ident, -0.2])
    (folder / "move.txt").write_text(json.dumps({"Loop": "none", "Frames": rows}))
    return folder / "move.txt"


def test_deepmimic_motion_keeps_limbs_and_sides(tmp_path: Path) -> None:
    joints, fps = load_motion(_deepmimic(tmp_path))
    J = JOINT_INDEX
    assert joints.shape == (3, 16, 3) and fps == pytest.approx(30.0)
    for a, b, length in (("left_hip", "left_knee", 0.42), ("right_knee", "right_ankle", 0.41),
                         ("left_elbow", "left_wrist", 0.26)):  # fmt: skip
        np.testing.assert_allclose(np.linalg.norm(joints[:, J[b]] - joints[:, J[a]], axis=-1), length, rtol=1e-9)
    assert (joints[:, J["left_hip"], 2] < joints[:, J["pelvis"], 2]).all() and (
        joints[:, J["head"], 1] > joints[:, J["neck"], 1]
    ).all()
    front = np.array([f["kp2d"] for f in view_clip(joints, View(0.0, 0.0, 5.0), fps, "m")["frames"]])
    assert (front[:, J["left_hip"], 0] > front[:, J["right_hip"], 0]).all()  # facing the camera: left on the right
    from trainer.lifter_losses import limit_loss

    X = torch.as_tensor([f["kp3d"] for f in view_clip(joints, View(60.0, 10.0, 5.0), fps, "m")["frames"]])
    X = X - X[:, :1]
    assert float(limit_loss(X)) < 1e-9 < float(limit_loss(X * torch.tensor([1.0, 1.0, -1.0])))
    (tmp_path / "other_character.txt").write_text((tmp_path / "character.txt").read_text())
    with pytest.raises(InputError, match="character"):
        load_motion(tmp_path / "move.txt")  # two character files beside it: which one?


def test_heading_of_a_body_on_its_side_follows_the_trunk(tmp_path: Path) -> None:
    from tpt_live.mocap import heading

    joints, fps = load_motion(_write_bvh(tmp_path / "walk.bvh"))
    np.testing.assert_allclose(heading(joints), [0, 0, 1], atol=0.2)  # facing +z, as written
    on_side = joints @ np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T  # left -> up, up -> -x
    np.testing.assert_allclose(heading(on_side), [-1, 0, 0], atol=0.1)
    doc = view_clip(on_side, View(0.0, 10.0, 5.0), fps, "side")
    assert len(doc["frames"]) == len(joints)
