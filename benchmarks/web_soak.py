"""Soak test of the monitor web view: many concurrent clients on loopback, failed requests counted.

Usage: python benchmarks/web_soak.py [--poll 50] [--mjpeg 50] [--seconds 30] [--hold 5] [--fps 15] [--size 640x480]

A `tpt_live.monitor.webview.WebView` serves a `LiveState` that a publisher thread feeds with JPEG frames at
--fps (the size of a monitor's overlay). --poll clients loop over `/status.json` and `/frame.jpg` (one
request every 0.2 s each, 5 s timeout), --mjpeg clients hold `/stream.mjpg` open for --hold seconds,
count the frames they receive, hang up mid-stream (as a closed browser tab does) and connect again;
every client starts at once. Prints one JSON object: requests, failed requests (errors,
timeouts, non-200), MJPEG frames per client (min), warnings the server logged, and whether anything
was written to stderr (a traceback). Exit status 1 when any request failed or stderr was written.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np

from tpt_live.monitor.evidence import encode_jpeg
from tpt_live.monitor.state import LiveState
from tpt_live.monitor.webview import WebView


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def soak(poll: int, mjpeg: int, seconds: float, fps: float, size: tuple[int, int], hold: float = 5.0) -> dict:
    """Run the soak; returns the figures (see the module docstring)."""
    live = LiveState()
    width, height = size
    stop = threading.Event()

    def publish() -> None:
        rng = np.random.default_rng(0)
        t = 0.0
        while not stop.is_set():
            image = rng.integers(0, 255, (height // 8, width // 8, 3), np.uint8)
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
            live.publish(encode_jpeg(image), {"t": round(t, 3), "present": True, "energy": 0.1})
            t += 1 / fps
            time.sleep(1 / fps)

    web = WebView(live, "127.0.0.1", 0, None)
    lock = threading.Lock()
    figures = {"requests": 0, "failed": 0, "errors": [], "mjpeg_frames": []}

    def record(ok: bool, what: str = "") -> None:
        with lock:
            figures["requests"] += 1
            if not ok:
                figures["failed"] += 1
                if len(figures["errors"]) < 10:
                    figures["errors"].append(what)

    end = time.monotonic() + seconds
    go = threading.Barrier(poll + mjpeg + 1)

    def poller() -> None:
        go.wait()
        while time.monotonic() < end:
            for route in ("status.json", "frame.jpg"):
                try:
                    with urllib.request.urlopen(web.url + route, timeout=5) as r:
                        r.read()
                        record(r.status == 200, f"{route}: {r.status}")
                except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
                    record(False, f"{route}: {exc!r}")
                time.sleep(0.2)

    def streamer() -> None:
        go.wait()
        while time.monotonic() < end:
            frames, leave = 0, min(time.monotonic() + hold, end)
            try:
                with urllib.request.urlopen(web.url + "stream.mjpg", timeout=5) as r:
                    while time.monotonic() < leave:
                        line = r.readline()
                        if not line:
                            break
                        if line.startswith(b"Content-Length:"):
                            frames += 1
                record(frames > 0, "stream.mjpg: no frame")
            except Exception as exc:  # noqa: BLE001
                record(False, f"stream.mjpg: {exc!r}")
            with lock:
                figures["mjpeg_frames"].append(frames)

    counter = _Count()
    logging.getLogger("tpt_live").addHandler(counter)
    stderr, sys.stderr = sys.stderr, io.StringIO()
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    clients = [threading.Thread(target=poller) for _ in range(poll)]
    clients += [threading.Thread(target=streamer) for _ in range(mjpeg)]
    try:
        for c in clients:
            c.start()
        go.wait()
        for c in clients:
            c.join(seconds + 30)
    finally:
        stop.set()
        web.close()
        captured, sys.stderr = sys.stderr.getvalue(), stderr
        logging.getLogger("tpt_live").removeHandler(counter)
    frames = figures.pop("mjpeg_frames")
    return {
        **figures,
        "clients": poll + mjpeg,
        "seconds": seconds,
        "mjpeg_frames_min": min(frames) if frames else None,
        "server_warnings": counter.records[:10],
        "stderr": captured[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=int, default=50)
    parser.add_argument("--mjpeg", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--size", default="640x480")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print("command:", " ".join(sys.argv))
    result = soak(args.poll, args.mjpeg, args.seconds, args.fps, (w, h), args.hold)
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["failed"] or result["stderr"] or result["server_warnings"] else 0)


if __name__ == "__main__":
    main()
