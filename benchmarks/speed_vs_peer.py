"""Whole-process speed of `tpt-live track` against MediaPipe Pose full doing the same job, side by side.

    python benchmarks/speed_vs_peer.py CLIP.mp4 [--pairs 5] [--backend onnxruntime] [--peer-python PY] \
        [--track-args '--refine 2']

A = `tpt-live track CLIP --out poses.json --quiet --backend B` (JSON output, the default model, localiser and
lifter), B = `benchmarks/peer_agreement.py peer CLIP --out peer.json` in the peer's own environment
(MediaPipe Pose, model_complexity 1, tracking mode, its keypoints written as JSON; see that script for the
install). Each command runs once unmeasured (caches, page cache), then A and B run in turns, `--pairs` times:
pairing keeps the ratio meaningful when the machine's speed drifts. Wall time is from start to exit, start-up
included; CPU time is the children's user + system. Prints the medians, the spread, and the median of the
per-pair ratios A / B (below 0.5: tpt-live is more than twice as fast).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peer_agreement import DEFAULT_PEER_PYTHON


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `cmd`; raises when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON)
    ap.add_argument("--track-args", default="", help="more options for tpt-live track, e.g. '--refine 2'")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "tpt_live", "track", args.clip, "--out", f"{tmp}/poses.json", "--quiet"]
        ours += ["--backend", args.backend, *args.track_args.split()]
        peer = [args.peer_python, str(here / "peer_agreement.py"), "peer", args.clip, "--out", f"{tmp}/peer.json"]
        timed(ours), timed(peer)  # warm-up
        runs: dict[str, list[tuple[float, float]]] = {"tpt-live": [], "mediapipe full": []}
        for _ in range(args.pairs):
            runs["tpt-live"].append(timed(ours))
            runs["mediapipe full"].append(timed(peer))
    extra = f", track {args.track_args}" if args.track_args else ""
    print(f"{args.clip}{extra}, {args.pairs} pairs after one warm-up each (seconds: median [min-max])")
    print("| command | wall | cpu |\n|---|---|---|")
    for name, rows in runs.items():
        wall, cpu = [r[0] for r in rows], statistics.median(r[1] for r in rows)
        print(f"| {name} | {statistics.median(wall):.2f} [{min(wall):.2f}-{max(wall):.2f}] | {cpu:.2f} |")
    ratios = [a[0] / b[0] for a, b in zip(runs["tpt-live"], runs["mediapipe full"], strict=True)]
    print(f"wall ratio tpt-live / mediapipe full, per pair: median {statistics.median(ratios):.3f} "
          f"[{min(ratios):.3f}-{max(ratios):.3f}]: {1 / statistics.median(ratios):.2f}x as fast")  # fmt: skip


if __name__ == "__main__":
    main()
