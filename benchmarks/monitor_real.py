"""Monitoring on labelled real clips: presence per region, posture and alert timings against span labels.

Usage:
  python benchmarks/monitor_real.py [--labels benchmarks/labels/infant_dev.json] [--clips DIR]
                                    [--presence W] [--presence-view frame|both] [--no-presence-mirror]
                                    [--posture-net W|shipped|off] [--backend onnxruntime] [--no-infant-s 5]
                                    [--handedness M|off]
                                    [--camera-tilt auto|DEG] [--mirror] [--json OUT]

For every clip in the labels file (a JSON of frame spans per clip, see benchmarks/labels/) and every
labelled region, runs the monitor session exactly as `tpt-live monitor CLIP [--roi x,y,w,h] --out DIR -q`
does (`tpt_live.monitor.setup.open_session`, the shipped pose model and presence net unless told
otherwise) and reads its per-frame state. Prints per clip and region: presence accuracy (share of frames
whose `present` matches the label), mean presence probability, the share of labelled-posture frames
reported supine / side / prone / unknown (and absent), the posture accuracy (reported == label), and the
no_infant alerts (onset and firing time, stream seconds). The clips themselves are not in the repo:
point --clips at the folder that holds them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

LABELS = Path(__file__).parent / "labels" / "infant_dev.json"
POSTURE_KEYS = ("supine", "side", "prone", "unknown", "absent")


def in_spans(idx: int, spans: list[list[int]]) -> bool:
    return any(a <= idx < b for a, b in spans)


def run_region(
    clip: Path, roi: str | None, head: str | None, args: argparse.Namespace
) -> tuple[list[dict], list[dict]]:
    """(per-frame states, events) of one monitor run over `clip` with the region `roi` (None: full frame)."""
    import engines
    from tpt_live.checkpoint import model_or_off
    from tpt_live.crop import parse_roi
    from tpt_live.monitor.alerts import AlertConfig
    from tpt_live.monitor.posture import parse_tilt
    from tpt_live.monitor.setup import MonitorRequest, open_session

    base = AlertConfig()
    alerts = base.tuned({"no_infant": args.no_infant_s}, base.no_infant.confirm, base.no_infant.cooldown)
    states: list[dict] = []
    events: list[dict] = []
    with tempfile.TemporaryDirectory() as out:
        req = MonitorRequest(src=str(clip), out=Path(out), model=args.model, backend=args.backend, device=args.device,
                             roi=parse_roi(roi) if roi else None, alerts=alerts, head=head,
                             presence=Path(args.presence) if args.presence else None,
                             presence_view=args.presence_view, presence_mirror=not args.no_presence_mirror,
                             posture_net=model_or_off(args.posture_net),
                             camera_tilt=parse_tilt(args.camera_tilt),
                             handedness=model_or_off(args.handedness),
                             **({"posture_confidence": args.posture_confidence}
                                if args.posture_confidence is not None else {}),
                             **({"refine": args.refine} if args.refine is not None else {}))  # fmt: skip
        with open_session(req, engines.open_backend, events.append, states.append) as session:
            session.run()
    return states, events


def mirror_clip(src: Path, dst: Path) -> int:
    """Write `src` mirrored left-right to `dst` (H.264 at libx264's default quality, crf 23, same frame rate, as
    `scripts/split_clip.py` re-encodes); its width in pixels."""
    from tpt_live.videoio import transcode

    return transcode(src, dst, lambda f: np.ascontiguousarray(f[:, ::-1]), crf=23)


def mirrored_spec(spec: dict, width: int) -> dict:
    """The labels of a clip mirrored left-right: regions x -> width - x - w, head left <-> right; presence and
    posture spans unchanged (a mirrored picture of a baby on its back is a baby on its back)."""
    flip = {"left": "right", "right": "left"}
    out = json.loads(json.dumps(spec))
    out["head"] = flip.get(spec.get("head", "up"), spec.get("head", "up"))
    for region in out["regions"]:
        if region["roi"]:
            x, y, w, h = (int(v) for v in region["roi"].split(","))
            region["roi"] = f"{width - x - w},{y},{w},{h}"
    return out


def score(states: list[dict], events: list[dict], region: dict, posture_spans: list[dict]) -> dict:
    present_spans = region["present"]
    truth = np.array([in_spans(s["frame"], present_spans) for s in states], bool)
    said = np.array([bool(s["present"]) for s in states], bool)
    out: dict = {
        "frames": len(states),
        "label_present_frames": int(truth.sum()),
        "presence_accuracy": round(float((truth == said).mean()), 4) if len(states) else None,
        "mean_presence": round(float(np.mean([s["presence"] for s in states])), 3) if states else None,
    }
    if truth.any():
        counts = dict.fromkeys(POSTURE_KEYS, 0)
        right = total = 0
        for s in states:
            if not in_spans(s["frame"], present_spans):
                continue
            label = next((p["posture"] for p in posture_spans if p["span"][0] <= s["frame"] < p["span"][1]), None)
            if label is None:
                continue
            got = s["posture"] if s["present"] else "absent"
            counts[got or "unknown"] += 1
            right += got == label
            total += 1
        out["posture_share"] = {k: round(v / max(total, 1), 4) for k, v in counts.items()}
        out["posture_accuracy"] = round(right / max(total, 1), 4)
        conf = [s.get("posture_confidence") for s in states if s.get("posture_confidence") is not None]
        out["mean_posture_confidence"] = round(float(np.mean(conf)), 3) if conf else None
    out["alerts"] = [{k: e[k] for k in ("event", "kind", "onset", "t")} for e in events]
    out["no_infant_fired"] = any(e["kind"] == "no_infant" and e["event"] == "alert" for e in events)
    out["duration_s"] = round(states[-1]["t"] - states[0]["t"], 2) if states else 0.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=Path, default=LABELS)
    p.add_argument("--clips", type=Path, default=Path("../shared/data/infant_dev"), help="folder of the clips")
    p.add_argument("--presence", default=None, help="presence weights (default: the shipped file)")
    p.add_argument("--presence-view", default="both", choices=("frame", "both"), help="`monitor --presence-view`")
    p.add_argument("--no-presence-mirror", action="store_true", help="`monitor --no-presence-mirror`")
    p.add_argument("--posture-net", default="shipped", help="image posture classifier: a file, shipped, or off")
    p.add_argument(
        "--head",
        default=None,
        help="--head for every clip (default: the clip's label, else up); "
        "'model': no --head, as `tpt-live monitor CLIP` runs (a located model locates and turns)",
    )
    p.add_argument("--model", default=None, help="2D model file (default: the shipped model)")
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--device", default="cpu")
    p.add_argument("--handedness", default="handedness", help="`monitor --handedness` (a file, a name, or off)")
    p.add_argument("--no-infant-s", type=float, default=5.0, help="no_infant threshold (the clips are 10-16 s)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--camera-tilt", default="auto", help="`monitor --camera-tilt` (default: auto, the monitor's)")
    p.add_argument("--refine", type=int, default=None, help="`monitor --refine` (default: the monitor's)")
    p.add_argument("--posture-confidence", type=float, default=None, help="`monitor --posture-confidence`")
    p.add_argument(
        "--mirror",
        action="store_true",
        help="also run every clip mirrored left-right (regions and head mirrored, postures kept): a cue that reads "
        "the body's layout instead of its anatomy reads a mirrored baby on its back as one on its tummy",
    )
    args = p.parse_args()
    labels = json.loads(args.labels.read_text())["clips"]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for name, spec in labels.items():
            clip = args.clips / name
            if not clip.is_file():
                sys.exit(f"{clip}: not found (pass --clips)")
            runs.append((name, clip, spec))
            if args.mirror:
                copy = Path(tmp) / Path(name).name
                runs.append((f"{name} (mirrored)", copy, mirrored_spec(spec, mirror_clip(clip, copy))))
        for name, clip, spec in runs:
            run_clip(name, clip, spec, args, results)
    summary = {
        "labels": str(args.labels),
        "presence": args.presence or "shipped",
        "presence_view": args.presence_view,
        "presence_mirror": not args.no_presence_mirror,
        "posture_net": args.posture_net,
        "no_infant_s": args.no_infant_s,
        "mirror": args.mirror,
        "results": results,
    }
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


def run_clip(name: str, clip: Path, spec: dict, args: argparse.Namespace, results: dict) -> None:
    """Every labelled region of one clip: run, score, print a line, add to `results`."""
    for region in spec["regions"]:
        head = None if args.head == "model" else (args.head or spec.get("head", "up"))
        states, events = run_region(clip, region["roi"], head, args)
        r = score(states, events, region, spec["posture"])
        results[f"{name}:{region['name']}"] = {"roi": region["roi"], "head": head, **r}
        post = r.get("posture_share")
        fired = [e["t"] for e in r["alerts"] if e["kind"] == "no_infant" and e["event"] == "alert"]
        tilts = [s["camera_tilt"] for s in states if s.get("camera_tilt") is not None]
        r["camera_tilt_end"] = tilts[-1] if tilts else None
        line = (
            f"{name:20s} {region['name']:8s} roi={region['roi'] or 'full':14s} frames={r['frames']:4d} "
            f"labelled_present={r['label_present_frames']:4d} presence_acc={r['presence_accuracy']:.3f} "
            f"mean_p={r['mean_presence']:.3f} no_infant={f't={fired[0]:.2f}' if fired else 'never'}"
        )
        if post:
            line += f" tilt={r['camera_tilt_end']}"
            line += f" posture_acc={r['posture_accuracy']:.3f} share={post}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
