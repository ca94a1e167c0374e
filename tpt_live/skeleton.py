"""Keypoint vocabulary shared by the synthetic generator, the model read-out and the metrics.

Names are anatomical: ``left_*`` is the subject's left. A subject lying on its back and seen from
above with the head at the top of the image (or standing and facing the camera) has its left side
on the image's right.
"""

from __future__ import annotations

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


def side(name: str) -> str:
    """'left', 'right' or 'centre' for a joint name."""
    if name.startswith("left_"):
        return "left"
    if name.startswith("right_"):
        return "right"
    return "centre"
