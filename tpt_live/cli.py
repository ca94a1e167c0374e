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
def export() -> None:
    """Compile the model to ONNX or a TensorRT engine."""
    _not_built("export")


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
def synth() -> None:
    """Render synthetic infant videos with exact 2D/3D ground truth."""
    _not_built("synth")


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
