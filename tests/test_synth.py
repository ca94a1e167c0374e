"""Tests of `tpt_live.synth` and the `tpt-live synth` command (small sizes, a few seconds in all)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.skeleton import BONE_INDEX, JOINT_INDEX, JOINT_NAMES
from tpt_live.synth import SynthConfig, canonical_skeleton_2d, iter_clips, parse_size, render_clip, write_clip
from tpt_live.synth.body import Pose, pose_arrays
from tpt_live.synth.clip import canonical_scene, posed_frames
from tpt_live.synth.render import Renderer, joint_visibility
from tpt_live.videoio import read_video

SMALL = SynthConfig(width=64, height=64, frames=24, fps=30.0, seed=5)


@pytest.fixture(scope="module")
def clips() -> list:
    return [render_clip(SynthConfig(width=64, height=64, frames=24, seed=5, index=i, pose="mixed")) for i in range(3)]


def _arrays(gt: dict, key: str) -> np.ndarray:
    return np.array([f[key] for f in gt["frames"]], dtype=np.float64)


def test_smoke_shapes(clips: list) -> None:
    clip = clips[0]
    assert clip.frames.shape == (24, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.gt["joints"] == list(JOINT_NAMES)
    assert len(clip.gt["frames"]) == 24 and clip.gt["width"] == 64 and clip.gt["height"] == 64
    assert _arrays(clip.gt, "kp2d").shape == (24, 16, 2)
    assert np.array(clip.gt["camera"]["K"]).shape == (3, 3)


def test_projection_consistency_after_json_rounding(clips: list) -> None:
    for clip in clips:
        gt = json.loads(json.dumps(clip.gt))
        K = np.array(gt["camera"]["K"])
        kp3d, kp2d = _arrays(gt, "kp3d"), _arrays(gt, "kp2d")
        uvw = kp3d @ K.T
        err = np.abs(uvw[..., :2] / uvw[..., 2:] - kp2d)
        assert err.max() < 0.05, err.max()


def test_bone_lengths_constant(clips: list) -> None:
    for clip in clips:
        kp3d = _arrays(clip.gt, "kp3d")
        lengths = np.stack([np.linalg.norm(kp3d[:, a] - kp3d[:, b], axis=1) for a, b in BONE_INDEX], axis=1)
        rel = (lengths.max(axis=0) - lengths.min(axis=0)) / lengths.mean(axis=0)
        assert rel.max() < 0.01, rel


def test_joints_inside_frame_and_limbs_move(clips: list) -> None:
    for clip in clips:
        kp2d = _arrays(clip.gt, "kp2d")
        inside = (kp2d >= 0).all(-1) & (kp2d[..., 0] <= 63) & (kp2d[..., 1] <= 63)
        assert inside.mean() > 0.95
        ends = [JOINT_INDEX[n] for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
        spread = kp2d[:, ends].std(axis=0).mean()
        assert spread > 0.8, spread  # px at 64x64, over less than one second


def test_framing_head_up_left_on_image_right() -> None:
    clip = render_clip(SynthConfig(width=64, height=64, frames=2, seed=1, pose="supine"))
    kp2d = _arrays(clip.gt, "kp2d")[0]
    assert kp2d[JOINT_INDEX["head"], 1] < kp2d[JOINT_INDEX["pelvis"], 1]
    assert kp2d[JOINT_INDEX["left_shoulder"], 0] > kp2d[JOINT_INDEX["right_shoulder"], 0]


def test_determinism_and_index_independence(tmp_path: Path) -> None:
    a = write_clip(render_clip(SMALL), tmp_path / "a")
    b = write_clip(render_clip(SMALL), tmp_path / "b")
    assert a[1].read_text() == b[1].read_text()
    frames_a, frames_b = list(read_video(a[0])), list(read_video(b[0]))
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    second_of_two = list(iter_clips(SMALL, 2))[1]
    alone = render_clip(SynthConfig(width=64, height=64, frames=24, seed=5, index=1))
    assert second_of_two.gt == alone.gt and np.array_equal(second_of_two.frames, alone.frames)


def test_video_decodes_to_json_frame_count(tmp_path: Path) -> None:
    paths = write_clip(render_clip(SMALL), tmp_path, preview=True)
    gt = json.loads(paths[1].read_text())
    decoded = list(read_video(paths[0]))
    assert len(decoded) == len(gt["frames"]) == 24
    assert decoded[0].shape == (64, 64, 3)
    assert paths[2].name.endswith("_preview.png") and paths[2].stat().st_size > 0


def _render_pose(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    scene = canonical_scene(128, 128)  # straight overhead, mean body
    kp3d, segs = posed_frames(scene, pose_arrays([pose]))
    renderer = Renderer(scene.camera, scene.appearance, np.zeros((128, 128, 3), np.float32))
    buf = renderer.render(segs)
    kp2d = scene.camera.project(kp3d)
    return joint_visibility(kp2d, kp3d, buf)[0], buf.segment[0]


def test_visibility_occlusion() -> None:
    neutral, _ = _render_pose(Pose())
    assert neutral.all()
    # left upper arm pointing up at the camera, forearm bent medially across the chest, 8 cm above it
    arm = Pose(l_sh_abd=0.0, l_sh_elev=np.radians(84), l_elbow=np.radians(90), l_elbow_twist=np.radians(-90))
    vis, _ = _render_pose(arm)
    assert vis[JOINT_INDEX["left_wrist"]]  # hand/forearm over the trunk, on the camera side: visible
    assert not vis[JOINT_INDEX["thorax"]]  # thorax behind the forearm: hidden


def test_canonical_skeleton_2d_convention() -> None:
    sk = canonical_skeleton_2d(256)
    assert sk.shape == (16, 2)
    j = JOINT_INDEX
    assert sk[j["head"], 1] < sk[j["neck"], 1] < sk[j["thorax"], 1] < sk[j["pelvis"], 1]
    assert sk[j["left_wrist"], 0] > 127.5 > sk[j["right_wrist"], 0]
    np.testing.assert_allclose(sk[j["pelvis"], 0], 127.5, atol=1e-6)  # midline at the principal point
    np.testing.assert_allclose(sk[j["left_ankle"], 0] - 127.5, 127.5 - sk[j["right_ankle"], 0], atol=1e-6)
    np.testing.assert_allclose(canonical_skeleton_2d(128) * 2 + 0.5, sk, atol=1e-6)


def test_parse_size() -> None:
    assert parse_size("320x240") == (320, 240)
    for bad in ("12", "axb", "-4x4", "", "0x0", "320x8"):
        with pytest.raises(InputError):
            parse_size(bad)


def _run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from tpt_live.cli import main

    monkeypatch.setattr(sys, "argv", ["tpt-live", "synth", *args])
    with pytest.raises(SystemExit) as info:
        main()
        raise SystemExit(0)
    return int(info.value.code or 0)


@pytest.mark.parametrize(
    "args",
    [
        ("--videos", "-1"),
        ("--videos", "0"),
        ("--frames", "-5"),
        ("--size", "12"),
        ("--size", "63x64"),
        ("--fps", "0"),
        ("--pose", "upside-down"),
        ("--hands", "1.5"),
        ("--propped", "-0.5"),
        ("--sitting", "2"),
        ("--seats", "1.5"),
    ],
)
def test_cli_rejects_bad_arguments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert _run_cli(monkeypatch, str(tmp_path / "out"), *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err


def test_cli_rejects_unwritable_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    assert _run_cli(monkeypatch, str(blocker / "sub"), "--videos", "1", "--frames", "2") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_cli_writes_videos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ("--videos", "2", "--frames", "6", "--size", "64x48", "--seed", "7", "--fps", "15")
    assert _run_cli(monkeypatch, str(tmp_path), *args) == 0
    for i in range(2):
        gt = json.loads((tmp_path / f"synth_s7_{i:03d}.json").read_text())
        assert (gt["width"], gt["height"], gt["fps"], len(gt["frames"])) == (64, 48, 15.0, 6)
        assert len(list(read_video(tmp_path / f"synth_s7_{i:03d}.mp4"))) == 6


def test_cli_scenario_writes_per_frame_labels(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "tpt_live", "synth", str(tmp_path), "--videos", "1", "--frames", "8",
           "--size", "32x32", "--scenario", "absent"]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    gt = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert len(gt["frames"]) == 8 and not any(f["present"] for f in gt["frames"])


def test_prone_bodies_hold_their_arms_up_and_the_head_on_a_cheek() -> None:
    """On its tummy the infant keeps its arms in a W beside the head (wrists above the shoulders, forearms
    in the mat plane) and lies on one cheek; on its back the arms mostly lie below the shoulders."""
    from tpt_live.synth.body import BodyParams, forward_kinematics
    from tpt_live.synth.motion import sample_motion

    def layout(scenario: str) -> tuple[float, float, float]:
        """(share of frames with a wrist above its shoulder, median |forearm . anterior|, median |head yaw|)"""
        up, lift, yaw = [], [], []
        for seed in range(6):
            m = sample_motion(np.random.default_rng(seed), scenario, 90, 15.0)
            joints, _ = forward_kinematics(BodyParams(), m.angles)
            for side in ("left", "right"):
                wrist, elbow = joints[:, JOINT_INDEX[f"{side}_wrist"]], joints[:, JOINT_INDEX[f"{side}_elbow"]]
                up.append(wrist[:, 1] > joints[:, JOINT_INDEX[f"{side}_shoulder"], 1])
                lift.append(np.abs(wrist - elbow)[:, 2] / np.linalg.norm(wrist - elbow, axis=1))
            yaw.append(np.abs(np.degrees(m.angles["head_yaw"])))
        return float(np.mean(up)), float(np.median(np.concatenate(lift))), float(np.median(np.concatenate(yaw)))

    prone_up, prone_lift, prone_yaw = layout("prone")
    supine_up, supine_lift, _ = layout("supine")
    assert prone_up > 0.75 and supine_up < 0.5
    assert prone_lift < 0.35 < supine_lift  # prone forearms lie in the mat plane
    assert prone_yaw > 55.0  # the head turned onto a cheek


def test_propped_prone_bodies_lift_the_chest_and_the_head_and_rest_on_their_arms() -> None:
    """Tummy time (`propped`): the chest and the head rise off the mat and the arms reach down to it; without it,
    or in another posture, the draws are those of before (no pitch, the same angles); the share is checked."""
    from tpt_live.synth.body import BodyParams, forward_kinematics
    from tpt_live.synth.clip import sample_scene
    from tpt_live.synth.motion import sample_motion

    body = BodyParams()

    def heights(propped: bool) -> tuple[float, float, float]:
        """Median heights above the mat (m) of the thorax, of the head, and of each arm's lowest joint."""
        thorax, head, arm = [], [], []
        for seed in range(6):
            m = sample_motion(np.random.default_rng(seed), "prone", 90, 15.0, propped=propped)
            assert m.propped == propped
            joints, _ = forward_kinematics(body, m.angles)
            above = body.trunk_radii[2] - joints[..., 2]  # a prone body's anterior (+z) points into the mat
            thorax.append(above[:, JOINT_INDEX["thorax"]])
            head.append(above[:, JOINT_INDEX["head"]])
            for side in ("left", "right"):
                arm.append(np.minimum(above[:, JOINT_INDEX[f"{side}_elbow"]], above[:, JOINT_INDEX[f"{side}_wrist"]]))
        return tuple(float(np.median(np.concatenate(x))) for x in (thorax, head, arm))  # type: ignore[return-value]

    up_thorax, up_head, up_arm = heights(True)
    flat_thorax, flat_head, flat_arm = heights(False)
    assert flat_thorax == pytest.approx(body.trunk_radii[2]) and up_thorax > flat_thorax + 0.04
    assert up_head > flat_head + 0.08
    assert -0.01 < up_arm < 0.03 < flat_arm  # the lowest arm joint on the mat (a forearm's radius is ~0.02)
    plain = sample_motion(np.random.default_rng(2), "supine", 20, 15.0)
    asked = sample_motion(np.random.default_rng(2), "supine", 20, 15.0, propped=True)
    assert not asked.propped and all(np.array_equal(plain.angles[k], asked.angles[k]) for k in plain.angles)
    assert not plain.angles["trunk_pitch"].any()
    a = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, pose="prone"))
    b = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, pose="prone", propped=1.0))
    assert not a.motion.propped and b.motion.propped and a.body == b.body
    propped_gt = render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1, pose="prone", propped=1.0)).gt
    plain_gt = render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1, pose="prone")).gt
    assert propped_gt["propped"] and propped_gt["angles"][0]["trunk_pitch"] < -5.0  # degrees, the back arched
    assert "propped" not in plain_gt and "trunk_pitch" not in plain_gt["angles"][0]  # files as before
    with pytest.raises(InputError, match="propped"):
        SynthConfig(propped=1.5)


