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
    """-q/--quiet: warnings and errors only (INFO lines such as the backend choice are hidden). With -v as well,
    -v wins for the log (debug lines and the traceback of an unexpected error); -q still hides live panels."""
    root = logging.getLogger()
    if quiet and root.level != logging.DEBUG:
        root.setLevel(logging.WARNING)


def given(**options: Any) -> dict[str, Any]:
    """The options the user set (not None): the config class keeps every default in one place."""
    return {k: v for k, v in options.items() if v is not None}


def output_file(path: str | None, option: str) -> None:
    """Check before any work that `option`'s output file can be written (its folder is created): InputError
    (exit code 2) in one line otherwise, so a long run is never lost at its last step. None: not asked for."""
    import os
    from pathlib import Path

    from tpt_live.errors import InputError
    from tpt_live.track.outputs import ensure_folder

    if path is None:
        return
    file = Path(path)
    if file.is_dir():
        raise InputError(f"{option} {file} is a folder; give a file name")
    ensure_folder(file.parent, option, file)
    if not os.access(file.parent, os.W_OK | os.X_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise InputError(f"{option} {file}: cannot be written; pick a writable path")


def output_folder(path: str, option: str) -> None:
    """Check before any work that `option`'s run folder can be created and written: InputError otherwise."""
    import os
    from pathlib import Path

    from tpt_live.errors import InputError
    from tpt_live.track.outputs import ensure_folder

    ensure_folder(Path(path), option)
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the folder is not writable; pick a writable path")


def set_threads(threads: int | None) -> None:
    """--threads: torch's CPU threads (None: torch's default); InputError below 1."""
    if threads is None:
        return
    from tpt_live.errors import InputError

    if threads < 1:
        raise InputError(f"--threads {threads} must be 1 or more")
    import torch

    torch.set_num_threads(threads)
