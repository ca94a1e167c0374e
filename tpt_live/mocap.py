"""Motion capture in: a BVH reader, its mapping to the 16 joints, and virtual cameras that write synth JSON.

`read_bvh` parses a BVH file (hierarchy + MOTION block, any channel order) and runs forward kinematics;
`bvh_joints` maps the named joints to `JOINT_NAMES` (CMU "3ds Max" names such as LeftHip/LeftKnee and
MotionBuilder names such as LeftUpLeg/LeftLeg both work); `view_clip` films the motion with a virtual
pinhole camera that follows the subject and returns the same JSON document as `tpt-live synth` writes
(`kp2d` pixels, `kp3d` metres in camera axes, `camera.K`), without a video: a keypoint-only clip for
`tpt-live train-lifter` and `tpt-live evaluate`. `read_deepmimic` reads DeepMimic's JSON motions (root and
joint quaternions) with their character file the same way.

Conventions. BVH: a joint's global rotation is its parent's times the product of its rotation channels
in the order declared (intrinsic, column vectors); its position is the parent's plus the parent's global
rotation applied to (OFFSET + position channels); angles in degrees. World: the file's units times
`unit_m`, y up (the BVH custom; `up="z"` for z-up files). Joints (see `tpt_live.synth.body`): pelvis =
midpoint of the hips, thorax = midpoint of the shoulders, neck = the head joint (base of the skull),
head = midpoint of the head joint and its end site. Camera: x right, y down, z forward; X_cam = R @
(X_world - position); pixels x = col, y = row, centres at integers, principal point at the image centre.
Azimuth 0 puts the camera in front of the subject (facing of the first second), +90 deg at the
subject's left; elevation > 0 looks down.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpt_live.errors import InputError
from tpt_live.skeleton import BONES, JOINT_INDEX, JOINT_NAMES

# Candidate file joints for each of our joints, most specific first (exact name, then case-insensitive).
ALIASES: dict[str, tuple[str, ...]] = {
    "left_hip": ("LeftHip", "LeftUpLeg", "LHip", "LeftThigh", "lfemur"),
    "right_hip": ("RightHip", "RightUpLeg", "RHip", "RightThigh", "rfemur"),
    "left_knee": ("LeftKnee", "LeftLeg", "LKnee", "LeftShin", "ltibia"),
    "right_knee": ("RightKnee", "RightLeg", "RKnee", "RightShin", "rtibia"),
    "left_ankle": ("LeftAnkle", "LeftFoot", "LAnkle", "lfoot"),
    "right_ankle": ("RightAnkle", "RightFoot", "RAnkle", "rfoot"),
    # MotionBuilder names the clavicle LeftShoulder and the shoulder joint LeftArm: LeftArm wins when present
    "left_shoulder": ("LeftArm", "LeftUpArm", "LeftShoulder", "LShoulder", "lhumerus"),
    "right_shoulder": ("RightArm", "RightUpArm", "RightShoulder", "RShoulder", "rhumerus"),
    "left_elbow": ("LeftForeArm", "LeftElbow", "LeftLowArm", "LElbow", "lradius"),
    "right_elbow": ("RightForeArm", "RightElbow", "RightLowArm", "RElbow", "rradius"),
    "left_wrist": ("LeftWrist", "LeftHand", "LWrist", "lwrist"),
    "right_wrist": ("RightWrist", "RightHand", "RWrist", "rwrist"),
    "head": ("Head", "head"),
}
# Metres per file unit tried by `auto_unit`: metres, centimetres, inches, CMU's (0.45 in: 1 / 0.45 x 2.54 cm).
UNITS_M = (1.0, 0.01, 0.0254, 0.056444)
ADULT_CHAIN_M = 1.55  # head-to-ankle chain (`tpt_live.lifter.chain_length`) `auto_unit` aims at


@dataclass
class Motion:
    """Joint positions of a clip: `positions` (N, K, 3) file units, world axes; `names` (K,); `parents` (K,)
    (-1 for the root); end sites are named `<parent>_end`; `frame_time` seconds."""

    names: list[str]
    parents: list[int]
    positions: np.ndarray
    frame_time: float


def _axis_rotation(axis: str, deg: np.ndarray) -> np.ndarray:
    """(N, 3, 3) active right-handed rotations about x, y or z by `deg` degrees (column vectors)."""
    a = np.radians(deg)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    rows = {
        "x": ((o, z, z), (z, c, -s), (z, s, c)),
        "y": ((c, z, s), (z, o, z), (-s, z, c)),
        "z": ((c, -s, z), (s, c, z), (z, z, o)),
    }[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def read_bvh(path: str | Path) -> Motion:
    """Parse a BVH file and return every joint's (and end site's) world position per frame."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"BVH file {path} does not exist")
    tokens = path.read_text(errors="replace").split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    try:
        if tokens[0] != "HIERARCHY":
            raise InputError(f"{path} is not a BVH file (no HIERARCHY)")
        i = 1
        while tokens[i] != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT") or tok == "End":
                name = f"{names[stack[-1]]}_end" if tok == "End" else tokens[i + 1]
                names.append(name)
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif tok == "{":
                stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1 : i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[stack[-1]] = tokens[i + 2 : i + 2 + n]
                i += 2 + n
            else:
                raise InputError(f"{path}: unexpected {tok!r} in the BVH hierarchy")
        n_frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        width = sum(len(c) for c in channels)
        values = np.array(tokens[i + 6 : i + 6 + n_frames * width], dtype=np.float64)
    except (IndexError, ValueError) as exc:
        raise InputError(f"{path}: malformed BVH ({exc})") from exc
    if not names or n_frames < 1 or values.size != n_frames * width or frame_time <= 0:
        raise InputError(f"{path}: the MOTION block does not match the hierarchy ({values.size} values)")
    values = values.reshape(n_frames, width)
    rot = np.zeros((n_frames, len(names), 3, 3))
    pos = np.zeros((n_frames, len(names), 3))
    col = 0
    for j, (parent, chans) in enumerate(zip(parents, channels, strict=True)):
        local_r = np.broadcast_to(np.eye(3), (n_frames, 3, 3)).copy()
        local_t = np.broadcast_to(np.array(offsets[j]), (n_frames, 3)).copy()
        for ch in chans:
            axis, kind = ch[0].lower(), ch[1:].lower()
            if axis not in "xyz" or kind not in ("rotation", "position"):
                raise InputError(f"{path}: unknown channel {ch!r} of joint {names[j]}")
            if kind == "rotation":
                local_r = local_r @ _axis_rotation(axis, values[:, col])
            else:
                local_t[:, "xyz".index(axis)] += values[:, col]
            col += 1
        if parent < 0:
            rot[:, j], pos[:, j] = local_r, local_t
        else:
            rot[:, j] = rot[:, parent] @ local_r
            pos[:, j] = pos[:, parent] + np.einsum("nij,nj->ni", rot[:, parent], local_t)
    return Motion(names, parents, pos, frame_time)


