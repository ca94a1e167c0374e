"""`tpt-live track` without the command line: sources in, one pose file (and video) per source out.

`run_track` resolves the sources, opens the backend once per process through the `open_backend` factory
the CLI passes in (so `tpt_live` never imports `engines`), and tracks each source with `track_one`,
sequentially or in `jobs` worker processes. Progress goes to an optional callback; nothing is printed.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tpt_live.backend import PoseBackend
from tpt_live.crop import check_roi, square_box
from tpt_live.errors import InputError, SourceError, TptError
from tpt_live.track.handedness import SHIPPED_HANDEDNESS, open_handedness
from tpt_live.track.outputs import ensure_folder, guess_format, make_header, open_writer, output_path, record
from tpt_live.track.pipeline import Stats, TrackConfig, Tracker
from tpt_live.track.sources import (
    ReconnectPolicy,
    SourceSpec,
    VideoSource,
    distinct_names,
    open_container,
    resolve_sources,
)

log = logging.getLogger(__name__)

BackendFactory = Callable[..., PoseBackend]  # open_backend(model, backend=, device=, precision=, flip=)


@dataclass(frozen=True)
class TrackRequest:
    sources: tuple[str, ...]  # as typed: files, folders, globs, camera indices, URLs
    out: Path  # output file (one source) or folder (several)
    fmt: str | None = None  # json | jsonl | csv | openpose | coco; None: from out's suffix
    model: str | None = None  # model file; None: the shipped default
    backend: str = "auto"  # auto | torch | onnxruntime | tensorrt
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | fp16 | bf16 | int8
    flip: bool = False  # test-time flip averaging (`TptModel.regress`): about 2x the model's time
    # a model whose left and right relabel the pose (`track.handedness`; None: off); the shipped one is skipped where
    # it cannot run beside the pose model
    handedness: str | None = SHIPPED_HANDEDNESS
    config: TrackConfig = field(default_factory=TrackConfig)  # crop, batching, smoothing
    save_video: Path | None = None  # overlay video file (one source) or folder (several)
    show: bool = False  # show the overlay in a window
    jobs: int = 1  # worker processes, one source each at a time
    reconnect: int = 3  # live sources ride out outages of reconnect x timeout seconds
    timeout: float = 10.0  # seconds an open or read of a live source may block
    pace: bool = False  # release file frames in real time, as a live source would (bench, tests)
    max_seconds: float | None = None  # stop each source after this long (bench)

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise InputError(f"--jobs {self.jobs} must be 1 or more")
        ReconnectPolicy(self.reconnect, self.timeout)  # InputError for a bad --reconnect or --timeout


@dataclass
class SourceSummary:
    uri: str  # the source
    output: str = ""  # pose file or folder written
    video: str | None = None  # overlay video written
    frames: int = 0  # records written (every status)
    ok: int = 0
    dropped: int = 0
    decode_errors: int = 0
    seconds: float = 0.0  # wall time
    fps: float = 0.0  # ok frames per second of wall time
    latency_p50: float = 0.0  # seconds
    latency_p95: float = 0.0
    latency_p95_late: float = 0.0  # p95 over the last third of the frames: growth shows up here
    stage_ms: dict[str, float] = field(default_factory=dict)  # ms per ok frame in each stage (pipeline.STAGES)
    problems: list[str] = field(default_factory=list)  # warnings (truncated file, ...)
    error: str | None = None  # the error that stopped this source
    exit_code: int = 0  # that error's exit code

    @classmethod
    def of(cls, uri: str, stats: Stats, output: str, video: str | None) -> SourceSummary:
        lat = np.asarray(stats.latencies) if stats.latencies else np.zeros(1)
        return cls(
            uri, output, video, stats.frames, stats.ok, stats.dropped, stats.decode_errors, stats.seconds,
            stats.fps, float(np.percentile(lat, 50)), float(np.percentile(lat, 95)),
            float(np.percentile(lat[len(lat) * 2 // 3 :], 95)),
            stage_ms={k: 1e3 * v / max(stats.ok, 1) for k, v in stats.stage_s.items()},
        )  # fmt: skip


class TrackInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during tracking: the outputs are finalised; `summaries` says what was done."""

    def __init__(self, summaries: list[SourceSummary]) -> None:
        super().__init__()
        self.summaries = summaries


class Progress(Protocol):
    def start(self, name: str, total: int) -> None: ...

    def advance(self, name: str, frames: int) -> None: ...


