"""The posture cue against the mat of a pitched camera: `MatTilt`'s estimate, `--camera-tilt`, and its limits."""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.monitor.posture import (
    MatTilt,
    PostureConfig,
    TorsoMean,
    facing_angle_3d,
    parse_tilt,
    posture_with_margin,
)
from tpt_live.skeleton import JOINT_INDEX, NUM_JOINTS


def supine_torso() -> np.ndarray:
    """A flat torso facing the camera (anterior -z): head up the picture, the subject's left on the right."""
    kp = np.zeros((NUM_JOINTS, 3))
    kp[JOINT_INDEX["thorax"]] = (0.0, -0.2, 0.0)
    for side, x in (("left", 0.06), ("right", -0.06)):
        kp[JOINT_INDEX[f"{side}_shoulder"]] = (x, -0.2, 0.0)
        kp[JOINT_INDEX[f"{side}_hip"]] = (x, 0.0, 0.0)
    return kp


def pitched(kp: np.ndarray, deg: float) -> np.ndarray:
    """The torso as a camera pitched `deg` from straight down sees it: its anterior leans to the picture's top."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return kp @ np.array([[1, 0, 0], [0, c, s], [0, -s, c]]).T


def rolled(kp: np.ndarray, deg: float) -> np.ndarray:
    """The torso turned about its spine (the picture's vertical) by `deg`: 90 is a baby on its side."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return kp @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T


def test_facing_angle_is_measured_against_the_mat_of_a_pitched_camera() -> None:
    kp = pitched(supine_torso(), 50.0)
    assert facing_angle_3d(supine_torso()) == pytest.approx(0.0, abs=1e-6)
    assert facing_angle_3d(kp) == pytest.approx(50.0, abs=1e-6)  # against the camera: side of the 45 deg line
    assert facing_angle_3d(kp, 50.0) == pytest.approx(0.0, abs=1e-6)
    assert posture_with_margin(None, kp)[0] == "side"
    assert posture_with_margin(None, kp, 50.0) == ("supine", pytest.approx(1.0))


def test_the_estimate_finds_the_pitch_from_supine_torsos_and_a_fixed_tilt_is_kept() -> None:
    est = MatTilt()
    assert est.tilt == 0.0  # nothing seen: an overhead camera
    for i in range(20):
        tilt = est.update(i * 0.1, pitched(supine_torso(), 50.0 + (i % 3 - 1)))
    assert tilt == pytest.approx(50.0, abs=1e-6)  # the median lean
    fixed = MatTilt(PostureConfig(camera_tilt=10.0))
    assert fixed.update(0.0, pitched(supine_torso(), 50.0)) == 10.0


def test_sideways_torsos_do_not_vote_and_still_read_side_at_the_estimated_tilt() -> None:
    est = MatTilt()
    side = pitched(rolled(supine_torso(), 80.0), 50.0)
    for i in range(10):
        est.update(i * 0.1, side)
    assert est.tilt == 0.0  # |anterior x| = 0.98: no vote
    assert posture_with_margin(None, side, 0.0)[0] == "side"
    for i in range(10, 20):
        est.update(i * 0.1, pitched(supine_torso(), 50.0))
    assert est.tilt == pytest.approx(50.0)
    label, margin = posture_with_margin(None, side, est.tilt)
    assert label == "side" and margin == pytest.approx((80 - 45) / 45)  # 80 deg from the mat normal, as rolled


def test_the_estimate_is_clipped_and_forgets_old_torsos() -> None:
    est = MatTilt(PostureConfig(max_tilt=60.0, tilt_window=1.0))
    for i in range(5):
        est.update(i * 0.1, pitched(supine_torso(), -20.0))  # leaning to the picture's bottom
    assert est.tilt == 0.0
    for i in range(5, 40):
        est.update(i * 0.1, pitched(supine_torso(), 80.0))  # more than max_tilt
    assert est.tilt == pytest.approx(60.0)
    est.update(10.0, None)  # 6 s later, nothing new: every lean is older than the window
    assert est.tilt == 0.0


def test_parse_tilt() -> None:
    assert parse_tilt("auto") is None and parse_tilt("AUTO") is None
    assert parse_tilt("35") == 35.0
    for bad in ("steep", "90", "-5"):
        with pytest.raises(InputError, match="--camera-tilt"):
            parse_tilt(bad)


def test_a_torso_showing_its_back_in_2d_is_prone_whatever_the_lifter_says() -> None:
    """The 2D handedness (signed width >= BACK_2D: the subject's left on the picture's left) decides prone; a
    torso that shows its front or its side keeps the 3D reading against the camera's tilt."""
    from tpt_live.monitor.posture import BACK_2D, signed_width_2d

    front = supine_torso()  # the lifter's torso: facing the camera (it cannot output a back)
    back_2d = front[:, :2].copy()
    back_2d[:, 0] *= -1  # mirrored in the picture: left and right swap sides, the back faces the camera
    assert signed_width_2d(back_2d) >= BACK_2D
    assert posture_with_margin(front[:, :2], front) == ("supine", pytest.approx(1.0))
    label, margin = posture_with_margin(back_2d, front)
    assert label == "prone" and margin == pytest.approx(posture_with_margin(back_2d)[1]) and margin > 0.5
    tilted = pitched(front, 50.0)  # a front seen by a pitched camera: the 3D reading with the tilt stands
    assert posture_with_margin(tilted[:, :2], tilted, 50.0) == ("supine", pytest.approx(1.0))
    side = rolled(front, 90.0)  # on its side: shoulders stacked in 2D, the 3D reading stands
    assert posture_with_margin(side[:, :2], side)[0] == "side"


def test_a_second_models_handedness_replaces_the_trackers_own() -> None:
    """`handed` (the handedness model's signed width of the same torso) decides the back; the tracker's own
    keypoints and the lifter's 3D give the rest. A half-turned torso (between side and flat) is not a back."""
    from tpt_live.monitor.posture import BACK_2D, SIDE_2D

    front = supine_torso()
    back_2d = front[:, :2].copy()
    back_2d[:, 0] *= -1
    label, margin = posture_with_margin(front[:, :2], front, handed=0.6)
    assert label == "prone" and margin == pytest.approx(1.0)
    assert posture_with_margin(back_2d, front, handed=-0.6) == ("supine", pytest.approx(1.0))
    assert posture_with_margin(front[:, :2], front, handed=0.5 * (SIDE_2D + BACK_2D))[0] == "supine"
    assert posture_with_margin(front[:, :2], None, handed=0.6)[0] == "prone"  # no 3D: the handedness still counts
    assert posture_with_margin(front[:, :2], None, handed=0.0)[0] == "supine"  # else the tracker's own 2D reading


def test_a_trunk_seen_end_on_gives_no_posture() -> None:
    """A baby sitting up under an overhead camera shows its trunk end-on: the signed width (over the squared trunk
    length) is then any size, and before `lengthwise` a handedness that showed the back read it prone with a full
    margin. The margin now goes to 0 with the trunk's 2D length over the torso's width (END_ON); a torso lying flat,
    or with the chest lifted 30 degrees (tummy time), keeps its margin."""
    from tpt_live.monitor.posture import END_ON, lengthwise

    flat = supine_torso()  # trunk 0.2, widths 0.12: ratio 1.67
    assert lengthwise(flat[:, :2]) == 1.0
    assert posture_with_margin(flat[:, :2], flat, handed=0.6) == ("prone", pytest.approx(1.0))
    sitting = pitched(flat, 80.0)  # the trunk turned towards the camera: 2D length 0.2 cos 80 = 0.035
    assert lengthwise(sitting[:, :2]) == 0.0
    assert posture_with_margin(sitting[:, :2], sitting, handed=0.6) == ("prone", 0.0)
    assert posture_with_margin(sitting[:, :2], sitting)[1] == 0.0
    assert posture_with_margin(None, sitting)[1] > 0.0  # without 2D keypoints nothing says the trunk is end-on
    half = flat.copy()
    half[JOINT_INDEX["thorax"], 1] = -0.12 * 0.5 * sum(END_ON)  # trunk / width half-way between the two ends
    assert lengthwise(half[:, :2]) == pytest.approx(0.5)
    propped = pitched(flat, 30.0)  # 0.2 cos 30 / 0.12 = 1.44
    assert lengthwise(propped[:, :2]) == 1.0
    away = pitched(flat, 60.0)  # lying head away from a camera pitched 60 degrees: 0.2 cos 60 / 0.12 = 0.83
    assert lengthwise(away[:, :2]) < 0.5 and lengthwise(away[:, :2], 60.0) == 1.0  # the tilt accounts for it
    assert posture_with_margin(away[:, :2], away, 60.0) == ("supine", pytest.approx(1.0))
    side = rolled(flat, 90.0)  # shoulders stacked: no width, seen lengthwise
    assert lengthwise(side[:, :2]) == 1.0


def test_posture_confidence_sets_where_the_vote_says_unknown(tmp_path, monkeypatch, capsys) -> None:
    """`monitor --posture-confidence`: the vote's threshold (docs/MONITOR.md, the operating point); bad values
    are a one-line error with exit code 2."""
    import sys

    from tpt_live.cli.app import main
    from tpt_live.monitor.posture import PostureVote
    from tpt_live.monitor.setup import MonitorRequest

    def reported(threshold: float) -> list[str]:
        vote = PostureVote(PostureConfig(min_confidence=threshold))
        return [vote.update(i / 10, "supine", 0.45)[0] for i in range(30)]  # every frame supine, 20 deg from 45

    assert set(reported(0.5)) == {"unknown"} and set(reported(0.4)) == {"supine"}
    assert MonitorRequest("a.mp4", posture_confidence=0.4).posture_confidence == 0.4
    assert MonitorRequest("a.mp4").posture_confidence == PostureConfig().min_confidence == 0.5
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="--posture-confidence"):
            MonitorRequest("a.mp4", posture_confidence=bad)
    monkeypatch.setattr(sys, "argv", ["tpt-live", "monitor", "a.mp4", "--posture-confidence", "2", "-q"])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len([line for line in err if "--posture-confidence" in line]) == 1
    assert "Traceback" not in "\n".join(err)


