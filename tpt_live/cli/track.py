"""`tpt-live track` (sources -> pose files, overlay videos) and `tpt-live bench` (speed figures)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tpt_live.cli.common import interrupt_on_sigterm, output_file, quiet_logs
from tpt_live.track.pipeline import TrackConfig
from tpt_live.track.runner import TrackRequest
from tpt_live.track.smoothing import SmoothingConfig


def track(
    sources: Annotated[
        list[str], typer.Argument(help="Video files, folders, globs, image folders, camera 0 or /dev/video0, URLs.")
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Output file (one source) or folder (several).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="json, jsonl, csv, openpose or coco (default: from --out).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint, ONNX file or engine; default: the shipped model.")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="auto, torch, onnxruntime or tensorrt.")
    ] = TrackRequest.backend,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = TrackRequest.device,
    precision: Annotated[str, typer.Option("--precision", help="fp32, fp16, bf16 or int8.")] = TrackRequest.precision,
    roi: Annotated[
        str | None, typer.Option("--roi", help="Fixed crop x,y,w,h in source pixels (made square around its centre).")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Centre a square crop on the subject.")] = False,
    locate: Annotated[
        bool | None,
        typer.Option(
            "--locate/--no-locate",
            help="Find the subject in every frame (any size, any way round) and crop to it "
            "(default: on for models trained on located crops, as the shipped one, unless --roi or --follow).",
        ),
    ] = None,
    locate_every: Annotated[
        float, typer.Option("--locate-every", help="Seconds between localiser runs in a video (0: every frame).")
    ] = TrackConfig.locate_every,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="Located crops: passes that cut each frame again along the model's own body axis (0: off).",
        ),
    ] = TrackConfig.refine,
    look_again: Annotated[
        float,
        typer.Option(
            "--look-again", help="Located crops: the localiser looks again at this many body lengths around (0: off)."
        ),
    ] = TrackConfig.look_again,
    localiser: Annotated[
        str | None,
        typer.Option("--localiser", help="Localiser for --locate (from train-localiser; default: the shipped one)."),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="Where the head points in the picture: up, right, down, left (turned upright), or auto "
            "(the localiser's, per frame; the default with --locate).",
        ),
    ] = None,
    flip: Annotated[
        bool,
        typer.Option("--flip", help="Average each crop's pose with its mirror image's (~2x the model time)."),
    ] = TrackRequest.flip,
    handedness: Annotated[
        str,
        typer.Option(
            "--handedness",
            help="A second model read 4 times a second on the same crops: where its left and right are the other "
            "way round, the pose's are swapped (a baby on its tummy; docs/TRACKING.md); 'off' for none.",
        ),
    ] = str(TrackRequest.handedness),
    batch: Annotated[int, typer.Option("--batch", help="Frames per inference call (files).")] = TrackConfig.batch,
    save_video: Annotated[
        str | None, typer.Option("--save-video", help="Write the overlay as H.264 .mp4 (a folder for several sources).")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the overlay in a window (needs a display).")] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Videos tracked in parallel processes.")
    ] = TrackRequest.jobs,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    reconnect: Annotated[
        int, typer.Option("--reconnect", help="A camera or stream may be away --reconnect x --timeout seconds.")
    ] = TrackRequest.reconnect,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds an open or read of a camera or stream may block.")
    ] = TrackRequest.timeout,
    smooth: Annotated[
        bool, typer.Option("--smooth/--no-smooth", help="One-Euro smoothing of keypoints.")
    ] = SmoothingConfig.enabled,
    min_cutoff: Annotated[
        float, typer.Option("--min-cutoff", help="One-Euro cutoff at rest, Hz.")
    ] = SmoothingConfig.min_cutoff,
    beta: Annotated[
        float, typer.Option("--beta", help="One-Euro speed coefficient (higher: less lag).")
    ] = SmoothingConfig.beta,
) -> None:
    """Track poses in a video file, folder, webcam or stream.

    Exit codes: 0 done, 2 bad argument, 3 source missing/unreadable/lost, 4 model, 5 backend missing, 130
    interrupted (outputs are finalised and valid).
    """
    from pathlib import Path

    from rich.console import Console

    import engines
    from tpt_live.checkpoint import model_or_off
    from tpt_live.crop import parse_roi
    from tpt_live.track.outputs import ensure_folder
    from tpt_live.track.runner import run_track

    interrupt_on_sigterm()
    quiet_logs(quiet)
    config = TrackConfig(
        batch=batch,
        roi=parse_roi(roi) if roi else None,
        follow=follow,
        locate=locate,
        locate_every=locate_every,
        localiser=localiser,
        refine=refine,
        look_again=look_again,
        head=head,
        smoothing=SmoothingConfig(enabled=smooth, min_cutoff=min_cutoff, beta=beta),
    )
    if out.endswith(("/", "\\")):  # a trailing separator names a folder, even one with a dot in its name
        ensure_folder(Path(out), "--out")
    request = TrackRequest(
        sources=tuple(sources), out=Path(out), fmt=fmt, model=model, backend=backend, device=device,
        precision=precision, flip=flip, config=config, save_video=Path(save_video) if save_video else None, show=show,
        jobs=jobs, reconnect=reconnect, timeout=timeout, handedness=model_or_off(handedness),
    )  # fmt: skip
    if show:
        from tpt_live.track.overlay import Window

        Window()  # fails early, with one line, when there is no display
    console = Console(stderr=True, quiet=quiet)
    try:
        with _TrackProgress(console) as progress:
            summaries = run_track(request, engines.open_backend, progress)
    except KeyboardInterrupt as exc:  # handled here: typer turns it into a return value, not an exit code
        _print_summary(console, getattr(exc, "summaries", []))  # what was tracked before Ctrl-C
        typer.echo("interrupted: outputs finalised", err=True)
        sys.exit(130)
    _print_summary(console, summaries)
    codes = [s.exit_code for s in summaries if s.exit_code]
    if codes:  # each error was printed as one line above; exit with the first one's code
        sys.exit(codes[0])


class _TrackProgress:
    """A rich progress bar per source (frames, fps, ETA); `tpt_live.track.runner.Progress`."""

    def __init__(self, console: object) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>6.1f} fps"),
            TimeRemainingColumn(),
            console=console,  # type: ignore[arg-type]
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _TrackProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self._bar.stop()

    def start(self, name: str, total: int) -> None:
        if not self._tasks:
            self._bar.start()
        self._tasks[name] = self._bar.add_task(name, total=total or None, fps=0.0)

    def advance(self, name: str, frames: int) -> None:
        if name not in self._tasks:
            self.start(name, 0)
        task = self._tasks[name]
        self._bar.advance(task, frames)
        speed = self._bar.tasks[task].speed or 0.0
        self._bar.update(task, fps=speed)


def _print_summary(console: object, summaries: list) -> None:
    """One line per source on stderr: frames, drops, errors, throughput; errors and warnings as lines."""
    for s in summaries:
        if s.error:
            typer.echo(f"error: {s.error}", err=True)
            continue
        for problem in s.problems:
            typer.echo(f"warning: {problem}", err=True)
        console.print(  # type: ignore[attr-defined]
            f"{s.output}: {s.frames} frames ({s.ok} ok, {s.dropped} dropped, {s.decode_errors} decode errors), "
            f"{s.fps:.1f} frames/s, latency p50 {s.latency_p50 * 1e3:.0f} ms"
            + (f", video {s.video}" if s.video else "")
        )


def bench(
    src: Annotated[str, typer.Argument(help="A video file to measure on.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint or ONNX file; default: the shipped model.")
    ] = None,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", help="Backend(s) to measure (repeat); default: torch, onnxruntime.")
    ] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Longest time per measurement.")] = 10.0,
    live_delay_ms: Annotated[
        float, typer.Option("--live-delay-ms", help="Model time per frame in the simulated live test (0: as is).")
    ] = 50.0,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the rows to this JSON file.")] = None,
) -> None:
    """Measure decoding, end-to-end tracking (with and without overlay video) and live latency."""
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    import engines
    from tpt_live.errors import InputError
    from tpt_live.track.bench import as_dicts, run_bench

    output_file(json_out, "--json")
    if not seconds > 0 or not live_delay_ms >= 0:
        raise InputError(f"--seconds {seconds} must be positive and --live-delay-ms {live_delay_ms} >= 0")
    names = tuple(backend) if backend else ("torch", "onnxruntime")
    rows = run_bench(src, engines.open_backend, model, names, seconds, live_delay_ms / 1e3)
    table = Table(title=f"tpt-live bench: {src}")
    for column in ("test", "backend", "frames", "frames/s", "p50 ms", "p95 ms", "drops", "note"):
        table.add_column(column, justify="left" if column in ("test", "backend", "note") else "right")
    for r in rows:
        ms = [f"{v:.1f}" if v is not None else "" for v in (r.p50_ms, r.p95_ms)]
        drops = "" if r.drops is None else str(r.drops)
        table.add_row(r.test, r.backend, str(r.frames), f"{r.fps:.1f}", *ms, drops, r.note)
    Console().print(table)
    if json_out:
        Path(json_out).write_text(json.dumps(as_dicts(rows), indent=1) + "\n")