def _crop_header(config: TrackConfig) -> dict[str, Any]:
    mode = "follow" if config.follow else "locate" if config.locate else ("roi" if config.roi else "full")
    return {"mode": mode, "roi": config.roi.as_list() if config.roi else None, "head": config.head}


def track_one(
    spec: SourceSpec,
    request: TrackRequest,
    backend: PoseBackend,
    many: bool,
    progress: Progress | None = None,
    handedness: PoseBackend | None = None,
) -> SourceSummary:
    """Track one source into its output(s). TptErrors propagate; Ctrl-C leaves finished files."""
    from tpt_live.track.overlay import Overlay, VideoWriter, Window, hud_line

    asked = request.config.resolved(backend.framing)  # crop mode and head as given or as the model implies
    roi = square_box(asked.roi) if asked.roi else None
    overlay_wanted = request.save_video is not None or request.show
    cfg = replace(asked, roi=roi, keep_images=overlay_wanted)
    source = VideoSource(
        spec, backend.input_size, roi, not cfg.full_frames, overlay_wanted, request.reconnect, request.pace,
        request.timeout,
    )  # fmt: skip
    info = source.info
    if request.config.roi is not None:
        check_roi(request.config.roi, info.width, info.height)
    fmt = guess_format(request.out, request.fmt, many)
    out = output_path(request.out, fmt, spec.name, many)
    relabel = {"handedness": {"name": handedness.model_name, "digest": handedness.model_digest}} if handedness else None
    header = make_header(info, backend, cfg.smoothing, _crop_header(asked), relabel)
    writer = open_writer(fmt, out, header, spec.name)
    video = window = overlay = None
    video_path = None
    if request.save_video is not None:
        video_path = request.save_video / f"{spec.name}.mp4" if many else request.save_video
        tb = _time_base(info.time_base) if not info.live else None
        video = VideoWriter(video_path, info.width, info.height, info.fps, **({"time_base": tb} if tb else {}))
    if overlay_wanted:
        overlay = Overlay(backend.template, backend.input_size)
        window = Window(f"tpt-live: {spec.name}") if request.show else None
    tracker = Tracker(source, backend, cfg, handedness)
    if progress is not None:
        progress.start(spec.name, info.frame_count)
    results = tracker.results()
    interrupted = False
    try:
        for r in results:
            t = time.perf_counter()
            writer.write(record(r))
            tracker.stats.charge("write", t)
            if overlay is not None and r.frame.image is not None:
                stats = tracker.stats
                hud = hud_line(stats.fps, r.latency, stats.dropped)
                image = overlay.draw(r.frame.image, r, hud)
                if video is not None:
                    video.write(image, r.frame.t)
                if window is not None and not window.show(image):
                    tracker.stop()
            if progress is not None:
                progress.advance(spec.name, 1)
            if request.max_seconds is not None and tracker.stats.seconds > request.max_seconds:
                tracker.stop()
    except KeyboardInterrupt:  # Ctrl-C: finish the files below, then report what was tracked
        interrupted = True
    finally:
        results.close()
        writer.close()
        if video is not None:
            video.close()
        if window is not None:
            window.close()
    if interrupted:
        summary = SourceSummary.of(spec.uri, tracker.stats, str(out), str(video_path) if video_path else None)
        raise TrackInterrupted([summary])
    if tracker.stats.ok == 0 and source.problems:
        raise SourceError(source.problems[0])
    summary = SourceSummary.of(spec.uri, tracker.stats, str(out), str(video_path) if video_path else None)
    summary.problems = list(source.problems)
    return summary


def _time_base(text: str) -> Any:
    from fractions import Fraction

    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _guarded(spec: SourceSpec, request: TrackRequest, backends: tuple, many: bool, progress: Any) -> SourceSummary:
    """track_one with a source's TptError turned into its summary (the other sources go on)."""
    try:
        return track_one(spec, request, backends[0], many, progress, backends[1])
    except TptError as exc:
        return SourceSummary(spec.uri, error=str(exc), exit_code=exc.exit_code)


def _open(request: TrackRequest, open_backend: BackendFactory) -> tuple[PoseBackend, PoseBackend | None]:
    """(the pose backend, the handedness model beside it or None); close both with `_close`."""
    runtime = {"backend": request.backend, "device": request.device}
    pose = open_backend(request.model, precision=request.precision, flip=request.flip, **runtime)
    try:
        return pose, open_handedness(request.handedness, open_backend, pose, **runtime)
    except BaseException:
        pose.close()
        raise


