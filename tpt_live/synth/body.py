"""Articulated 3D infant body: sampled proportions, joint angles and forward kinematics.

Convention (body frame, metres): origin at the pelvis joint; +x towards the infant's LEFT, +y towards
the head (superior), +z out of the belly (anterior). A supine infant seen from above with its head at
the top of the image therefore has its left side on the image's right (see `tpt_live.skeleton`).

Every segment is a tapered capsule (limbs) or an ellipsoid (head, trunk, hands, feet); the renderer
(`render.py`) rasterises them and `motion.py` drives the joint angles of `Pose`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tpt_live.skeleton import JOINT_INDEX, NUM_JOINTS

SIDES: tuple[str, str] = ("l", "r")  # left, right; side sign +1 for left, -1 for right


@dataclass(frozen=True)
class BodyParams:
    """Sizes of one infant in metres (a mean 3-month-old has scale 1 and every factor 1)."""

    scale: float = 1.0  # overall size factor; already applied to every length below
    trunk_len: float = 0.19  # pelvis joint to thorax joint
    neck_len: float = 0.035  # thorax joint to neck joint (base of the head)
    hip_half_width: float = 0.045  # pelvis to each hip joint
    shoulder_half_width: float = 0.07  # thorax to each shoulder joint
    head_radii: tuple[float, float, float] = (0.06, 0.068, 0.064)  # head ellipsoid: lateral, axial, ant-post
    trunk_radii: tuple[float, float, float] = (0.085, 0.135, 0.062)  # trunk ellipsoid: lateral, axial, depth
    upper_arm_len: float = 0.085  # shoulder to elbow
    forearm_len: float = 0.075  # elbow to wrist
    hand_radii: tuple[float, float, float] = (0.022, 0.027, 0.012)  # hand ellipsoid: width, length, thickness
    thigh_len: float = 0.10  # hip to knee
    shin_len: float = 0.095  # knee to ankle
    foot_radii: tuple[float, float, float] = (0.02, 0.036, 0.015)  # foot ellipsoid: width, length, thickness
    arm_radii: tuple[float, float, float] = (0.026, 0.022, 0.018)  # capsule radius at shoulder, elbow, wrist
    leg_radii: tuple[float, float, float] = (0.037, 0.028, 0.02)  # capsule radius at hip, knee, ankle

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (floats rounded to 4 decimals)."""
        return {k: _round(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class Pose:
    """Joint angles in radians (one frame). `l_`/`r_` are the infant's left and right.

    Limb directions are spherical in the parent frame: `*_abd` swings the limb in the coronal plane
    (the mat plane when supine) away from "pointing to the feet" towards lateral; `*_elev` lifts it out
    of that plane towards anterior. Elbows/knees flex in a plane turned by `*_twist` about the upper
    limb (0 = elbow bends anteriorly, knee posteriorly; positive = towards the head / laterally).
    """

    head_yaw: float = 0.0  # head turn about its own axis (face towards the left is positive)
    head_tilt: float = 0.0  # head bend towards the left shoulder in the coronal plane
    head_nod: float = 0.0  # chin towards the chest is positive
    trunk_bend: float = 0.0  # lateral bend of the thorax towards the left
    trunk_pitch: float = 0.0  # the thorax towards anterior (negative: the back arched, a prone baby's chest lifted)
    l_sh_abd: float = np.radians(55.0)  # shoulder abduction (0 = arm along the trunk)
    r_sh_abd: float = np.radians(55.0)
    l_sh_elev: float = np.radians(12.0)  # shoulder elevation towards anterior
    r_sh_elev: float = np.radians(12.0)
    l_elbow: float = np.radians(30.0)  # elbow flexion
    r_elbow: float = np.radians(30.0)
    l_elbow_twist: float = np.radians(30.0)  # elbow flexion plane
    r_elbow_twist: float = np.radians(30.0)
    l_hip_abd: float = np.radians(15.0)  # hip abduction
    r_hip_abd: float = np.radians(15.0)
    l_hip_elev: float = np.radians(20.0)  # hip flexion (thigh lifts anteriorly)
    r_hip_elev: float = np.radians(20.0)
    l_knee: float = np.radians(35.0)  # knee flexion
    r_knee: float = np.radians(35.0)
    l_knee_twist: float = np.radians(10.0)  # knee flexion plane (positive = frog-leg, laterally)
    r_knee_twist: float = np.radians(10.0)
    l_ankle: float = np.radians(10.0)  # plantar flexion of the foot
    r_ankle: float = np.radians(10.0)


POSE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Pose))


