"""Write the built-in template files in tpt_live/templates/ (run from the repo root).

`tpose` is the table of METHOD.md 1.2; `arms_down` rotates the arm chains of the T-pose down by 60 deg
at the shoulders and the forearms and hands by 80 deg; `infant` is fitted to the synthetic infant's
canonical skeleton (see `infant_from_skeleton`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

OUT = Path("tpt_live/templates")
H = math.pi / 2
# name, centre (row, col), sx, sy, angle, anchors (x, y)
TPOSE_PARTS = [
    ("core", (120, 128), 15.36, 25.6, H, [(128, 144), (128, 80), (128, 68)]),
    ("left hip", (152, 120), 6.4, 7.68, -0.9, [(128, 144), (116, 144)]),
    ("right hip", (152, 136), 6.4, 7.68, 0.9, [(128, 144), (140, 144)]),
    ("left thigh", (172, 108), 6.4, 10.24, -1.1, [(116, 144), (100, 184)]),
    ("right thigh", (172, 148), 6.4, 10.24, 1.1, [(140, 144), (156, 184)]),
    ("left shin", (196, 100), 6.4, 12.8, H, [(100, 184), (100, 208)]),
    ("right shin", (196, 156), 6.4, 12.8, -H, [(156, 184), (156, 208)]),
    ("left shoulder", (80, 120), 6.4, 10.24, 0, [(128, 80), (112, 80)]),
    ("right shoulder", (80, 136), 6.4, 10.24, 0, [(128, 80), (144, 80)]),
    ("left arm", (80, 96), 6.4, 10.24, 0, [(112, 80), (88, 80)]),
    ("right arm", (80, 160), 6.4, 10.24, 0, [(144, 80), (168, 80)]),
    ("left forearm", (80, 72), 6.4, 10.24, 0, [(88, 80), (68, 80)]),
    ("right forearm", (80, 184), 6.4, 10.24, 0, [(168, 80), (188, 80)]),
    ("left foot", (220, 100), 5.12, 5.12, 0, [(100, 208)]),
    ("right foot", (220, 156), 5.12, 5.12, 0, [(156, 208)]),
    ("left hand", (80, 56), 5.12, 6.4, 0, [(68, 80)]),
    ("right hand", (80, 200), 5.12, 6.4, 0, [(188, 80)]),
    ("head", (52, 128), 12.8, 8.96, 0, [(128, 68)]),
]
LINKS = [
    ("core", 0, "left hip", 0),
    ("core", 0, "right hip", 0),
    ("core", 1, "left shoulder", 0),
    ("core", 1, "right shoulder", 0),
    ("core", 2, "head", 0),
]
for s in ("left", "right"):
    LINKS += [
        (f"{s} hip", 1, f"{s} thigh", 0),
        (f"{s} thigh", 1, f"{s} shin", 0),
        (f"{s} shin", 1, f"{s} foot", 0),
        (f"{s} shoulder", 1, f"{s} arm", 0),
        (f"{s} arm", 1, f"{s} forearm", 0),
        (f"{s} forearm", 1, f"{s} hand", 0),
    ]


def readout() -> dict[str, list]:
    """Anatomical joints from image-side parts: image-left parts are the subject's right."""
    r = {
        "pelvis": [["core", 0], ["left hip", 0], ["right hip", 0]],
        "thorax": [["core", 1], ["left shoulder", 0], ["right shoulder", 0]],
        "neck": [["core", 2], ["head", 0]],
        "head": [["head", -1]],
    }
    for img, anat in (("left", "right"), ("right", "left")):
        r[f"{anat}_hip"] = [[f"{img} hip", 1], [f"{img} thigh", 0]]
        r[f"{anat}_knee"] = [[f"{img} thigh", 1], [f"{img} shin", 0]]
        r[f"{anat}_ankle"] = [[f"{img} shin", 1], [f"{img} foot", 0]]
        r[f"{anat}_shoulder"] = [[f"{img} shoulder", 1], [f"{img} arm", 0]]
        r[f"{anat}_elbow"] = [[f"{img} arm", 1], [f"{img} forearm", 0]]
        r[f"{anat}_wrist"] = [[f"{img} forearm", 1], [f"{img} hand", 0]]
    return r


def to_json(name: str, parts: list) -> dict:
    return {
        "name": name,
        "canvas": 256,
        "parts": [
            {
                "name": n,
                "centre": [round(c[0], 3), round(c[1], 3)],
                "sx": sx,
                "sy": sy,
                "angle": round(t, 5),
                "anchors": [[round(x, 3), round(y, 3)] for x, y in a],
            }
            for n, c, sx, sy, t, a in parts
        ],
        "links": [list(link) for link in LINKS],
        "readout": readout(),
    }


