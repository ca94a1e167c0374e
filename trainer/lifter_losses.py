"""Losses of the lifter training (trainer/lifter_train.py): the lift-reproject-lift cycle, bone-length
priors, the infant lying-on-a-mat prior, anatomical joint limits that break the depth-sign symmetry, and
temporal terms.

Convention: poses Y (B, J, 3) root-centred in camera axes (x right, y down, z forward), any unit unless
a docstring says otherwise; anatomical left/right as in `tpt_live.skeleton`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from tpt_live.lifter import project, rotate
from tpt_live.skeleton import BONE_INDEX, FLIP_INDEX, JOINT_INDEX


def bone_lengths(X: Tensor) -> Tensor:
    """(..., B) lengths of the skeleton's bones of poses (..., J, D)."""
    a, b = zip(*BONE_INDEX, strict=True)
    return torch.linalg.vector_norm(X[..., list(b), :] - X[..., list(a), :], dim=-1)


_BONE_FLIP = [BONE_INDEX.index((FLIP_INDEX[a], FLIP_INDEX[b])) for a, b in BONE_INDEX]


def cycle_losses(
    x: Tensor, lift: Callable[[Tensor], Tensor], R: Tensor, c: float = 10.0, root_neck: float = 0.1
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The lift-reproject-lift cycle. x: (B, J, 2) normalised 2D; lift: normalised 2D -> root-centred 3D.

    Y = lift(x); Yr = R Y; xr = project(Yr); Y2 = lift(xr); x2 = project(R^T Y2). Returns (loss_2d,
    loss_3d, Y, xr): mean squared |x - x2| / root_neck^2 and mean squared |Yr - Y2|, both zero for a
    lifter consistent with every view; xr is the random view for the 2D prior.
    """
    Y = lift(x)
    Yr = rotate(Y, R)
    xr = project(Yr, c)
    Y2 = lift(xr)
    x2 = project(rotate(Y2, R.mT), c)
    loss_2d = ((x - x2) ** 2).sum(-1).mean() / root_neck**2
    loss_3d = ((Yr - Y2) ** 2).sum(-1).mean()
    return loss_2d, loss_3d, Y, xr


def bone_loss(Y: Tensor, ref: Tensor) -> Tensor:
    """Squared deviation of 3D bone ratios (to the root-to-neck length) from `ref`, plus left/right asymmetry.

    Y: (B, J, 3) root-centred poses, any unit; ref: (len(BONES),) ratios. Zero for a symmetric pose whose
    bones have the prescribed ratios.
    """
    r = bone_lengths(Y) / bone_lengths(Y)[..., :2].sum(-1, keepdim=True).clamp_min(1e-9)
    return ((r - ref) ** 2).mean() + ((r - r[..., _BONE_FLIP]) ** 2).mean()


_TORSO = [JOINT_INDEX[n] for n in ("pelvis", "thorax", "left_hip", "right_hip", "left_shoulder", "right_shoulder")]
_LR = (
    [JOINT_INDEX["left_hip"], JOINT_INDEX["left_shoulder"]],
    [JOINT_INDEX["right_hip"], JOINT_INDEX["right_shoulder"]],
)


def sign_loss(Y: Tensor, margin: float = 0.25, max_tilt_deg: float = 45.0) -> Tensor:
    """Hinges for a body lying on a mat seen from above: joints behind the torso plane, a torso turned away.

    Y: (B, J, 3) root-centred, camera axes (x right, y down, z forward). The torso plane passes through the
    mean of pelvis, thorax, hips and shoulders, spanned by the body axis (pelvis -> thorax) and the
    shoulder/hip line; its normal is oriented towards the camera (negative z). A joint further from the
    camera than the plane by more than `margin` root-to-neck lengths costs the squared excess (in
    root-to-neck lengths). Zero for a flat pose (z = 0) and for limbs raised towards the camera.
    """
    axis = Y[:, JOINT_INDEX["thorax"]] - Y[:, JOINT_INDEX["pelvis"]]
    across = (Y[:, _LR[0]] - Y[:, _LR[1]]).mean(1)
    n = torch.linalg.cross(across, axis)
    n = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True).clamp_min(1e-9)
    n = n * torch.where(n[:, 2:] > 0, -1.0, 1.0)  # towards the camera
    unit = (Y[:, JOINT_INDEX["neck"]] - Y[:, JOINT_INDEX["pelvis"]]).norm(dim=-1).clamp_min(1e-9)
    behind = -((Y - Y[:, _TORSO].mean(1, keepdim=True)) * n[:, None]).sum(-1) / unit[:, None]
    facing = torch.relu(math.cos(math.radians(max_tilt_deg)) + n[:, 2]) ** 2
    return (torch.relu(behind - margin) ** 2).mean() + facing.mean()


def temporal_loss(Y0: Tensor, Y1: Tensor) -> Tensor:
    """Bone-length ratios of consecutive frames should agree (bones do not stretch)."""
    r0, r1 = bone_lengths(Y0), bone_lengths(Y1)
    r0 = r0 / r0.sum(-1, keepdim=True).clamp_min(1e-9)
    r1 = r1 / r1.sum(-1, keepdim=True).clamp_min(1e-9)
    return ((r0 - r1) ** 2).sum(-1).mean()


def scale_aligned_l2(Y: Tensor, G: Tensor) -> Tensor:
    """Mean squared error after the best per-frame scale of root-centred Y (B, J, 3) onto G (N-MPJPE style)."""
    s = (Y * G).sum((-1, -2), keepdim=True) / (Y * Y).sum((-1, -2), keepdim=True).clamp_min(1e-9)
    return ((s * Y - G) ** 2).sum(-1).mean()


_LEGS = tuple((JOINT_INDEX[f"{s}_hip"], JOINT_INDEX[f"{s}_knee"], JOINT_INDEX[f"{s}_ankle"]) for s in ("left", "right"))


def body_axes(Y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Unit (B, 3) axes of poses Y (B, J, 3): left (right hip -> left hip), up (pelvis -> thorax, made
    orthogonal to left) and forward = left x up (the way the chest faces for an anatomically labelled body)."""
    left = Y[:, JOINT_INDEX["left_hip"]] - Y[:, JOINT_INDEX["right_hip"]]
    left = left / torch.linalg.vector_norm(left, dim=-1, keepdim=True).clamp_min(1e-9)
    up = Y[:, JOINT_INDEX["thorax"]] - Y[:, JOINT_INDEX["pelvis"]]
    up = up - (up * left).sum(-1, keepdim=True) * left
    up = up / torch.linalg.vector_norm(up, dim=-1, keepdim=True).clamp_min(1e-9)
    return left, up, torch.linalg.cross(left, up)


def limit_loss(Y: Tensor, max_hip_extension_deg: float = 30.0) -> Tensor:
    """Anatomical joint limits that a depth-mirrored lift breaks: knees do not bend forwards, thighs do not
    swing far behind the trunk.

    Y: (B, J, 3) root-centred, camera axes. Knee: the hinge axis thigh x shin points to the body's left
    (`body_axes`) when the shin folds backwards; the term is relu(-(thigh x shin) . left / |thigh||shin|)^2,
    i.e. the squared sine of a forward bend. Hip: relu(-thigh . forward / |thigh| - sin(limit))^2, a thigh
    more than `max_hip_extension_deg` behind the trunk's frontal plane. Both are zero for a flat pose and
    for a straight leg; mirroring the pose in depth (z -> -z) flips the sign of both dot products (the
    body axes of a mirror image are left-handed), so a lift and its depth mirror cost differently.
    """
    left, _, forward = body_axes(Y)
    cost = Y.new_zeros(())
    limit = math.sin(math.radians(max_hip_extension_deg))
    for hip, knee, ankle in _LEGS:
        thigh, shin = Y[:, knee] - Y[:, hip], Y[:, ankle] - Y[:, knee]
        lt = torch.linalg.vector_norm(thigh, dim=-1).clamp_min(1e-9)
        ls = torch.linalg.vector_norm(shin, dim=-1).clamp_min(1e-9)
        bend = (torch.linalg.cross(thigh, shin) * left).sum(-1) / (lt * ls)
        swing = (thigh * forward).sum(-1) / lt
        cost = cost + (torch.relu(-bend) ** 2).mean() + (torch.relu(-swing - limit) ** 2).mean()
    return 0.5 * cost


def smooth_loss(Y0: Tensor, Y1: Tensor) -> Tensor:
    """Depth consistency between consecutive frames of one subject: mean squared 3D displacement of the
    root-centred joints, per squared root-to-neck length of Y0 (a per-frame depth flip costs, a smooth
    motion does not)."""
    unit = (Y0[:, JOINT_INDEX["neck"]] - Y0[:, 0]).norm(dim=-1).clamp_min(1e-9)
    return (((Y1 - Y0) ** 2).sum(-1).mean(-1) / unit**2).mean()


def gravity_loss(Y: Tensor, max_lean_deg: float = 5.0) -> Tensor:
    """Upright adults filmed from at or above their height: the trunk (pelvis -> thorax) does not lean away
    from the camera by more than `max_lean_deg`: relu(up_z - sin(limit))^2 with up the unit trunk axis in
    camera axes (z forward). A depth mirror turns a lean towards the camera into one away."""
    up = Y[:, JOINT_INDEX["thorax"]] - Y[:, JOINT_INDEX["pelvis"]]
    up_z = up[:, 2] / torch.linalg.vector_norm(up, dim=-1).clamp_min(1e-9)
    return (torch.relu(up_z - math.sin(math.radians(max_lean_deg))) ** 2).mean()
