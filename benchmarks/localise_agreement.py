"""How well the localisation stage finds a body in real footage, measured against a peer's keypoints.

    .venv/bin/python benchmarks/localise_agreement.py CLIP PEER.json [--sheet sheet.png] [--localiser FILE] [--raw]

PEER.json is `benchmarks/peer_agreement.py peer` output (MediaPipe Pose, COCO-17 in source pixels). On every
frame where the peer is confident (visibility >= --min-conf) about both hips and a head point, the peer's body
axis (pelvis = mid-hips, head = `tpt_live.evaluation.coco.JOINT_FROM_COCO`'s head) is compared with the
localiser's: centre error in axis lengths (median), length error (median |ratio - 1|), head-direction error
(median degrees), `turn_right` (share within 45 degrees), `found` (centre within half a length, length within
30%, direction within 45 degrees), and, for reference, the turn share of a fixed "head up" guess. Locations
are averaged over the video as `track --locate` does (`localise.LocationFilter`, frame times from the clip's
frame rate); `--raw` scores single frames. The sheet shows 8 frames with the peer's axis (green) and the
localiser's (red; the dot is the head end). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tpt_live.evaluation.coco import coco17_to_joints  # noqa: E402
from tpt_live.localise import FilterConfig, LocationFilter, body_axis  # noqa: E402
from tpt_live.localiser_net import load_localiser  # noqa: E402
from tpt_live.videoio import read_video, video_fps  # noqa: E402
from trainer.localiser_train import score_locations  # noqa: E402


def peer_axes(peer: Path, min_conf: float) -> dict[int, np.ndarray]:
    """Frame index -> (4,) peer axis (x, y, length, angle), for frames where it is confident."""
    out = {}
    for f in json.loads(peer.read_text())["frames"]:
        if f["kp"] is None:
            continue
        kp = np.asarray(f["kp"], np.float64)
        joints, labelled = coco17_to_joints(kp[None, :, :2], kp[None, :, 2] >= min_conf)
        if labelled[0, 0] and labelled[0, 3]:  # pelvis and head
            out[f["idx"]] = body_axis(joints[0])
    return out


def _draw(img: np.ndarray, axis: np.ndarray, colour: tuple[int, int, int]) -> None:
    x, y, length, angle = axis[:4]
    a = np.radians(angle)
    head = (x + np.sin(a) * length / 2, y - np.cos(a) * length / 2)
    feet = (x - np.sin(a) * length / 2, y + np.cos(a) * length / 2)
    t = max(2, img.shape[0] // 200)
    cv2.line(img, (int(feet[0]), int(feet[1])), (int(head[0]), int(head[1])), colour, t)
    cv2.circle(img, (int(head[0]), int(head[1])), 3 * t, colour, -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("peer", type=Path)
    ap.add_argument("--localiser", default=None, help="localiser file (default: the shipped one)")
    ap.add_argument("--min-conf", type=float, default=0.5)
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--raw", action="store_true", help="score each frame's own location (no running average)")
    a = ap.parse_args()
    fps = video_fps(a.clip) or 30.0
    smooth = LocationFilter(FilterConfig(0.0, 0.0, 0.0, 0.0, 0.0) if a.raw else None)
    truth = peer_axes(a.peer, a.min_conf)
    loc = load_localiser(a.localiser)
    pred, gt, shown = [], [], []
    keys = sorted(truth)
    picks = {keys[i] for i in np.linspace(0, len(keys) - 1, 8).astype(int)} if keys else set()
    for idx, frame in enumerate(read_video(a.clip)):
        found = smooth.update(loc.locate([frame])[0], idx / fps)
        if idx not in truth:
            continue
        pred.append([found.x, found.y, found.length, found.angle])
        gt.append(truth[idx])
        if a.sheet is not None and idx in picks:
            img = np.ascontiguousarray(frame[..., ::-1])
            _draw(img, truth[idx], (0, 200, 0))
            _draw(img, np.array(pred[-1]), (0, 0, 255))
            shown.append(cv2.resize(img, (320, round(320 * img.shape[0] / img.shape[1]))))
    if not gt:
        print(json.dumps({"clip": str(a.clip), "frames_scored": 0}))
        return
    pred_a, gt_a = np.asarray(pred), np.asarray(gt)
    up = gt_a.copy()
    up[:, 3] = 0.0
    result = {"clip": str(a.clip), "frames_scored": len(gt), **score_locations(pred_a, gt_a)}
    result["turn_right_head_up_guess"] = score_locations(up, gt_a)["turn_right"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
    if a.sheet is not None and shown:
        shown += [np.zeros_like(shown[0])] * (-len(shown) % 4)
        cv2.imwrite(
            str(a.sheet), np.concatenate([np.concatenate(shown[i : i + 4], 1) for i in range(0, len(shown), 4)], 0)
        )


if __name__ == "__main__":
    main()