def _find(motion: Motion, candidates: tuple[str, ...]) -> int | None:
    for match in (lambda a, b: a == b, lambda a, b: a.lower() == b.lower()):
        for cand in candidates:
            for k, name in enumerate(motion.names):
                if match(name, cand):
                    return k
    return None


def bvh_joints(motion: Motion) -> np.ndarray:
    """(N, 16, 3) positions in `JOINT_NAMES` order, file units, world axes (see the module doc)."""
    idx: dict[str, int] = {}
    for joint, candidates in ALIASES.items():
        k = _find(motion, candidates)
        if k is None:
            raise InputError(f"BVH has no joint for {joint} (looked for {', '.join(candidates)})")
        idx[joint] = k
    P = motion.positions
    out = np.zeros((len(P), len(JOINT_NAMES), 3))
    for joint, k in idx.items():
        if joint != "head":
            out[:, JOINT_INDEX[joint]] = P[:, k]
    head = idx["head"]
    tips = [k for k, p in enumerate(motion.parents) if p == head]
    top = P[:, tips].mean(1) if tips else 2 * P[:, head] - P[:, motion.parents[head]]
    J = JOINT_INDEX
    out[:, J["neck"]] = P[:, head]
    out[:, J["head"]] = 0.5 * (P[:, head] + top)
    out[:, J["pelvis"]] = 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]])
    out[:, J["thorax"]] = 0.5 * (out[:, J["left_shoulder"]] + out[:, J["right_shoulder"]])
    return out


