"""Acclaim ASF/AMC motion capture (the raw CMU format): a skeleton file (.asf) and its motion (.amc).

`read_asf` parses the skeleton: per bone a unit `direction` and a `length` in the rest pose (world axes),
an `axis` (Euler angles and their order) that defines the bone's local frame C, and its degrees of freedom;
`read_amc` runs forward kinematics over the motion and returns a `tpt_live.mocap.Motion` whose nodes are
the root and each bone's *start* joint (named after the bone, as CMU's converters name BVH joints: lfemur
starts at the hip, ltibia at the knee, head at the base of the skull), plus an end site `<bone>_end` for
each bone without children; `tpt_live.mocap.bvh_joints` then maps it to the 16 joints as for BVH.

Conventions (CMU's viewer and the Acclaim spec). Euler angles "XYZ" mean the matrix Rz @ Ry @ Rx (x turns
first, column vectors, active, right-handed); the motion's rotation M of a bone composes its dofs the same
way in the order declared (rx ry rz -> Rz @ Ry @ Rx). A bone's global rotation is its parent's times
C @ M @ C^T (the root's: C_root @ M_root @ C_root^T with C_root from `orientation`); its end is its start
plus its global rotation applied to direction x length. The root's AMC translation is absolute (plus the
ASF `position`). Angles in the ASF's `:units angle` (deg or rad; an AMC `:RADIANS` line overrides); lengths
in file units (CMU: 1 unit = 1 / 0.45 inch = 0.056444 m, found by `tpt_live.mocap.auto_unit`); world y up.
An AMC carries no frame rate: CMU captures at 120 Hz (`AMC_RATE_HZ`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tpt_live.errors import InputError
from tpt_live.mocap import Motion, _axis_rotation

AMC_RATE_HZ = 120.0  # CMU's capture rate; AMC files do not store one


@dataclass
class Bone:
    """One ASF bone: `direction` (3,) unit vector and `length` in the rest pose, world axes, file units;
    `axis` (3,) Euler angles in radians with `order` (e.g. "XYZ"); `dof` names in file order (rx, ry, rz,
    tx, ...)."""

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    order: str
    dof: list[str] = field(default_factory=list)


@dataclass
class Skeleton:
    """A parsed ASF: bones by name, children lists (`"root"` included), the root's channel order, axis order,
    `position` offset and `orientation` (radians), and the angle unit in radians per file unit."""

    bones: dict[str, Bone]
    children: dict[str, list[str]]
    root_order: list[str]
    root_axis: str
    position: np.ndarray
    orientation: np.ndarray
    angle_scale: float


def euler_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """(N, 3, 3) rotations for angles (N, len(order)) in radians about the axes of `order` ("XYZ", "ZX",
    ...), the first axis turning first: order "XYZ" gives Rz @ Ry @ Rx (active, right-handed)."""
    n = len(angles)
    out = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    for k, axis in enumerate(order.lower()):
        out = _axis_rotation(axis, np.degrees(angles[:, k])) @ out
    return out


def _sections(path: Path) -> dict[str, list[list[str]]]:
    """Lines of a ':'-keyed file split into tokens, grouped by section; '#' lines skipped."""
    out: dict[str, list[list[str]]] = {}
    current = ""
    for line in path.read_text(errors="replace").splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[0].startswith(":"):
            current = tokens[0][1:].lower()
            out.setdefault(current, [])
            if tokens[1:]:
                out[current].append(tokens[1:])
        else:
            out.setdefault(current, []).append(tokens)
    return out


def read_asf(path: str | Path) -> Skeleton:
    """Parse an ASF skeleton file (see the module doc). Raises InputError on a malformed file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ASF skeleton {path} does not exist")
    sec = _sections(path)
    try:
        units = {t[0].lower(): t[1] for t in sec.get("units", []) if len(t) >= 2}
        angle_scale = 1.0 if units.get("angle", "deg").lower().startswith("rad") else np.pi / 180.0
        root = {t[0].lower(): t[1:] for t in sec["root"] if t}
        root_order = [c.lower() for c in root.get("order", ["tx", "ty", "tz", "rx", "ry", "rz"])]
        root_axis = root.get("axis", ["XYZ"])[0].upper()
        position = np.array([float(v) for v in root.get("position", [0, 0, 0])[:3]])
        orientation = np.array([float(v) for v in root.get("orientation", [0, 0, 0])[:3]]) * angle_scale
        bones: dict[str, Bone] = {}
        entry: dict[str, list[str]] = {}
        for tokens in sec["bonedata"]:
            key = tokens[0].lower()
            if key == "begin":
                entry = {}
            elif key == "end":
                axis = entry.get("axis", ["0", "0", "0", "XYZ"])
                direction = np.array([float(v) for v in entry["direction"][:3]])
                bones[entry["name"][0]] = Bone(
                    entry["name"][0],
                    direction / max(float(np.linalg.norm(direction)), 1e-12),
                    float(entry["length"][0]),
                    np.array([float(v) for v in axis[:3]]) * angle_scale,
                    axis[3].upper() if len(axis) > 3 else "XYZ",
                    [d.lower() for d in entry.get("dof", [])],
                )
            elif key in ("id", "name", "direction", "length", "axis", "dof", "bodymass", "cofmass"):
                entry[key] = tokens[1:]
        children: dict[str, list[str]] = {}
        for tokens in sec["hierarchy"]:
            if tokens[0].lower() not in ("begin", "end"):
                children.setdefault(tokens[0], []).extend(tokens[1:])
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"{path}: malformed ASF skeleton ({exc!r})") from exc
    unknown = sorted({b for kids in children.values() for b in kids} - set(bones))
    if not bones or unknown or "root" not in children:
        raise InputError(f"{path}: the ASF hierarchy names unknown bones {unknown} or has no root")
    return Skeleton(bones, children, root_order, root_axis, position, orientation, angle_scale)