def test_sitting_bodies_raise_the_trunk_and_keep_the_legs_on_the_mat() -> None:
    """Sitting (`sitting`): the thorax and the head rise above the pelvis, the legs stay forward on the mat; a
    baby drawn in another posture, or without the option, keeps its draws; the share is checked."""
    from tpt_live.synth.body import BodyParams, forward_kinematics
    from tpt_live.synth.clip import sample_scene
    from tpt_live.synth.motion import sample_motion

    body = BodyParams()
    thorax, head, ankle, forward = [], [], [], []
    for seed in range(6):
        m = sample_motion(np.random.default_rng(seed), "supine", 90, 15.0, sitting=True)
        assert m.sitting and m.flexion == 0.0
        joints, _ = forward_kinematics(body, m.angles)
        above = joints[..., 2] + body.trunk_radii[2]  # a supine body's back lies on the mat
        thorax.append(above[:, JOINT_INDEX["thorax"]])
        head.append(above[:, JOINT_INDEX["head"]])
        for side in ("left", "right"):
            ankle.append(above[:, JOINT_INDEX[f"{side}_ankle"]])
            forward.append(joints[:, JOINT_INDEX[f"{side}_ankle"], 1])  # body y: towards the head
    assert np.median(np.concatenate(thorax)) > 0.2 and np.median(np.concatenate(head)) > 0.3  # lying: 0.06
    assert 0.0 < np.median(np.concatenate(ankle)) < 0.08  # the shins lie on the mat
    assert np.median(np.concatenate(forward)) < -0.08  # in front of the pelvis, not under the trunk
    plain = sample_motion(np.random.default_rng(2), "prone", 20, 15.0)
    asked = sample_motion(np.random.default_rng(2), "prone", 20, 15.0, sitting=True)
    assert not asked.sitting and all(np.array_equal(plain.angles[k], asked.angles[k]) for k in plain.angles)
    a = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, pose="supine"))
    b = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, pose="supine", sitting=1.0))
    assert not a.motion.sitting and b.motion.sitting and a.body == b.body
    sitting_gt = render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1, pose="supine", sitting=1.0)).gt
    plain_gt = render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1, pose="supine")).gt
    assert sitting_gt["sitting"] and sitting_gt["pose"] == "supine" and sitting_gt["angles"][0]["trunk_pitch"] > 50.0
    assert "sitting" not in plain_gt and "trunk_pitch" not in plain_gt["angles"][0]  # files as before
    with pytest.raises(InputError, match="sitting"):
        SynthConfig(sitting=-0.1)