def auto_unit(joints: np.ndarray) -> float:
    """The metres per file unit of `UNITS_M` that makes the median head-to-ankle chain closest to an adult's."""
    import torch

    from tpt_live.lifter import chain_length

    chain = float(np.median(chain_length(torch.as_tensor(joints)).numpy()))
    return min(UNITS_M, key=lambda u: abs(math.log(max(chain * u, 1e-9) / ADULT_CHAIN_M)))


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of unit quaternions (N, 4) in w, x, y, z order."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)  # fmt: skip


def read_deepmimic(path: str | Path, skeleton: str | Path | None = None) -> tuple[np.ndarray, float]:
    """(N, 16, 3) metres (y up, `JOINT_NAMES` order) and the frame rate of a DeepMimic motion file.

    Rows: dt, root position (3), root quaternion (w x y z), then per joint of the skeleton (in its ID
    order, fixed joints skipped) a quaternion, or one angle about the local z axis for revolute joints.
    `skeleton`: the character file ("Skeleton" with "Joints" and their "Attach" offsets, "BodyDefs");
    default: the one such file beside `path`. Head: the centre of the neck body (its BodyDefs attach);
    neck: that sphere's lowest point (the base of the head).
    """
    path = Path(path)
    try:
        frames = np.array(json.loads(path.read_text())["Frames"], np.float64)
        if skeleton is None:
            found = [p for p in path.parent.glob("*.txt") if '"Skeleton"' in p.read_text(errors="replace")]
            if len(found) != 1:
                raise InputError(f"{path}: give the DeepMimic character file (found {len(found)} beside it)")
            skeleton = found[0]
        doc = json.loads(Path(skeleton).read_text())
        joints = doc["Skeleton"]["Joints"]
        bodies = {b["Name"]: b for b in doc.get("BodyDefs", [])}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a DeepMimic motion with its character file ({exc})") from exc
    n = len(frames)
    rot: dict[str, np.ndarray] = {"root": _quat_matrix(frames[:, 4:8])}
    pos: dict[str, np.ndarray] = {"root": frames[:, 1:4]}
    col = 8
    for j in joints[1:]:
        parent = joints[j["Parent"]]["Name"]
        kind = j["Type"]
        if kind == "revolute":
            local = _axis_rotation("z", np.degrees(frames[:, col]))
            col += 1
        elif kind == "spherical":
            local, col = _quat_matrix(frames[:, col : col + 4]), col + 4
        else:
            local = np.broadcast_to(np.eye(3), (n, 3, 3))
        attach = np.array([j["AttachX"], j["AttachY"], j["AttachZ"]])
        pos[j["Name"]] = pos[parent] + rot[parent] @ attach
        rot[j["Name"]] = rot[parent] @ local
    if col != frames.shape[1]:
        raise InputError(f"{path}: {frames.shape[1]} values per frame, the character needs {col}")
    out = np.zeros((n, len(JOINT_NAMES), 3))
    for name in JOINT_NAMES:
        if name in pos:
            out[:, JOINT_INDEX[name]] = pos[name]
    head = bodies.get("neck", {})
    centre = np.array([head.get("AttachX", 0.0), head.get("AttachY", 0.175), head.get("AttachZ", 0.0)])
    radius = 0.5 * float(head.get("Param0", 0.205))
    J = JOINT_INDEX
    out[:, J["head"]] = pos["neck"] + rot["neck"] @ centre
    out[:, J["neck"]] = pos["neck"] + rot["neck"] @ (centre - np.array([0.0, radius, 0.0]))
    out[:, J["pelvis"]] = 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]])
    out[:, J["thorax"]] = 0.5 * (out[:, J["left_shoulder"]] + out[:, J["right_shoulder"]])
    return out, 1.0 / float(np.median(frames[:, 0]))


