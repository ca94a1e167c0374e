"""`tpt-live bench`: decode-only speed, end-to-end tracking speed per backend (with and without the overlay
video) and the latency of a simulated live source, as rows for the CLI's table.

The live rows replay the file in real time (frames released at their timestamps, as a camera would) and
can slow the model by a fixed delay per call to show that latency stays bounded while frames are dropped.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tpt_live.backend import PoseBackend, Poses
from tpt_live.errors import BackendUnavailable, InputError
from tpt_live.localise import default_localiser_path
from tpt_live.track.handedness import SHIPPED_HANDEDNESS, open_handedness
from tpt_live.track.pipeline import STAGES
from tpt_live.track.runner import BackendFactory, SourceSummary, TrackRequest, track_one
from tpt_live.track.sources import VideoSource, resolve_sources

log = logging.getLogger(__name__)


@dataclass
class BenchRow:
    test: str  # "decode", "track", "track --locate", "track + video", "live"
    backend: str  # runtime name ("-" for decode)
    frames: int  # frames measured
    fps: float  # frames per second of wall time
    p50_ms: float | None = None  # latency percentiles (live rows and end-to-end)
    p95_ms: float | None = None
    drops: int | None = None  # frames dropped (live rows)
    note: str = ""  # e.g. the added model delay, latency growth


class SlowedBackend:
    """A backend with a fixed extra delay per inference call (simulates a slower model or machine)."""

    def __init__(self, inner: PoseBackend, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.name, self.precision = inner.name, inner.precision
        self.input_size, self.model_name, self.model_digest = inner.input_size, inner.model_name, inner.model_digest
        self.template, self.framing, self.flip = inner.template, inner.framing, inner.flip

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        start = time.perf_counter()
        poses = self.inner.infer(frames, lift)
        time.sleep(max(0.0, self.delay - (time.perf_counter() - start)))
        return poses

    def close(self) -> None:
        self.inner.close()


def bench_decode(src: str, size: int, seconds: float) -> BenchRow:
    """Decode and resize to the model input only, for up to `seconds`."""
    spec = resolve_sources([src])[0]
    source = VideoSource(spec, size)
    start, n = time.perf_counter(), 0
    for frame in source.frames():
        n += frame.status == "ok"
        if time.perf_counter() - start > seconds:
            break
    source.close()
    return BenchRow("decode", "-", n, n / (time.perf_counter() - start))


def _row(test: str, backend: PoseBackend, s: SourceSummary, note: str = "") -> BenchRow:
    """A row; the note adds the per-stage ms per frame (stages run in parallel threads: they overlap)."""
    stages = " ".join(f"{k} {s.stage_ms[k]:.1f}" for k in STAGES if k in s.stage_ms)
    note = "; ".join(n for n in (note, f"ms/frame: {stages}" if stages else "") if n)
    return BenchRow(test, backend.name, s.ok, s.fps, s.latency_p50 * 1e3, s.latency_p95 * 1e3, s.dropped, note)


def bench_track(
    src: str,
    backend: PoseBackend,
    seconds: float,
    video: bool,
    batch: int = 8,
    model: str | None = None,
    locate: bool | None = None,
    handedness: PoseBackend | None = None,
) -> BenchRow:
    """End to end into a JSON file (and an overlay video when `video`), for up to `seconds`; `locate` as
    `track --locate/--no-locate` (None: the model's framing decides, as `track` without either); `handedness`:
    the model `track` relabels left and right with by default (`track.handedness`), when it runs beside this one."""
    from tpt_live.track.pipeline import TrackConfig

    spec = resolve_sources([src])[0]
    with tempfile.TemporaryDirectory(prefix="tpt-bench-") as tmp:
        req = TrackRequest(
            (src,), Path(tmp) / "bench.json", model=model, max_seconds=seconds,
            config=TrackConfig(batch=batch, locate=locate),
            save_video=Path(tmp) / "bench.mp4" if video else None,
        )  # fmt: skip
        summary = track_one(spec, req, backend, many=False, handedness=handedness)
    label = "track" if locate is None else "track --locate" if locate else "track --no-locate"
    return _row(label + " + video" if video else label, backend, summary)


def bench_live(
    src: str, backend: PoseBackend, seconds: float, delay: float, handedness: PoseBackend | None = None
) -> BenchRow:
    """Replay `src` in real time as a live source for `seconds`, the model slowed to `delay` s per frame."""
    from tpt_live.track.pipeline import TrackConfig

    spec = resolve_sources([src])[0]
    slowed = SlowedBackend(backend, delay) if delay > 0 else backend
    with tempfile.TemporaryDirectory(prefix="tpt-bench-") as tmp:
        req = TrackRequest((src,), Path(tmp) / "live.json", config=TrackConfig(), pace=True, max_seconds=seconds)
        summary = track_one(spec, req, slowed, many=False, handedness=handedness)
    note = f"model {delay * 1e3:.0f} ms/frame; " if delay > 0 else ""
    note += f"late p95 {summary.latency_p95_late * 1e3:.0f} ms"
    return _row("live", backend, summary, note)


def run_bench(
    src: str,
    open_backend: BackendFactory,
    model: str | None = None,
    backends: tuple[str, ...] = ("torch", "onnxruntime"),
    seconds: float = 10.0,
    live_delay: float = 0.05,
    precision: str = "fp32",
) -> list[BenchRow]:
    """All rows for one clip. Backends that cannot load here are logged and skipped."""
    if seconds <= 0:
        raise InputError(f"--seconds {seconds} must be > 0")
    rows: list[BenchRow] = []
    for name in backends:
        try:
            backend = open_backend(model, backend=name, device="cpu", precision=precision)
        except BackendUnavailable as exc:
            log.warning("skipping backend %s: %s", name, exc)
            continue
        hand = None
        try:  # track's default second model, where it runs beside this one
            hand = open_handedness(SHIPPED_HANDEDNESS, open_backend, backend, backend=name, device="cpu")
            if not rows:
                rows.append(bench_decode(src, backend.input_size, seconds))
            for b in (backend, hand):  # warm-up
                if b is not None:
                    b.infer(np.zeros((8, backend.input_size, backend.input_size, 3), np.uint8))
            rows.append(bench_track(src, backend, seconds, video=False, model=model, handedness=hand))
            if backend.framing == "located":  # the default locates: also the whole frame, for comparison
                rows.append(bench_track(src, backend, seconds, False, model=model, locate=False, handedness=hand))
            elif default_localiser_path().is_file():
                rows.append(bench_track(src, backend, seconds, False, model=model, locate=True, handedness=hand))
            rows.append(bench_track(src, backend, seconds, video=True, model=model, handedness=hand))
            rows.append(bench_live(src, backend, seconds, live_delay, hand))
        finally:
            if hand is not None:
                hand.close()
            backend.close()
    return rows


def as_dicts(rows: list[BenchRow]) -> list[dict]:
    """Rows as plain dicts (JSON output of benchmarks/bench_track.py)."""
    from dataclasses import asdict

    return [asdict(replace(r)) for r in rows]
