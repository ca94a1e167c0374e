"""Lying posture (supine, side, prone) from 3D torso orientation, or from 2D cues when there is no 3D.

Convention: 2D keypoints are image pixels (x = col, y = row, y down); 3D keypoints are camera axes (x right,
y down, z forward, away from the camera), as `tpt_live.lifter` and `tpt_live.synth` give them. Joint
order is `tpt_live.skeleton.JOINT_NAMES`; left/right are the subject's.

The torso's anterior direction is `cross(left - right, up)` with `up` = pelvis -> thorax and `left - right`
across the shoulders and the hips (the body frame's x cross y = z). 3D: the angle between that direction
and the direction to the camera (-z) is < 45 deg supine, > 135 deg prone, otherwise side. 2D: the same
cross product in the image plane, divided by the squared trunk length, is about -0.6 for a supine infant
seen from above (its left on the image right), +0.6 prone, and near 0 on the side (shoulders stacked);
`|s| < SIDE_2D` counts as side. The 2D cue relies on the tracker telling left from right.
"""

from __future__ import annotations

import numpy as np

from tpt_live.skeleton import JOINT_INDEX

POSTURES = ("supine", "side", "prone")
SIDE_2D = 0.25  # |signed width / trunk length^2| below which the 2D cue says "side"
_P, _T = JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]
_LS, _RS = JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]
_LH, _RH = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]


def facing_angle_3d(kp3d: np.ndarray) -> float:
    """Degrees between the torso's anterior direction and the direction to the camera. kp3d: (J, 3)."""
    up = kp3d[_T] - kp3d[_P]
    across = (kp3d[_LS] - kp3d[_RS]) + (kp3d[_LH] - kp3d[_RH])
    anterior = np.cross(across, up)
    norm = float(np.linalg.norm(anterior))
    if norm < 1e-9:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(-anterior[2] / norm, -1.0, 1.0))))


def signed_width_2d(kp2d: np.ndarray) -> float:
    """Image-plane cross(left - right, up) / trunk length^2 (see the module docstring). kp2d: (J, >=2) pixels."""
    up = kp2d[_T, :2] - kp2d[_P, :2]
    across = 0.5 * ((kp2d[_LS, :2] - kp2d[_RS, :2]) + (kp2d[_LH, :2] - kp2d[_RH, :2]))
    trunk2 = float(up @ up)
    if trunk2 < 1e-9:
        return 0.0
    return float(across[0] * up[1] - across[1] * up[0]) / trunk2


def posture(kp2d: np.ndarray | None, kp3d: np.ndarray | None = None) -> str | None:
    """'supine', 'side' or 'prone'; 3D when `kp3d` (J, 3) is given, else the 2D cue of `kp2d` (J, >=2)."""
    if kp3d is not None:
        a = facing_angle_3d(kp3d)
        return "supine" if a < 45 else "prone" if a > 135 else "side"
    if kp2d is None:
        return None
    s = signed_width_2d(kp2d)
    return "side" if abs(s) < SIDE_2D else "supine" if s < 0 else "prone"
