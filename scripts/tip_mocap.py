"""Tip the bodies of keypoint-only clips over (lying, upside down) for a lifter yardstick (docs/LIFTING.md).

    python scripts/tip_mocap.py runs/mocap_dev/mix_val runs/mocap_dev/mix_val_tipped

Each `tpt-live mocap` JSON of IN is written to OUT once per tip: the 3D pose of every frame is turned
rigidly about its pelvis by a world rotation (world y up, `camera.R` maps world to camera axes) and filmed
again through the same camera (`camera.K`): `x90` = 90 deg about the world x axis, `z90` about z (lying on
the floor; face up, face down or on a side depending on where the subject faces), `x180` upside down.
The motion stays real, only its orientation changes, so a lifter trained on upright motion is tested on
bodies that lie or are inverted, as in crawling, rolling and getting up. Files are named
<name>_<tip>.json; the clip name keeps the `_az<A>_el<E>` suffix before the tip for per-motion pooling.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tpt_live.mocap import _axis_rotation

TIPS = {"x90": ("x", 90.0), "z90": ("z", 90.0), "x180": ("x", 180.0)}


def tip(doc: dict, axis: str, deg: float) -> dict:
    """A copy of a keypoint-only clip with every frame's body turned about its pelvis (world axes)."""
    K, R = np.array(doc["camera"]["K"]), np.array(doc["camera"]["R"])
    turn = R @ _axis_rotation(axis, np.array(deg)) @ R.T  # the world turn in camera axes
    frames = []
    for f in doc["frames"]:
        X = np.array(f["kp3d"])
        X = (X - X[0]) @ turn.T + X[0]
        uv = (X / X[:, 2:3]) @ K.T
        frames.append({**f, "kp3d": X.round(5).tolist(), "kp2d": uv[:, :2].round(4).tolist()})
    return {**doc, "frames": frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="folder of `tpt-live mocap` JSON")
    ap.add_argument("out", help="folder for the tipped copies")
    ap.add_argument("--tips", nargs="+", default=list(TIPS), choices=list(TIPS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(args.src).glob("*.json")):
        doc = json.loads(path.read_text())
        for name in args.tips:
            tipped = tip(doc, *TIPS[name])
            # the motion name first, then the tip, then the view: pooled per motion and tip
            motion, _, view = path.stem.partition("_az")
            stem = f"{motion}_{name}_az{view}"
            (out / f"{stem}.json").write_text(json.dumps({**tipped, "name": stem}))
    print(f"wrote {len(list(out.glob('*.json')))} clips to {out}")


if __name__ == "__main__":
    main()