def test_flexion_bends_hips_knees_and_elbows_and_leaves_the_rest_of_the_scene() -> None:
    """`flexion` moves the resting posture of a baby on its back towards a young infant's flexed one; the
    camera, look and other draws stay those of the same video without it, and the amount is recorded."""
    from tpt_live.synth.clip import sample_scene

    def mean_angles(flexion: float) -> dict[str, float]:
        got: dict[str, list[float]] = {"l_hip_elev": [], "l_knee": [], "r_elbow": []}
        for i in range(6):
            scene = sample_scene(SynthConfig(64, 64, frames=30, fps=15.0, seed=5, index=i, flexion=flexion))
            for k in got:
                got[k].append(float(np.degrees(scene.motion.angles[k]).mean()))
        return {k: float(np.mean(v)) for k, v in got.items()}

    plain, flexed = mean_angles(0.0), mean_angles(1.0)
    assert flexed["l_hip_elev"] > plain["l_hip_elev"] + 12.0
    assert flexed["l_knee"] > plain["l_knee"] + 12.0 and flexed["r_elbow"] > plain["r_elbow"] + 15.0
    a = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=2))
    b = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=2, flexion=1.0))
    assert a.camera.to_dict() == b.camera.to_dict() and a.appearance.to_dict() == b.appearance.to_dict()
    assert a.motion.flexion == 0.0 and np.array_equal(a.motion.yaw, b.motion.yaw)
    assert 0.0 < b.motion.flexion <= 1.0
    assert render_clip(SynthConfig(32, 32, frames=1, seed=5, index=2, flexion=1.0)).gt["flexion"] == pytest.approx(
        b.motion.flexion, abs=1e-4
    )
    with pytest.raises(InputError, match="flexion"):
        SynthConfig(flexion=1.5)


