"""Rendering speed of `tpt_live.synth` (frames/s, one core, encoding excluded).

Usage: python benchmarks/bench_synth.py [--frames 90] [--sizes 128x128 256x256] [--repeats 3]
Prints machine information, the command line and the best-of-N frames/s per size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tpt_live.synth import SynthConfig, parse_size, render_clip  # noqa: E402


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--sizes", nargs="+", default=["128x128", "256x256"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"machine: {_cpu_name()}, {os.cpu_count()} logical cores, {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}")
    print("command: python " + " ".join(sys.argv))
    render_clip(SynthConfig(width=64, height=64, frames=4, seed=args.seed))  # warm-up
    for size in args.sizes:
        width, height = parse_size(size)
        times = []
        for r in range(args.repeats):
            config = SynthConfig(width=width, height=height, frames=args.frames, seed=args.seed, index=r)
            times.append(render_clip(config).render_seconds)
        best = min(times)
        print(f"{size}: {args.frames / best:.0f} frames/s (best of {args.repeats}, {args.frames} frames per video)")


if __name__ == "__main__":
    main()