def _read_frames(path: Path, skeleton: Skeleton) -> tuple[dict[str, np.ndarray], float]:
    """Per bone (and "root") an (N, channels) array of the AMC's values; the angle scale in effect."""
    rows: list[dict[str, list[float]]] = []
    angle_scale = skeleton.angle_scale
    try:
        for line in path.read_text(errors="replace").splitlines():
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            if tokens[0].startswith(":"):
                angle_scale = 1.0 if tokens[0].upper() == ":RADIANS" else angle_scale
                angle_scale = np.pi / 180.0 if tokens[0].upper() == ":DEGREES" else angle_scale
            elif len(tokens) == 1 and tokens[0].isdigit():
                rows.append({})
            elif rows:
                rows[-1][tokens[0]] = [float(v) for v in tokens[1:]]
            else:
                raise InputError(f"{path}: values before the first frame number")
    except ValueError as exc:
        raise InputError(f"{path}: malformed AMC motion ({exc})") from exc
    if not rows:
        raise InputError(f"{path}: no frames in the AMC motion")
    out: dict[str, np.ndarray] = {}
    for name in ["root", *skeleton.bones]:
        width = len(skeleton.root_order) if name == "root" else len(skeleton.bones[name].dof)
        if width == 0:
            continue
        values = [r.get(name) for r in rows]
        if any(v is None or len(v) != width for v in values):
            raise InputError(f"{path}: bone {name} needs {width} values in every frame")
        out[name] = np.array(values, np.float64)
    return out, angle_scale


def read_amc(path: str | Path, skeleton: str | Path | Skeleton | None = None) -> tuple[Motion, float]:
    """Forward kinematics of an AMC motion with its ASF skeleton -> (`tpt_live.mocap.Motion`, rate in Hz).

    `skeleton`: an ASF path or a parsed `Skeleton`; default `find_asf(path)`. Node positions (N, K, 3) are
    in file units, world axes (see the module doc); the rate is `AMC_RATE_HZ`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"AMC motion {path} does not exist")
    skel = skeleton if isinstance(skeleton, Skeleton) else read_asf(skeleton or find_asf(path))
    values, angle_scale = _read_frames(path, skel)
    n = len(next(iter(values.values())))
    root_vals = values.get("root", np.zeros((n, len(skel.root_order))))
    translation = np.zeros((n, 3))
    angles, axes = [], ""
    for k, ch in enumerate(skel.root_order):
        if ch[0] == "t":
            translation[:, "xyz".index(ch[1])] = root_vals[:, k]
        else:
            angles.append(root_vals[:, k] * angle_scale)
            axes += ch[1]
    c_root = euler_matrix(skel.orientation[None], skel.root_axis)[0]
    m_root = euler_matrix(np.stack(angles, -1), axes) if axes else np.broadcast_to(np.eye(3), (n, 3, 3))
    names, parents, positions = ["root"], [-1], [skel.position + translation]
    rotation = {"root": c_root @ m_root @ c_root.T}
    end = {"root": positions[0]}

    def visit(name: str, parent: str) -> None:
        bone = skel.bones[name]
        c = euler_matrix(bone.axis[None], bone.order)[0]
        rot_dofs = [d for d in bone.dof if d[0] == "r"]
        if rot_dofs:
            cols = [bone.dof.index(d) for d in rot_dofs]
            m = euler_matrix(values[name][:, cols] * angle_scale, "".join(d[1] for d in rot_dofs))
        else:
            m = np.broadcast_to(np.eye(3), (n, 3, 3))
        rotation[name] = rotation[parent] @ c @ m @ c.T
        names.append(name)
        parents.append(names.index(parent))
        positions.append(end[parent])
        end[name] = end[parent] + rotation[name] @ (bone.direction * bone.length)
        kids = skel.children.get(name, [])
        for kid in kids:
            visit(kid, name)
        if not kids:
            names.append(f"{name}_end")
            parents.append(names.index(name))
            positions.append(end[name])

    for kid in skel.children["root"]:
        visit(kid, "root")
    return Motion(names, parents, np.stack(positions, 1), 1.0 / AMC_RATE_HZ), AMC_RATE_HZ


def find_asf(amc: str | Path) -> Path:
    """The skeleton of an AMC file: `<subject>.asf` beside it (CMU names motions `<subject>_<trial>.amc`),
    else the only .asf in its folder."""
    amc = Path(amc)
    named = amc.parent / f"{amc.stem.split('_')[0]}.asf"
    if named.is_file():
        return named
    found = sorted(amc.parent.glob("*.asf"))
    if len(found) != 1:
        raise InputError(f"{amc}: no {named.name} beside it and {len(found)} other .asf files (need exactly one)")
    return found[0]