def rotate_about(parts: list, names: list[str], pivot: tuple[float, float], phi: float) -> list:
    """Rotate the named parts (centres, anchors, angles) about pivot (x, y) by phi (x towards y)."""
    c, s = math.cos(phi), math.sin(phi)

    def rot(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - pivot[0], y - pivot[1]
        return pivot[0] + c * dx - s * dy, pivot[1] + s * dx + c * dy

    out = []
    for n, (row, col), sx, sy, t, anchors in parts:
        if n in names:
            x, y = rot(col, row)
            row, col, t = y, x, t + phi
            anchors = [rot(*a) for a in anchors]
        out.append((n, (row, col), sx, sy, t, anchors))
    return out


def arms_down(parts: list, upper: float = 60.0, lower: float = 80.0) -> list:
    for side, sign in (("left", -1.0), ("right", 1.0)):
        chain = [f"{side} arm", f"{side} forearm", f"{side} hand"]
        shoulder = next(p for p in parts if p[0] == f"{side} arm")[5][0]
        parts = rotate_about(parts, chain, shoulder, sign * math.radians(upper))
        elbow = next(p for p in parts if p[0] == f"{side} forearm")[5][0]
        parts = rotate_about(parts, chain[1:], elbow, sign * math.radians(lower - upper))
    return parts


def infant_from_skeleton(j: dict[str, np.ndarray]) -> list:
    """Parts between the joints of an infant skeleton (x, y on the 256 canvas, anatomical names).

    Limbs: centre at the segment's middle, long std 0.45 x its length, short std from infant limb
    thickness; core spans pelvis to neck; head centred on the head joint; hands and feet just beyond
    wrists and ankles. Image-left parts sit on the subject's right joints.
    """

    def seg(name: str, a: np.ndarray, b: np.ndarray, short: float, anchors: list) -> tuple:
        d = b - a
        length = float(np.hypot(*d))
        mid = (a + b) / 2
        return (name, (float(mid[1]), float(mid[0])), short, 0.45 * length, math.atan2(d[1], d[0]), anchors)

    def pt(v: np.ndarray) -> tuple[float, float]:
        return (float(v[0]), float(v[1]))

    pelvis, thorax, neck, head = j["pelvis"], j["thorax"], j["neck"], j["head"]
    core_len = float(np.hypot(*(neck - pelvis)))
    half_width = abs(float(j["left_shoulder"][0] - j["right_shoulder"][0])) / 2
    parts = [
        (
            "core",
            pt((pelvis + neck) / 2)[::-1],
            0.8 * half_width,
            0.36 * core_len,
            math.pi / 2,
            [pt(pelvis), pt(thorax), pt(neck)],
        ),
    ]
    for img, anat in (("left", "right"), ("right", "left")):
        hip, knee, ankle = j[f"{anat}_hip"], j[f"{anat}_knee"], j[f"{anat}_ankle"]
        sh, el, wr = j[f"{anat}_shoulder"], j[f"{anat}_elbow"], j[f"{anat}_wrist"]
        parts += [
            seg(f"{img} hip", pelvis, hip, 7.0, [pt(pelvis), pt(hip)]),
            seg(f"{img} thigh", hip, knee, 7.0, [pt(hip), pt(knee)]),
            seg(f"{img} shin", knee, ankle, 6.0, [pt(knee), pt(ankle)]),
            seg(f"{img} shoulder", thorax, sh, 6.4, [pt(thorax), pt(sh)]),
            seg(f"{img} arm", sh, el, 6.0, [pt(sh), pt(el)]),
            seg(f"{img} forearm", el, wr, 5.5, [pt(el), pt(wr)]),
        ]
        foot = ankle + 0.35 * (ankle - knee)
        hand = wr + 0.35 * (wr - el)
        parts += [
            (f"{img} foot", (float(foot[1]), float(foot[0])), 5.0, 5.0, 0.0, [pt(ankle)]),
            (f"{img} hand", (float(hand[1]), float(hand[0])), 5.0, 5.0, 0.0, [pt(wr)]),
        ]
    parts.append(("head", (float(head[1]), float(head[0])), 14.0, 12.5, 0.0, [pt(neck)]))
    order = [p[0] for p in TPOSE_PARTS]
    return sorted(parts, key=lambda p: order.index(p[0]))


def main() -> None:
    from tpt_live.skeleton import JOINT_NAMES
    from tpt_live.synth import canonical_skeleton_2d

    OUT.mkdir(parents=True, exist_ok=True)
    skeleton = dict(zip(JOINT_NAMES, canonical_skeleton_2d(256), strict=True))
    variants = (
        ("tpose", TPOSE_PARTS),
        ("arms_down", arms_down(TPOSE_PARTS)),
        ("infant", infant_from_skeleton(skeleton)),
    )
    for name, parts in variants:
        (OUT / f"{name}.json").write_text(json.dumps(to_json(name, parts), indent=1) + "\n")


if __name__ == "__main__":
    main()