def load_motion(path: str | Path, unit_m: float | None = None, up: str = "y") -> tuple[np.ndarray, float]:
    """(N, 16, 3) metres in a y-up world (`JOINT_NAMES` order) and the frame rate of a BVH file, an AMC
    motion (its ASF skeleton found by `tpt_live.asfamc.find_asf`) or a DeepMimic motion (any other suffix:
    metres, y up already)."""
    if up not in ("y", "z"):
        raise InputError(f"up axis {up!r} must be y or z")
    suffix = Path(path).suffix.lower()
    if suffix not in (".bvh", ".amc"):
        joints, rate = read_deepmimic(path)
        return joints * (unit_m or 1.0), rate
    if suffix == ".amc":
        from tpt_live.asfamc import read_amc

        motion, rate = read_amc(path)
    else:
        motion = read_bvh(path)
        rate = 1.0 / motion.frame_time
    joints = bvh_joints(motion)
    joints = joints * (unit_m if unit_m else auto_unit(joints))
    if up == "z":  # z-up, y forward -> y-up, z backward (a rotation of -90 deg about x)
        joints = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], -1)
    return joints, rate


@dataclass(frozen=True)
class View:
    """A virtual camera: azimuth and elevation in degrees, distance in metres to the followed pelvis."""

    azimuth_deg: float = 0.0
    elevation_deg: float = 10.0
    distance_m: float = 5.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.azimuth_deg) or not self.distance_m > 0 or not -89.0 <= self.elevation_deg <= 89.0:
            raise InputError(f"bad view {self}: need distance > 0 and elevation within +-89 deg")


VIEW_PRESETS: dict[str, tuple[View, ...]] = {
    "upright": tuple(View(az, 10.0, 5.0) for az in (0.0, 90.0, 180.0, 270.0)),
    "ring": tuple(View(az, el, 5.0) for az in range(0, 360, 45) for el in (0.0, 20.0)),
}


def heading(joints: np.ndarray, frames: int = 30) -> np.ndarray:
    """Unit reference direction (3,) in the ground plane of a y-up pose sequence (N, 16, 3), from the first
    `frames` frames: the facing (left x up, hip and shoulder lines) of a standing or lying-on-the-back body;
    when that is near vertical (a body on its side) the trunk axis (pelvis -> thorax) on the ground; else +z."""
    J = JOINT_INDEX
    first = joints[:frames]
    left = (first[:, [J["left_hip"], J["left_shoulder"]]] - first[:, [J["right_hip"], J["right_shoulder"]]]).mean(
        (0, 1)
    )
    up = np.array([0.0, 1.0, 0.0])
    trunk = (first[:, J["thorax"]] - first[:, J["pelvis"]]).mean(0)
    for f, scale in ((np.cross(left, up), np.linalg.norm(left)), (trunk, np.linalg.norm(trunk))):
        f = f - f[1] * up
        if np.linalg.norm(f) > 0.3 * scale > 0:
            return f / np.linalg.norm(f)
    return np.array([0.0, 0.0, 1.0])


