"""Keypoint vocabulary shared by the synthetic generator, the model read-out and the metrics.

Names are anatomical: ``left_*`` is the subject's left. A subject lying on its back and seen from
above with the head at the top of the image (or standing and facing the camera) has its left side
on the image's right.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "thorax",
    "neck",
    "head",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Bones as (parent, child) joint names; a tree rooted at the pelvis.
BONES: tuple[tuple[str, str], ...] = (
    ("pelvis", "thorax"),
    ("thorax", "neck"),
    ("neck", "head"),
    ("pelvis", "left_hip"),
    ("pelvis", "right_hip"),
    ("left_hip", "left_knee"),
    ("right_hip", "right_knee"),
    ("left_knee", "left_ankle"),
    ("right_knee", "right_ankle"),
    ("thorax", "left_shoulder"),
    ("thorax", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
)
BONE_INDEX: tuple[tuple[int, int], ...] = tuple((JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in BONES)

# Index permutation that swaps left and right (for swap-tolerant metrics and flip augmentation).
FLIP_INDEX: tuple[int, ...] = tuple(
    JOINT_INDEX[
        n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        if n.startswith(("left_", "right_"))
        else n
    ]
    for n in JOINT_NAMES
)

# Joint groups of the paper's tables (feet = ankles, hands = wrists).
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "hips": ("left_hip", "right_hip"),
    "knees": ("left_knee", "right_knee"),
    "feet": ("left_ankle", "right_ankle"),
    "shoulders": ("left_shoulder", "right_shoulder"),
    "hands": ("left_wrist", "right_wrist"),
}


# Signed width (`signed_width_2d`) from which a torso shows its back to the camera: between a torso on its
# side (0.25) and a flat one (0.6); the monitor reads it as prone (tpt_live.monitor.posture).
BACK_2D = 0.4


def signed_width_2d(kp2d: np.ndarray) -> float:
    """The 2D handedness of a torso: image-plane cross(left - right, up) / trunk length^2, up = pelvis -> thorax,
    left - right across the shoulders and the hips (the mean of the two). About -0.6 for a flat torso facing the
    camera with its head up the picture (its left on the picture's right), +0.6 for one showing its back, near
    0 on its side. A turned or scaled picture keeps it (a ratio of areas); a mirrored one flips its sign.
    kp2d: (J, >=2) pixels, x = col, y = row."""
    up = kp2d[JOINT_INDEX["thorax"], :2] - kp2d[JOINT_INDEX["pelvis"], :2]
    shoulders = kp2d[JOINT_INDEX["left_shoulder"], :2] - kp2d[JOINT_INDEX["right_shoulder"], :2]
    across = 0.5 * (shoulders + kp2d[JOINT_INDEX["left_hip"], :2] - kp2d[JOINT_INDEX["right_hip"], :2])
    trunk2 = float(up @ up)
    if trunk2 < 1e-9:
        return 0.0
    return float(across[0] * up[1] - across[1] * up[0]) / trunk2


def side(name: str) -> str:
    """'left', 'right' or 'centre' for a joint name."""
    if name.startswith("left_"):
        return "left"
    if name.startswith("right_"):
        return "right"
    return "centre"
