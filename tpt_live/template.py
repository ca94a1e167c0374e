"""The part template: 18 anisotropic Gaussians with anchor points, as data (METHOD.md 1.2).

Convention: template files describe a 256x256 canvas. Part centres are (row, col); anchors are
(x=col, y=row); pixel centres sit at integer coordinates. Rendering at size S maps a canvas point p to
(p + 0.5) * S / 256 - 0.5 and scales standard deviations by S / 256.

"left"/"right" in part names is IMAGE left/right (the template faces the camera, so the image-left
parts are the subject's right side); the read-out names joints anatomically (tpt_live.skeleton).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tpt_live.errors import InputError, ModelError
from tpt_live.skeleton import FLIP_INDEX, JOINT_NAMES

CANVAS = 256
CENTRE = -1  # anchor index that means "the part's Gaussian centre" in read-out copies
BUILTIN = ("tpose", "arms_down", "infant")


@dataclass(frozen=True)
class Part:
    name: str  # e.g. "left hip" (image left)
    centre: tuple[float, float]  # (row, col) on the 256 canvas
    sx: float  # std along rows before rotation, canvas pixels
    sy: float  # std along columns before rotation, canvas pixels
    angle: float  # rotation in radians
    anchors: tuple[tuple[float, float], ...]  # up to 3 points (x=col, y=row) on the canvas


@dataclass(frozen=True)
class Template:
    name: str  # identifier stored in checkpoints
    parts: tuple[Part, ...]  # the K parts, in channel order
    links: tuple[tuple[int, int, int, int], ...]  # (part a, anchor i, part b, anchor j) for the anchor loss
    joint_copies: tuple[tuple[tuple[int, int], ...], ...]  # per joint of JOINT_NAMES: (part, anchor|CENTRE)

    def __post_init__(self) -> None:
        if len(self.joint_copies) != len(JOINT_NAMES):
            raise ModelError(f"template {self.name!r} reads out {len(self.joint_copies)} joints, expected 16")
        for a, i, b, j in self.links:
            if i >= len(self.parts[a].anchors) or j >= len(self.parts[b].anchors):
                raise ModelError(f"template {self.name!r}: link {(a, i, b, j)} names a missing anchor")

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "canvas": CANVAS,
            "parts": [
                {
                    "name": p.name,
                    "centre": list(p.centre),
                    "sx": p.sx,
                    "sy": p.sy,
                    "angle": p.angle,
                    "anchors": [list(a) for a in p.anchors],
                }
                for p in self.parts
            ],
            "links": [list(link) for link in self.links],
            "readout": {
                name: [[a, i] for a, i in copies] for name, copies in zip(JOINT_NAMES, self.joint_copies, strict=True)
            },
        }

    def digest(self) -> str:
        """Short SHA-256 of the canonical JSON, stored with models and outputs."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict) -> Template:
        try:
            names = [p["name"] for p in d["parts"]]
            index = {n: k for k, n in enumerate(names)}
            parts = tuple(
                Part(
                    name=p["name"],
                    centre=(float(p["centre"][0]), float(p["centre"][1])),
                    sx=float(p["sx"]),
                    sy=float(p["sy"]),
                    angle=float(p["angle"]),
                    anchors=tuple((float(a[0]), float(a[1])) for a in p["anchors"]),
                )
                for p in d["parts"]
            )

            def ref(x: int | str) -> int:
                return index[x] if isinstance(x, str) else int(x)

            links = tuple((ref(a), int(i), ref(b), int(j)) for a, i, b, j in d["links"])
            copies = tuple(tuple((ref(a), int(i)) for a, i in d["readout"][name]) for name in JOINT_NAMES)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"malformed template {d.get('name', '?')!r}: {exc!r}") from exc
        return cls(
            name=str(d["name"]),
            parts=parts,
            links=links,
            joint_copies=copies,
        )

    # --- geometry at a given size -------------------------------------------------------------

    def gaussian_params(self, size: int) -> np.ndarray:
        """(K, 5) float64: row, col, sx, sy, angle of every part at image size `size`."""
        s = size / CANVAS
        return np.array(
            [
                [(p.centre[0] + 0.5) * s - 0.5, (p.centre[1] + 0.5) * s - 0.5, p.sx * s, p.sy * s, p.angle]
                for p in self.parts
            ]
        )

    def render(self, size: int, sigma_scale: float = 1.0) -> np.ndarray:
        """(K, size, size) float32 in [0, 1]: every part's unnormalised Gaussian (peak 1).

        `sigma_scale` widens every part (training starts wide and narrows to 1).
        """
        rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
        out = np.empty((self.num_parts, size, size), np.float32)
        for k, (r0, c0, sx, sy, t) in enumerate(self.gaussian_params(size)):
            sx, sy = sx * sigma_scale, sy * sigma_scale
            a = np.cos(t) ** 2 / (2 * sx**2) + np.sin(t) ** 2 / (2 * sy**2)
            b = -np.sin(2 * t) / (4 * sx**2) + np.sin(2 * t) / (4 * sy**2)
            c = np.sin(t) ** 2 / (2 * sx**2) + np.cos(t) ** 2 / (2 * sy**2)
            dr, dc = rows - r0, cols - c0
            out[k] = np.exp(-(a * dr**2 + 2 * b * dr * dc + c * dc**2))
        return out

    def anchor_array(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Anchors padded to 4 per part, slot 3 holding the Gaussian centre.

        Returns (points (K, 4, 2) float32, x=col y=row at `size`; mask (K, 4) bool, True where real).
        """
        s = size / CANVAS
        pts = np.zeros((self.num_parts, 4, 2), np.float32)
        mask = np.zeros((self.num_parts, 4), bool)
        for k, p in enumerate(self.parts):
            for i, (x, y) in enumerate(p.anchors):
                pts[k, i] = ((x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5)
                mask[k, i] = True
            pts[k, 3] = ((p.centre[1] + 0.5) * s - 0.5, (p.centre[0] + 0.5) * s - 0.5)
        return pts, mask

    def joints(self, size: int) -> np.ndarray:
        """(J, 2) float32: the untransformed template's joints at `size` (x=col, y=row)."""
        pts, _ = self.anchor_array(size)
        return self.readout_matrix() @ pts.reshape(-1, 2)

    def readout_matrix(self) -> np.ndarray:
        """(J, K*4) float32: joints = W @ flattened padded anchors (each joint = mean of its copies)."""
        w = np.zeros((len(JOINT_NAMES), self.num_parts * 4), np.float32)
        for j, copies in enumerate(self.joint_copies):
            for part, anchor in copies:
                w[j, part * 4 + (3 if anchor == CENTRE else anchor)] += 1.0 / len(copies)
        return w

    def mirror(self) -> tuple[tuple[int, ...], float] | None:
        """The template's left-right mirror symmetry: (each part's partner, the canvas column of the mirror
        axis), or None when it has none. Symmetric means: about the column through the joints' mean, every
        part's centre, widths and anchors (slot by slot) land on its partner's, and the joints land on their
        left-right swaps (`skeleton.FLIP_INDEX`). Then a part model's affines on a mirrored image, mirrored
        back and handed to the partners, read out the mirrored keypoints exactly (`model.mirror_affines`,
        `track --flip`)."""
        tol = 0.5  # canvas pixels
        joints = self.joints(CANVAS).astype(np.float64)
        axis = float(joints[:, 0].mean())
        index = []
        for p in self.parts:
            mirrored = np.array([p.centre[0], 2 * axis - p.centre[1]])
            d = [float(np.hypot(*(np.array(q.centre) - mirrored))) for q in self.parts]
            k = int(np.argmin(d))
            q = self.parts[k]
            anchors = np.array([(2 * axis - x, y) for x, y in p.anchors]).reshape(-1, 2)
            if (
                d[k] > tol
                or abs(p.sx - q.sx) > tol
                or abs(p.sy - q.sy) > tol
                or len(p.anchors) != len(q.anchors)
                or np.abs(anchors - np.array(q.anchors).reshape(-1, 2)).max(initial=0.0) > tol
            ):
                return None
            index.append(k)
        mirrored_joints = np.column_stack([2 * axis - joints[:, 0], joints[:, 1]])[list(FLIP_INDEX)]
        if np.abs(mirrored_joints - joints).max() > tol:
            return None
        return tuple(index), axis

    def link_index(self) -> np.ndarray:
        """(L, 2) int64 indices into the flattened padded anchors (K*4) for the anchor loss."""
        return np.array([[a * 4 + i, b * 4 + j] for a, i, b, j in self.links], np.int64)


def load_template(name_or_path: str | Path) -> Template:
    """A built-in template by name (`tpose`, `arms_down`, `infant`) or a JSON file."""
    if str(name_or_path) in BUILTIN:
        text = resources.files("tpt_live.templates").joinpath(f"{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError(f"template {name_or_path!r} is neither built in {BUILTIN} nor a file")
        text = path.read_text()
    try:
        return Template.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InputError(f"template file {name_or_path} is not valid JSON: {exc}") from exc


def part_ellipses(template: Template, affines: np.ndarray, size: int) -> np.ndarray:
    """Moved part Gaussians as ellipses for drawing.

    affines: (K, 2, 3) template -> image, model-input pixels. Returns (K, 5) float64: centre x, centre
    y, std along the major axis, std along the minor axis, major-axis angle in degrees (x towards y),
    in the same pixels.
    """
    out = np.zeros((template.num_parts, 5))
    for k, (r0, c0, sx, sy, t) in enumerate(template.gaussian_params(size)):
        # covariance in (x=col, y=row): long axis sy along angle t, short axis sx across it
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        cov = rot @ np.diag([sy**2, sx**2]) @ rot.T
        lin = affines[k, :, :2]
        cov2 = lin @ cov @ lin.T
        centre = lin @ np.array([c0, r0]) + affines[k, :, 2]
        vals, vecs = np.linalg.eigh(cov2)
        major = vecs[:, 1]
        angle = np.degrees(np.arctan2(major[1], major[0]))
        out[k] = (centre[0], centre[1], np.sqrt(max(vals[1], 0)), np.sqrt(max(vals[0], 0)), angle)
    return out