def _close(backends: tuple[PoseBackend, PoseBackend | None]) -> None:
    for backend in backends[::-1]:
        if backend is not None:
            backend.close()


def run_track(
    request: TrackRequest, open_backend: BackendFactory, progress: Progress | None = None
) -> list[SourceSummary]:
    """Track every source of the request; returns one summary per source (errors included)."""
    specs, missing = _resolve_each(list(request.sources))
    count = len(specs) + len(missing)
    many = count > 1
    guess_format(request.out, request.fmt, many)  # a bad --format or suffix fails before any work
    for path, what in ((request.out, "--out"), (request.save_video, "--save-video")):
        if many and path is not None and path.exists() and not path.is_dir():
            raise InputError(f"{what} {path} is a file, but {count} sources need a folder")
    if request.show and request.jobs > 1:
        raise InputError("--show works with one job at a time; drop --jobs or --show")
    _check_outputs(request, specs[0].name if specs else "", many)
    failed = {s.uri: _precheck(s) for s in specs}
    todo = [s for s in specs if failed[s.uri] is None]
    done: list[SourceSummary] = []
    if request.jobs > 1 and len(todo) > 1:
        done = _run_parallel(todo, request, open_backend, progress)
    elif todo:
        backends = _open(request, open_backend)
        try:
            for spec in todo:
                done.append(_guarded(spec, request, backends, many, progress))
        except TrackInterrupted as exc:
            raise TrackInterrupted(done + exc.summaries) from None
        finally:
            _close(backends)
    by_uri = {s.uri: s for s in done}
    return missing + [by_uri.get(s.uri) or failed[s.uri] or SourceSummary(s.uri) for s in specs]


def _resolve_each(sources: list[str]) -> tuple[list[SourceSpec], list[SourceSummary]]:
    """The sources resolved one by one: with several, one that is missing is a failed summary and the others
    go on; a single source's SourceError is raised as it is."""
    if len(sources) <= 1:
        return resolve_sources(sources), []
    specs, missing = [], []
    for arg in sources:
        try:
            specs += resolve_sources([arg])
        except SourceError as exc:
            missing.append(SourceSummary(arg, error=str(exc), exit_code=exc.exit_code))
    return distinct_names(specs), missing


def _check_outputs(request: TrackRequest, name: str, many: bool) -> None:
    """Create the output folders before any model is loaded, so a path that cannot be written fails at once."""
    fmt = guess_format(request.out, request.fmt, many)
    out = output_path(request.out, fmt, name, many)
    ensure_folder(request.out if many else out if fmt == "openpose" else out.parent, "--out", out)
    if request.save_video is not None:
        video = request.save_video
        ensure_folder(video if many else video.parent, "--save-video", video)
        if not many and video.is_dir():
            raise InputError(f"--save-video {video} is a folder; give a file name (e.g. {video / 'overlay.mp4'})")


def _precheck(spec: SourceSpec) -> SourceSummary | None:
    """Open a file once before any model is loaded, so a bad file fails in a moment, not after loading."""
    if spec.kind != "file":
        return None
    try:
        open_container(spec, timeout=10.0).close()
    except TptError as exc:
        return SourceSummary(spec.uri, error=str(exc), exit_code=exc.exit_code)
    return None


def _worker_init(threads: int) -> None:
    """In each worker: SIGTERM ends like Ctrl-C (outputs finalised); CPU threads shared out."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    import torch

    torch.set_num_threads(threads)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _worker(spec: SourceSpec, request: TrackRequest, open_backend: BackendFactory) -> SourceSummary:
    try:
        backends = _open(request, open_backend)
    except TptError as exc:
        return SourceSummary(spec.uri, error=str(exc), exit_code=exc.exit_code)
    try:
        return _guarded(spec, request, backends, True, None)
    finally:
        _close(backends)


def _run_parallel(
    specs: list[SourceSpec], request: TrackRequest, open_backend: BackendFactory, progress: Progress | None
) -> list[SourceSummary]:
    jobs = min(request.jobs, len(specs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(threads,))
    summaries: dict[str, SourceSummary] = {}
    try:
        futures = {pool.submit(_worker, spec, request, open_backend): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures[future]
            summaries[spec.uri] = future.result()
            if progress is not None:
                progress.advance("videos", 1)
    except KeyboardInterrupt:
        for proc in list(getattr(pool, "_processes", {}).values()):  # our own children: let them finalise
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGINT)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [summaries[s.uri] for s in specs]
