"""Peak memory of `tpt-live track` with an overlay video, e.g. on 4K input.

Usage: python benchmarks/bench_memory.py VIDEO [--out DIR] [-- EXTRA TRACK OPTIONS]

Make a 4K clip with `tpt-live synth DIR --videos 1 --frames 60 --size 3840x2160`. The script runs
`tpt-live track VIDEO --out DIR/poses.json --save-video DIR/overlay.mp4 -q` in a child process and
prints one JSON object: the command, its exit status, wall seconds and the child's peak resident
memory (ru_maxrss, MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--out", default=None, help="Folder for the outputs (default: a temporary one).")
    parser.add_argument("extra", nargs="*", help="More `tpt-live track` options, after --.")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="tpt_mem_"))
    exe = shutil.which("tpt-live", path=str(Path(sys.executable).parent)) or "tpt-live"
    cmd = [exe, "track", args.video, "--out", str(out / "poses.json"), "--save-video", str(out / "overlay.mp4")]
    cmd += ["-q", *args.extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    result = {"command": " ".join(cmd), "exit": proc.returncode, "seconds": round(seconds, 1),
              "peak_rss_mib": round(peak_kib / 1024), "stderr_tail": proc.stderr[-500:]}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
