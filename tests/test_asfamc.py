"""ASF/AMC motion capture: an Acclaim skeleton and motion the test writes, the Euler conventions, forward
kinematics, the 16-joint mapping (constant limbs, anatomical left/right) and `tpt-live mocap` on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tpt_live.asfamc import euler_matrix, find_asf, read_amc, read_asf
from tpt_live.cli import app
from tpt_live.errors import InputError
from tpt_live.mocap import View, load_motion, view_clip
from tpt_live.skeleton import JOINT_INDEX

# (name, direction, length, axis, dof): a CMU-like subject facing +z with its left on +x, y up (file units;
# lengths like CMU's, 1 unit = 0.056444 m). The arms carry CMU's tilted local frames.
LEFT = [
    ("lhipjoint", (1, -1, 0.3), 1.5, "0 0 0", ""),
    ("lfemur", (0.34, -0.94, 0), 7.3, "0 0 20", "rx ry rz"),
    ("ltibia", (0.34, -0.94, 0), 6.9, "0 0 20", "rx"),
    ("lfoot", (0, -0.2, 1), 2.0, "-90 0 20", "rx rz"),
    ("lclavicle", (0.94, 0.34, 0), 3.5, "0 0 0", "ry rz"),
    ("lhumerus", (1, 0, 0), 5.7, "180 -30 -90", "rx ry rz"),
    ("lradius", (1, 0, 0), 3.5, "180 -30 -90", "rx"),
    ("lwrist", (1, 0, 0), 1.7, "0 90 90", "ry"),
]
SPINE = [
    ("lowerback", (0, 1, -0.2), 2.1, "0 0 0", "rx ry rz"),
    ("upperback", (0, 1, 0), 2.1, "0 0 0", "rx ry rz"),
    ("thorax", (0, 1, 0.08), 2.2, "0 0 0", "rx ry rz"),
    ("lowerneck", (-0.06, 1, 0.16), 1.8, "0 0 0", "rx ry rz"),
    ("upperneck", (0.05, 1, -0.18), 1.8, "0 0 0", "rx ry rz"),
    ("head", (0.02, 1, -0.08), 1.8, "0 0 0", "rx ry rz"),
]
HIERARCHY = """:hierarchy
  begin
    root lhipjoint rhipjoint lowerback
    lhipjoint lfemur
    lfemur ltibia
    ltibia lfoot
    rhipjoint rfemur
    rfemur rtibia
    rtibia rfoot
    lowerback upperback
    upperback thorax
    thorax lowerneck lclavicle rclavicle
    lowerneck upperneck
    upperneck head
    lclavicle lhumerus
    lhumerus lradius
    lradius lwrist
    rclavicle rhumerus
    rhumerus rradius
    rradius rwrist
  end