def test_the_torso_mean_reads_a_noisy_supine_torso_supine_where_each_frame_reads_side() -> None:
    frames = [rolled(supine_torso(), 50.0), rolled(supine_torso(), -50.0)]  # rolled either way past the 45 deg line
    assert [posture_with_margin(None, kp)[0] for kp in frames] == ["side", "side"]
    mean = TorsoMean(PostureConfig(torso_window=1.0))
    for i in range(10):
        torso = mean.update(i * 0.1, frames[i % 2])
    assert torso is not None and np.linalg.norm(torso) == pytest.approx(np.cos(np.radians(50.0)))
    label, margin = posture_with_margin(None, frames[1], torso=torso)  # the frame's own kp3d gives way to the mean
    assert label == "supine" and margin == pytest.approx(np.cos(np.radians(50.0)))  # facing 0 deg, scaled by agreement


def test_the_torso_mean_forgets_old_frames_and_resets() -> None:
    mean = TorsoMean(PostureConfig(torso_window=1.0))
    for i in range(10):
        mean.update(i * 0.1, rolled(supine_torso(), 90.0))  # on its side, anterior +x
    for i in range(10, 21):
        torso = mean.update(i * 0.1, supine_torso())  # then 1.1 s on its back: the side frames have left
    assert torso is not None and torso == pytest.approx([0.0, 0.0, -1.0])
    assert mean.update(2.1, None) == pytest.approx([0.0, 0.0, -1.0])  # a frame without a torso does not count
    mean.reset()
    assert mean.update(2.2, None) is None
    own = TorsoMean(PostureConfig(torso_window=0.0))  # no history: the frame's own direction
    own.update(0.0, rolled(supine_torso(), 90.0))
    assert own.update(0.1, supine_torso()) == pytest.approx([0.0, 0.0, -1.0])
    with pytest.raises(InputError, match="torso_window"):
        PostureConfig(torso_window=-1.0)


def test_monitor_posture_net_option_names_a_file_the_shipped_one_or_none(monkeypatch) -> None:
    """`--posture-net`: the shipped classifier unless told, 'off' (any case, as `--handedness`) for none, else the
    file given."""
    from typer.testing import CliRunner

    from tpt_live.cli.app import app
    from tpt_live.errors import InputError
    from tpt_live.monitor import setup

    seen: list[str | None] = []

    def capture(req, *args, **kwargs):
        seen.append(req.posture_net)
        raise InputError("stop here")

    monkeypatch.setattr(setup, "open_session", capture)
    for extra in ([], ["--posture-net", "off"], ["--posture-net", " OFF"], ["--posture-net", "mine.safetensors"]):
        result = CliRunner().invoke(app, ["monitor", "a.mp4", "-q", *extra])
        assert isinstance(result.exception, InputError) and str(result.exception) == "stop here"
    assert seen == ["shipped", None, None, "mine.safetensors"]
