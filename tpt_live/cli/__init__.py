"""The `tpt-live` command line: the Typer app (`app.py`) and one module per command group.

Only this package imports typer. Each command parses its options into a config and calls one delegate;
`app.main` turns a `TptError` into one line on stderr and its exit code.
"""

from tpt_live.cli.app import app, main

__all__ = ["app", "main"]
