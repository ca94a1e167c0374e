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
from tpt_live.cli import evaluate, export, lifting, localise, monitor, presence, synth, track, train
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
app.command("train-localiser")(localise.train_localiser)
app.command()(localise.pretrain)
app.command()(synth.synth)


def main() -> None:
    """Entry point and the one error-mapping path of every command (exit codes: see the module doc).

    A `TptError` becomes one line on stderr and its exit code; Ctrl-C (and SIGTERM) 130; a usage error 2;
    anything else, a bug, one line and exit 1 (the traceback only with -v).
    """
    try:
        code = app(standalone_mode=False)  # typer returns the code of `typer.Exit` and of Ctrl-C here
    except TptError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        _exit(130)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except typer.Abort:
        _exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, missing arguments
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.strip():  # a bare `tpt-live` has printed the help and has nothing to add
            typer.echo(f"error: {message}", err=True)
        _exit(getattr(exc, "exit_code", 2))
    except SystemExit as exc:  # a command's own exit code (130 after finalising outputs, a source's code)
        _exit(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            logging.getLogger("tpt_live").exception("unexpected error")
        _fail(f"unexpected {exc.__class__.__name__}: {exc} (a bug: run with -v for the traceback and report it)", 1)
    _exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    _exit(code)


def _exit(code: int) -> None:
    """Exit with `code`. After an interruption every output is already finalised and flushed, so the
    interpreter's own teardown (unloading torch and ONNX Runtime, seconds on a busy machine) is skipped."""
    if code != 130:
        sys.exit(code)
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
