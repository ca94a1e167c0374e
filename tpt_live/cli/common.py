"""Small pieces the command modules share: SIGTERM as Ctrl-C, option helpers."""

from __future__ import annotations

import logging
import signal
from typing import Any


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C: outputs are finalised, exit code 130."""
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _interrupt)


def quiet_logs(quiet: bool) -> None:
    """-q/--quiet: warnings and errors only (INFO lines such as the backend choice are hidden)."""
    if quiet:
        logging.getLogger().setLevel(logging.WARNING)


def given(**options: Any) -> dict[str, Any]:
    """The options the user set (not None): the config class keeps every default in one place."""
    return {k: v for k, v in options.items() if v is not None}
