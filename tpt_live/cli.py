"""The `tpt-live` command line. The only module that imports typer.

Every command parses its options, calls one delegate, and lets `main` turn a `TptError` into one line
on stderr and its exit code. Heavy modules (`trainer`, `engines`, torch) are imported inside command
bodies so that `tpt-live --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import click
import typer

from tpt_live import __version__
from tpt_live.errors import NotBuiltError, TptError

app = typer.Typer(
    name="tpt-live",
    help="Real-time pose tracking with an unsupervised template-based model (TPT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("tpt_live")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tpt-live {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _not_built(command: str) -> None:
    raise NotBuiltError(f"`tpt-live {command}` is not built yet in this version")


@app.command()
def train() -> None:
    """Learn body keypoints from unlabelled videos (no annotations)."""
    _not_built("train")


@app.command()
def evaluate() -> None:
    """Measure keypoint error of a model on `tpt-live synth` output."""
    _not_built("evaluate")


@app.command()
def export(
    out: Annotated[str, typer.Option("--out", "-o", help="Output file: .onnx, or .engine/.plan for TensorRT.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or tensorrt.")] = "onnx",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint (.safetensors); default: the shipped model.")
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="TensorRT: build an FP16 engine.")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="TensorRT: build an INT8 engine (needs --calib).")] = False,
    calib: Annotated[
        str | None, typer.Option("--calib", help="INT8 calibration frames: a video file or an image folder.")
    ] = None,
    check: Annotated[
        str | None, typer.Option("--check", help="Frames for the parity check (default: --calib, else random).")
    ] = None,
    batch: Annotated[str, typer.Option("--batch", help="TensorRT batch profile MIN:OPT:MAX.")] = "1:8:32",
    workspace_gb: Annotated[float, typer.Option("--workspace-gb", help="TensorRT builder workspace, GiB.")] = 2.0,
) -> None:
    """Compile the model to ONNX or a TensorRT engine, then check it against PyTorch."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from engines.export import ExportRequest, check_parity, export, parity, resolve_model
    from engines.trt_build import parse_batch
    from tpt_live.errors import InputError

    if fp16 and int8:
        raise InputError("pass one of --fp16 and --int8, not both")
    req = ExportRequest(
        model=resolve_model(model),
        format=fmt,
        out=Path(out),
        precision="int8" if int8 else "fp16" if fp16 else "fp32",
        batch=parse_batch(batch),
        workspace_gb=workspace_gb,
        calib=Path(calib) if calib else None,
        check=Path(check) if check else None,
    )
    artefact = export(req)
    rows = parity(req, artefact)
    table = Table(title=f"{artefact} vs PyTorch fp32")
    for column in ("backend", "precision", "max keypoint diff (px)", "tolerance (px)", "ms/frame"):
        table.add_column(column, justify="left" if column in ("backend", "precision") else "right")
    for r in rows:
        tol = "reference" if r.tolerance_px is None else f"{r.tolerance_px:g}"
        table.add_row(r.backend, r.precision, f"{r.max_px:.5f}", tol, f"{r.ms_per_frame:.2f}")
    Console().print(table)
    check_parity(rows)


@app.command()
def track() -> None:
    """Track poses in a video file, folder, webcam or stream."""
    _not_built("track")


@app.command()
def monitor() -> None:
    """Live infant monitoring: alerts, event log, movement features."""
    _not_built("monitor")


@app.command()
def bench() -> None:
    """Measure decoding, inference and end-to-end speed."""
    _not_built("bench")


@app.command()
def synth(
    out_dir: Annotated[str, typer.Argument(help="Directory for <name>.mp4 and <name>.json (created if needed).")],
    videos: Annotated[int, typer.Option("--videos", help="Number of videos to render.")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per video.")] = 90,
    size: Annotated[str, typer.Option("--size", help="Frame size WIDTHxHEIGHT (even numbers).")] = "256x256",
    fps: Annotated[float, typer.Option("--fps", help="Frame rate of the motion and the video.")] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed; video i is the same whatever --videos is.")] = 0,
    pose: Annotated[str, typer.Option("--pose", help="supine, side, prone or mixed (drawn per video).")] = "supine",
    preview: Annotated[bool, typer.Option("--preview", help="Also write <name>_preview.png contact sheets.")] = False,
) -> None:
    """Render synthetic infant videos with exact 2D/3D ground truth."""
    import time
    from pathlib import Path

    from rich.console import Console

    from tpt_live.errors import InputError
    from tpt_live.synth import SynthConfig, iter_clips, parse_size, prepare_out_dir, write_clip

    width, height = parse_size(size)
    config = SynthConfig(width=width, height=height, frames=frames, fps=fps, seed=seed, pose=pose)
    if videos < 1:
        raise InputError(f"bad video count {videos}: use --videos 1 or more")
    out = prepare_out_dir(Path(out_dir))
    console = Console(stderr=True)
    start, render_s = time.perf_counter(), 0.0
    for clip in iter_clips(config, videos):
        write_clip(clip, out, preview=preview)
        render_s += clip.render_seconds
        console.print(f"  {clip.name}: {frames} frames ({frames / max(clip.render_seconds, 1e-9):.0f} fps rendering)")
    total = videos * frames
    console.print(
        f"[bold]wrote {videos} videos[/bold] x {frames} frames ({width}x{height}) to {out}: "
        f"rendering {total / max(render_s, 1e-9):.0f} fps, total {time.perf_counter() - start:.1f} s"
    )


def main() -> None:
    """Entry point: run the app; a `TptError` becomes one line on stderr and its exit code."""
    try:
        app(standalone_mode=False)
    except TptError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: bad option values, missing arguments
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