"""


def _mirror(bone: tuple) -> tuple:
    """The right-side twin of a left bone: x mirrored, axes turned the other way."""
    name, (x, y, z), length, axis, dof = bone
    ax = [-float(a) if k else float(a) for k, a in enumerate(axis.split())]
    return ("r" + name[1:], (-x, y, z), length, " ".join(f"{a:g}" for a in ax), dof)


BONES = SPINE + LEFT + [_mirror(b) for b in LEFT]


def _asf() -> str:
    text = ":version 1.10\n:name TEST\n:units\n  mass 1.0\n  length 0.45\n  angle deg\n:root\n"
    text += "   order TX TY TZ RX RY RZ\n   axis XYZ\n   position 0 0 0\n   orientation 0 0 0\n:bonedata\n"
    for k, (name, d, length, axis, dof) in enumerate(BONES):
        text += f"  begin\n     id {k + 1}\n     name {name}\n     direction {d[0]} {d[1]} {d[2]}\n"
        text += f"     length {length}\n     axis {axis} XYZ\n"
        if dof:
            text += f"    dof {dof}\n    limits" + "".join(" (-180.0 180.0)\n" for _ in dof.split())
        text += "  end\n"
    return text + HIERARCHY


def _write(folder: Path, frames: int = 40, seed: int = 0) -> Path:
    """A walk along +z (120 Hz): 11.asf and 11_01.amc with smooth random angles; knees flex backwards."""
    (folder / "11.asf").write_text(_asf())
    t = np.arange(frames) / 120.0
    lines = ["# written by the test", ":FULLY-SPECIFIED", ":DEGREES"]
    for i in range(frames):
        lines.append(str(i + 1))
        root = (0.2 * np.sin(5 * t[i]), 17.0, 20.0 * t[i], 5 * np.sin(3 * t[i]), 8 * np.sin(2 * t[i]), 0.0)
        lines.append("root " + " ".join(f"{v:.5f}" for v in root))
        for name, _, _, _, dof in BONES:
            if not dof:
                continue
            n = len(dof.split())
            g = np.random.default_rng([seed, sum(map(ord, name))])
            amp, phase = g.uniform(5, 30, n), g.uniform(0, 2 * np.pi, n)
            values = amp * np.sin(2 * np.pi * 1.5 * t[i] + phase)
            if name.endswith("tibia"):
                values = 20 + np.abs(values)  # flexed backwards: positive rx
            lines.append(name + " " + " ".join(f"{v:.5f}" for v in values))
    (folder / "11_01.amc").write_text("\n".join(lines) + "\n")
    return folder / "11_01.amc"


def test_euler_order_and_bone_frames(tmp_path: Path) -> None:
    rx = euler_matrix(np.radians([[90.0, 0.0]]), "XY")[0]
    np.testing.assert_allclose(rx @ [0, 1, 0], [0, 0, 1], atol=1e-12)  # +90 about x: y -> z
    both = euler_matrix(np.radians([[90.0, 90.0]]), "XY")[0]  # x turns first, then y
    np.testing.assert_allclose(both @ [0, 1, 0], [1, 0, 0], atol=1e-12)  # y -> z -> x
    asf = ":units\n angle deg\n:root\n order TX TY TZ RX RY RZ\n axis XYZ\n position 0 0 0\n orientation 0 0 0\n"
    asf += ":bonedata\n begin\n id 1\n name b\n direction 1 0 0\n length 2\n axis 0 0 90 XYZ\n dof rx\n end\n"
    asf += ":hierarchy\n begin\n root b\n end\n"
    (tmp_path / "s.asf").write_text(asf)
    (tmp_path / "s_1.amc").write_text(":DEGREES\n1\nroot 1 2 3 0 0 0\nb 90\n2\nroot 1 2 3 0 0 90\nb 0\n")
    motion, rate = read_amc(tmp_path / "s_1.amc")
    assert rate == 120.0 and motion.names == ["root", "b", "b_end"] and motion.parents == [-1, 0, 1]
    P = motion.positions
    np.testing.assert_allclose(P[:, 1], [[1, 2, 3], [1, 2, 3]], atol=1e-12)  # the bone starts at the root
    # frame 1: rx 90 in b's frame C = Rz(90) is a turn about world +y, taking +x to -z
    np.testing.assert_allclose(P[0, 2] - P[0, 1], [0, 0, -2], atol=1e-12)
    # frame 2: the root's +90 about z takes the bone's +x to +y
    np.testing.assert_allclose(P[1, 2] - P[1, 1], [0, 2, 0], atol=1e-12)


def test_import_keeps_limb_lengths_and_anatomical_sides(tmp_path: Path) -> None:
    joints, fps = load_motion(_write(tmp_path))
    assert fps == 120.0 and joints.shape == (40, 16, 3)
    unit = 0.056444  # picked by auto_unit (CMU's 1 / 0.45 inch)
    J = JOINT_INDEX
    for a, b, length in (("left_hip", "left_knee", 7.3), ("right_knee", "right_ankle", 6.9),
                         ("left_shoulder", "left_elbow", 5.7), ("right_elbow", "right_wrist", 3.5)):  # fmt: skip
        d = np.linalg.norm(joints[:, J[b]] - joints[:, J[a]], axis=-1)
        np.testing.assert_allclose(d, length * unit, rtol=1e-9)
    np.testing.assert_allclose(joints[:, J["pelvis"]], 0.5 * (joints[:, J["left_hip"]] + joints[:, J["right_hip"]]))
    np.testing.assert_allclose(np.linalg.norm(joints[:, J["head"]] - joints[:, J["neck"]], axis=-1), 0.9 * unit)
    assert (joints[:, J["head"], 1] > joints[:, J["pelvis"], 1] + 0.5).all()  # y up, metres
    # knees flexed backwards (positive rx): the ankle is behind the hip-knee line's extension
    for side in ("left", "right"):
        thigh = joints[:, J[f"{side}_knee"]] - joints[:, J[f"{side}_hip"]]
        shin = joints[:, J[f"{side}_ankle"]] - joints[:, J[f"{side}_knee"]]
        assert (np.cross(thigh, shin)[:, 0] > 0).all()  # hinge axis to the subject's left (+x)
    for view, sign in ((View(0.0, 0.0, 5.0), 1), (View(180.0, 0.0, 5.0), -1)):
        kp = np.array([f["kp2d"] for f in view_clip(joints, view, fps, "v")["frames"]])
        for part in ("hip", "shoulder", "knee"):  # facing the camera: the subject's left on the image right
            assert (sign * (kp[:, J[f"left_{part}"], 0] - kp[:, J[f"right_{part}"], 0]) > 0).all()
        assert (kp[:, J["head"], 1] < kp[:, J["pelvis"], 1]).all()


def test_skeleton_lookup_and_malformed_files(tmp_path: Path) -> None:
    amc = _write(tmp_path)
    assert find_asf(amc) == tmp_path / "11.asf"
    (tmp_path / "other").mkdir()
    lone = tmp_path / "other" / "x.amc"
    lone.write_text(amc.read_text())
    with pytest.raises(InputError, match="asf"):
        find_asf(lone)
    (tmp_path / "other" / "any.asf").write_text(_asf())
    assert read_amc(lone)[0].positions.shape == (40, len(BONES) + 1 + 5, 3)  # root, bones, 5 end sites
    lone.write_text(amc.read_text().replace("ltibia", "ltibiaX", 1))
    with pytest.raises(InputError, match="ltibia"):
        read_amc(lone)
    (tmp_path / "bad.asf").write_text(_asf().replace("lowerneck upperneck", "lowerneck nosuchbone"))
    with pytest.raises(InputError, match="nosuchbone"):
        read_asf(tmp_path / "bad.asf")


def test_mocap_cli_reads_amc(tmp_path: Path) -> None:
    amc = _write(tmp_path, frames=60)
    out = tmp_path / "clips"
    result = CliRunner().invoke(app, ["mocap", str(amc), "--out", str(out), "--azimuth", "90"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "11_01_az090_el+10.json").read_text())
    assert doc["num_frames"] == 15 and doc["fps"] == pytest.approx(30.0)
    k3 = np.array([f["kp3d"] for f in doc["frames"]])
    assert (k3[:, JOINT_INDEX["left_hip"], 2] < k3[:, JOINT_INDEX["right_hip"], 2]).all()  # seen from its left