@dataclass(frozen=True)
class Capsule:
    """Tapered capsule from `a` to `b` with radii `ra` at `a` and `rb` at `b`, in F frames at once."""

    name: str  # segment name, e.g. "l_forearm"
    a: np.ndarray  # (F, 3) axis start
    b: np.ndarray  # (F, 3) axis end
    ra: float  # radius at a, metres
    rb: float  # radius at b, metres


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with centre `c`, orientation `rot` and semi-axes `radii`, in F frames at once."""

    name: str  # segment name, e.g. "head"
    c: np.ndarray  # (F, 3) centre
    rot: np.ndarray  # (F, 3, 3) rotation; column k is local axis k expressed in the outer frame
    radii: np.ndarray  # (3,) semi-axes along the local axes (local x, y, z), metres


Segment = Capsule | Ellipsoid

# Segments in rendering order and the joints each one "owns" (a joint is not occluded by its owners).
SEGMENT_NAMES: tuple[str, ...] = (
    "trunk",
    "head",
    "l_upper_arm",
    "r_upper_arm",
    "l_forearm",
    "r_forearm",
    "l_hand",
    "r_hand",
    "l_thigh",
    "r_thigh",
    "l_shin",
    "r_shin",
    "l_foot",
    "r_foot",
)
SEGMENT_INDEX: dict[str, int] = {n: i for i, n in enumerate(SEGMENT_NAMES)}
_JOINT_OWNERS: dict[str, tuple[str, ...]] = {
    "pelvis": ("trunk", "l_thigh", "r_thigh"),
    "thorax": ("trunk", "l_upper_arm", "r_upper_arm", "head"),
    "neck": ("trunk", "head"),
    "head": ("head",),
}
for _s, _full in (("l", "left"), ("r", "right")):
    _JOINT_OWNERS[f"{_full}_hip"] = ("trunk", f"{_s}_thigh")
    _JOINT_OWNERS[f"{_full}_knee"] = (f"{_s}_thigh", f"{_s}_shin")
    _JOINT_OWNERS[f"{_full}_ankle"] = (f"{_s}_shin", f"{_s}_foot")
    _JOINT_OWNERS[f"{_full}_shoulder"] = ("trunk", f"{_s}_upper_arm")
    _JOINT_OWNERS[f"{_full}_elbow"] = (f"{_s}_upper_arm", f"{_s}_forearm")
    _JOINT_OWNERS[f"{_full}_wrist"] = (f"{_s}_forearm", f"{_s}_hand")
JOINT_OWNERS: dict[str, tuple[str, ...]] = _JOINT_OWNERS


def _round(v: object) -> object:
    if isinstance(v, tuple | list):
        return [round(float(x), 4) for x in v]
    if isinstance(v, float):
        return round(v, 4)
    return v


def sample_body(rng: np.random.Generator) -> BodyParams:
    """Random infant: overall size x U(0.9, 1.1) and every proportion x U(0.9, 1.1) (left = right)."""
    mean = BodyParams()
    scale = float(rng.uniform(0.9, 1.1))
    values: dict[str, object] = {"scale": scale}
    for field in dataclasses.fields(BodyParams):
        if field.name == "scale":
            continue
        v = getattr(mean, field.name)
        if isinstance(v, tuple):
            values[field.name] = tuple(float(x * scale * rng.uniform(0.9, 1.1)) for x in v)
        else:
            values[field.name] = float(v * scale * rng.uniform(0.9, 1.1))
    return BodyParams(**values)  # type: ignore[arg-type]


def pose_arrays(poses: Sequence[Pose]) -> dict[str, np.ndarray]:
    """Stack poses into one (F,) float64 array per `Pose` field (radians)."""
    return {k: np.array([getattr(p, k) for p in poses], dtype=np.float64) for k in POSE_FIELDS}


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return out


def _rot(axis: int, a: np.ndarray) -> np.ndarray:
    """(F, 3, 3) right-handed rotations by angles `a` (F,) about x (0), y (1) or z (2)."""
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[:, axis, axis] = 1.0
    r[:, i, i], r[:, j, j], r[:, i, j], r[:, j, i] = c, c, -s, s
    return r


def rot_y(a: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations by `a` (F,) radians about +y (z towards +x)."""
    return _rot(1, np.atleast_1d(a))


