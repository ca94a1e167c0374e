"""The Typer app, logging set-up, command registration and the one error-mapping path (`main`).

Exit codes (every command): 0 done, 1 unexpected internal error, 2 bad argument or input file,
3 source missing/unreadable/lost, 4 model file, 5 optional backend missing, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from tpt_live import __version__
from tpt_live.cli import evaluate, export, lifting, monitor, presence, synth, track, train
from tpt_live.errors import TptError

app = typer.Typer(
    name="tpt-live",
    help="Real-time pose tracking with an unsupervised template-based model (TPT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


app.command()(train.train)
app.command()(evaluate.evaluate)
app.command("train-lifter")(lifting.train_lifter)
app.command()(lifting.mocap)
app.command()(export.export)
app.command()(track.track)
app.command()(track.bench)
app.command()(monitor.monitor)
app.command("train-presence")(presence.train_presence)
app.command("train-posture")(presence.train_posture)
app.command()(synth.synth)


def main() -> None:
    """Entry point: run the app; a `TptError` becomes one line on stderr and its exit code."""
    try:
        code = app(standalone_mode=False)  # typer returns the code of `typer.Exit` and of Ctrl-C here
    except TptError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, missing arguments
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"error: {message}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