def test_held_hands_put_the_wrist_at_the_face_or_chest_and_leave_the_rest_of_the_scene() -> None:
    """Each `HAND_POSES` layout holds the hand near the head (cheek) or the thorax (mouth, chest) over random
    bodies and motion, where a free arm's hand is far from both; `hands` draws the layouts per arm from a
    stream of its own (every other draw of the video unchanged), records them, and never holds a prone arm."""
    from tpt_live.synth.body import forward_kinematics, sample_body
    from tpt_live.synth.clip import sample_scene
    from tpt_live.synth.motion import HAND_POSES, sample_motion

    def wrist_to(layout: int, joint: str) -> float:
        """Median distance (m) of the left wrist from `joint` over 6 bodies x 40 frames, left arm in `layout`."""
        out = []
        for seed in range(6):
            rng = np.random.default_rng(seed)
            m = sample_motion(rng, "supine", 40, 15.0, hands=(layout, -1))
            joints, _ = forward_kinematics(sample_body(rng), m.angles)
            out.append(np.linalg.norm(joints[:, JOINT_INDEX["left_wrist"]] - joints[:, JOINT_INDEX[joint]], axis=1))
        return float(np.median(np.concatenate(out)))

    assert len(HAND_POSES) == 3
    assert wrist_to(0, "head") < 0.11 < 0.18 < wrist_to(-1, "head")  # the cheek
    assert max(wrist_to(1, "thorax"), wrist_to(2, "thorax")) < 0.10 < 0.15 < wrist_to(-1, "thorax")  # mouth, chest
    a = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1))
    b = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, hands=1.0))
    assert a.motion.hands == (-1, -1) and min(b.motion.hands) >= 0
    assert a.camera.to_dict() == b.camera.to_dict() and np.array_equal(a.motion.yaw, b.motion.yaw)
    assert np.array_equal(a.motion.angles["l_knee"], b.motion.angles["l_knee"])
    assert not np.array_equal(a.motion.angles["l_elbow"], b.motion.angles["l_elbow"])
    prone = sample_scene(SynthConfig(64, 64, frames=4, seed=5, index=1, pose="prone", hands=1.0))
    assert prone.motion.hands == (-1, -1)
    assert render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1, hands=1.0)).gt["hands"] == list(b.motion.hands)
    assert "hands" not in render_clip(SynthConfig(32, 32, frames=1, seed=5, index=1)).gt
    with pytest.raises(InputError, match="hands"):
        SynthConfig(hands=-0.1)