def view_clip(
    joints: np.ndarray, view: View, fps: float, name: str, size: tuple[int, int] = (640, 480), fov_deg: float = 45.0
) -> dict:
    """Film (N, 16, 3) metres (y-up world) through a camera that follows the pelvis; a synth-format document.

    The camera keeps its orientation and moves with the pelvis in the ground plane; it aims at the pelvis
    at the clip's median pelvis height. Returns the `tpt-live synth` JSON document with `kp2d` (pixels),
    `kp3d` (metres, camera axes) and `camera.K`; `visible` marks joints inside the image.
    """
    width, height = size
    pelvis = joints[:, JOINT_INDEX["pelvis"]]
    target = pelvis.copy()
    target[:, 1] = np.median(pelvis[:, 1])
    fwd = heading(joints)
    up = np.array([0.0, 1.0, 0.0])
    az, el = math.radians(view.azimuth_deg), math.radians(view.elevation_deg)
    left = np.cross(up, fwd)
    horizontal = math.cos(az) * fwd + math.sin(az) * left  # from the subject towards the camera
    offset = view.distance_m * (math.cos(el) * horizontal + math.sin(el) * up)
    z = -offset / np.linalg.norm(offset)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])  # rows: camera x right, y down, z forward in world axes
    f = 0.5 * (height - 1) / math.tan(math.radians(fov_deg) / 2) if height > 1 else 1.0
    K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    position = target + offset
    cam = np.einsum("ij,nkj->nki", R, joints - position[:, None])
    if (cam[..., 2] <= 0.05).any():
        raise InputError(f"{name}: a joint comes within 5 cm of the camera plane; use a larger --distance")
    uvw = cam @ K.T
    kp2d = uvw[..., :2] / uvw[..., 2:]
    inside = (
        (kp2d[..., 0] >= -0.5) & (kp2d[..., 0] <= width - 0.5) & (kp2d[..., 1] >= -0.5) & (kp2d[..., 1] <= height - 0.5)
    )
    frames = [
        {
            "idx": i,
            "kp2d": np.round(kp2d[i], 4).tolist(),
            "kp3d": np.round(cam[i], 5).tolist(),
            "visible": inside[i].tolist(),
        }
        for i in range(len(joints))
    ]
    return {
        "format": "tpt-live-synth",
        "version": 1,
        "name": name,
        "joints": list(JOINT_NAMES),
        "bones": [list(b) for b in BONES],
        "width": width,
        "height": height,
        "fps": fps,
        "num_frames": len(frames),
        "camera": {
            "K": [[round(float(v), 6) for v in row] for row in K],
            "R": [[round(float(v), 6) for v in row] for row in R],
            "position_first": [round(float(v), 4) for v in position[0]],
            "azimuth_deg": view.azimuth_deg,
            "elevation_deg": view.elevation_deg,
            "distance_m": view.distance_m,
            "fov_deg": fov_deg,
            "convention": "X_cam = R @ (X_world - position); the camera follows the pelvis in the ground plane; "
            "camera x right, y down, z forward; world y up; pixels x = col, y = row, centres at integers",
        },
        "frames": frames,
    }


def import_mocap(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    views: tuple[View, ...],
    fps: float | None = 30.0,
    unit_m: float | None = None,
    up: str = "y",
    size: tuple[int, int] = (640, 480),
) -> list[Path]:
    """Write `<clip>_az<A>_el<E>.json` per BVH file and view into `out_dir`; returns the paths.

    `fps` resamples by keeping every k-th frame (k = round(file rate / fps), at least 1); None keeps all.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in map(Path, paths):
        joints, rate = load_motion(p, unit_m, up)
        step = max(1, round(rate / fps)) if fps else 1
        joints = joints[::step]
        for view in views:
            name = f"{p.stem}_az{view.azimuth_deg:03.0f}_el{view.elevation_deg:+03.0f}"
            doc = view_clip(joints, view, rate / step, name, size)
            target = out / f"{name}.json"
            target.write_text(json.dumps(doc) + "\n")
            written.append(target)
    return written