def rot_z(a: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations by `a` (F,) radians about +z (x towards +y)."""
    return _rot(2, np.atleast_1d(a))


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched rot (F, 3, 3) @ v (F, 3) or (3,)."""
    out: np.ndarray = np.einsum("fij,fj->fi", rot, np.broadcast_to(v, (len(rot), 3)))
    return out


def _limb(
    frame: np.ndarray,
    sign: float,
    abd: np.ndarray,
    elev: np.ndarray,
    flex: np.ndarray,
    twist: np.ndarray,
    bend_anterior: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions (each (F, 3)) of a two-segment limb in the outer frame; angles (F,) radians.

    Returns (upper, lower, front): unit vectors of the upper segment, of the lower segment, and the
    direction perpendicular to `lower` in the flexion plane on the side away from the bend (where a
    foot points). `frame` (F, 3, 3) is the parent frame (columns: lateral-left, superior, anterior).
    """
    local = np.stack([sign * np.sin(abd) * np.cos(elev), -np.cos(abd) * np.cos(elev), np.sin(elev)], axis=1)
    u = _apply(frame, local)
    anterior = frame[:, :, 2]
    e1 = anterior - (anterior * u).sum(axis=1, keepdims=True) * u
    n1 = np.linalg.norm(e1, axis=1, keepdims=True)
    e1 = np.where(n1 > 1e-6, e1 / np.maximum(n1, 1e-12), frame[:, :, 1])
    e2 = -sign * _unit(np.cross(u, e1))
    w = np.cos(twist)[:, None] * (e1 if bend_anterior else -e1) + np.sin(twist)[:, None] * e2
    cf, sf = np.cos(flex)[:, None], np.sin(flex)[:, None]
    return u, cf * u + sf * w, sf * u - cf * w


def _frame_from(y_axis: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations whose column 1 is `y_axis` (F, 3) and column 2 `z_hint` made orthogonal."""
    y = _unit(y_axis)
    z = _unit(z_hint - (z_hint * y).sum(axis=1, keepdims=True) * y)
    return np.stack([np.cross(y, z), y, z], axis=2)


def forward_kinematics(body: BodyParams, angles: dict[str, np.ndarray]) -> tuple[np.ndarray, list[Segment]]:
    """Pose the body in F frames at once (angles: `pose_arrays` output, each (F,) radians).

    Returns joints (F, 16, 3) in the body frame (order of `JOINT_NAMES`) and the segments in the
    order of `SEGMENT_NAMES`. "head" is the centre of the head ellipsoid, "neck" the base of the head
    (on its axis), "thorax" the midpoint of the shoulders, "pelvis" the midpoint of the hips (origin).
    """
    p = angles
    n = len(p["head_yaw"])
    j = np.zeros((n, NUM_JOINTS, 3))
    trunk = rot_z(-p["trunk_bend"]) @ _rot(0, p["trunk_pitch"])  # bending to the left moves the thorax to +x
    thorax = trunk[:, :, 1] * body.trunk_len
    head_rot = trunk @ rot_z(-p["head_tilt"]) @ _rot(0, p["head_nod"]) @ rot_y(p["head_yaw"])
    neck = thorax + head_rot[:, :, 1] * body.neck_len
    head_c = neck + head_rot[:, :, 1] * body.head_radii[1]
    j[:, JOINT_INDEX["thorax"]], j[:, JOINT_INDEX["neck"]], j[:, JOINT_INDEX["head"]] = thorax, neck, head_c
    segs: dict[str, Segment] = {
        "trunk": Ellipsoid("trunk", 0.5 * thorax, trunk, np.array(body.trunk_radii)),
        "head": Ellipsoid("head", head_c, head_rot, np.array(body.head_radii)),
    }
    pelvis_frame = np.broadcast_to(np.eye(3), (n, 3, 3))
    for s, full in (("l", "left"), ("r", "right")):
        sign = 1.0 if s == "l" else -1.0
        shoulder = thorax + sign * body.shoulder_half_width * trunk[:, :, 0]
        args = (p[f"{s}_sh_abd"], p[f"{s}_sh_elev"], p[f"{s}_elbow"], p[f"{s}_elbow_twist"])
        u, v, front = _limb(trunk, sign, *args, bend_anterior=True)
        elbow = shoulder + u * body.upper_arm_len
        wrist = elbow + v * body.forearm_len
        hand_c = wrist + v * body.hand_radii[1] * 0.9
        hip = np.broadcast_to(np.array([sign * body.hip_half_width, 0.0, 0.0]), (n, 3))
        args = (p[f"{s}_hip_abd"], p[f"{s}_hip_elev"], p[f"{s}_knee"], p[f"{s}_knee_twist"])
        ut, vs, fdir = _limb(pelvis_frame, sign, *args, bend_anterior=False)
        knee = hip + ut * body.thigh_len
        ankle = knee + vs * body.shin_len
        ank = p[f"{s}_ankle"][:, None]
        foot_dir = np.cos(ank) * fdir + np.sin(ank) * vs
        foot_c = ankle + foot_dir * body.foot_radii[1] * 0.6 + vs * body.foot_radii[2] * 0.3
        for name, value in (
            ("shoulder", shoulder),
            ("elbow", elbow),
            ("wrist", wrist),
            ("hip", hip),
            ("knee", knee),
            ("ankle", ankle),
        ):
            j[:, JOINT_INDEX[f"{full}_{name}"]] = value
        ra, rl = body.arm_radii, body.leg_radii
        segs[f"{s}_upper_arm"] = Capsule(f"{s}_upper_arm", shoulder, elbow, ra[0], ra[1])
        segs[f"{s}_forearm"] = Capsule(f"{s}_forearm", elbow, wrist, ra[1], ra[2])
        segs[f"{s}_hand"] = Ellipsoid(f"{s}_hand", hand_c, _frame_from(v, front), np.array(body.hand_radii))
        segs[f"{s}_thigh"] = Capsule(f"{s}_thigh", hip, knee, rl[0], rl[1])
        segs[f"{s}_shin"] = Capsule(f"{s}_shin", knee, ankle, rl[1], rl[2])
        segs[f"{s}_foot"] = Ellipsoid(f"{s}_foot", foot_c, _frame_from(foot_dir, -vs), np.array(body.foot_radii))
    return j, [segs[name] for name in SEGMENT_NAMES]


def body_extent(body: BodyParams) -> tuple[float, float]:
    """(top, bottom): body-frame y of the head top and of the lowest foot point in the neutral pose."""
    joints, segs = forward_kinematics(body, pose_arrays([Pose()]))
    top = float(joints[0, JOINT_INDEX["head"], 1] + body.head_radii[1])
    bottom = min(
        float(seg.c[0, 1] - np.sqrt(((seg.rot[0, 1] * seg.radii) ** 2).sum()))
        for seg in segs
        if isinstance(seg, Ellipsoid) and seg.name.endswith("foot")
    )
    return top, bottom


def transform_segment(seg: Segment, rot: np.ndarray, trans: np.ndarray) -> Segment:
    """Apply x -> rot @ x + trans per frame to a segment (rot: (F, 3, 3) rotations, trans: (F, 3))."""
    if isinstance(seg, Capsule):
        return Capsule(seg.name, _apply(rot, seg.a) + trans, _apply(rot, seg.b) + trans, seg.ra, seg.rb)
    return Ellipsoid(seg.name, _apply(rot, seg.c) + trans, rot @ seg.rot, seg.radii)


def pose_to_dict(pose: Pose) -> dict[str, float]:
    """Pose in degrees, rounded to 2 decimals (for JSON)."""
    return {k: round(float(np.degrees(getattr(pose, k))), 2) for k in POSE_FIELDS}