def test_side_gravity_rests_the_upper_limbs_on_the_body_and_keeps_the_lower_ones_out_of_the_mat() -> None:
    """A baby on its side without `side_gravity` holds its upper arm up in the air and pushes its lower arm into
    the mat (the supine layout turned); with it both wrists stay within a few centimetres of their shoulder's
    height, and the upper knee does not rise above the hip. Other scenarios are untouched."""
    from tpt_live.synth.body import forward_kinematics, rot_y, sample_body
    from tpt_live.synth.motion import sample_motion

    def heights(gravity: bool) -> dict[str, float]:
        """Median height (m, world up) of each part above its limb's root, upper and lower side, 30 bodies."""
        out: dict[str, list[np.ndarray]] = {}
        for seed in range(30):
            rng = np.random.default_rng(seed)
            m = sample_motion(rng, "side", 30, 15.0, side_gravity=gravity)
            joints, _ = forward_kinematics(sample_body(rng), m.angles)
            world = joints @ rot_y(np.array([m.roll]))[0].T
            up, down = ("right", "left") if m.roll > 0 else ("left", "right")
            for tag, side in (("upper", up), ("lower", down)):
                for part, root in (("wrist", "shoulder"), ("knee", "hip")):
                    z = world[:, JOINT_INDEX[f"{side}_{part}"], 2] - world[:, JOINT_INDEX[f"{side}_{root}"], 2]
                    out.setdefault(f"{tag}_{part}", []).append(z)
        return {k: float(np.median(np.concatenate(v))) for k, v in out.items()}

    free, rest = heights(False), heights(True)
    assert free["upper_wrist"] > 0.08 and free["lower_wrist"] < -0.08  # up in the air, into the mat
    assert abs(rest["upper_wrist"]) < 0.05 and abs(rest["lower_wrist"]) < 0.05
    assert rest["upper_knee"] < 0.01 < free["upper_knee"]
    for scenario in ("supine", "prone"):
        a = sample_motion(np.random.default_rng(3), scenario, 10, 15.0)
        b = sample_motion(np.random.default_rng(3), scenario, 10, 15.0, side_gravity=True)
        assert all(np.array_equal(a.angles[k], b.angles[k]) for k in a.angles)
