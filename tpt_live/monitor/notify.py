"""Where monitoring events go: a JSON-lines file, a callback (the CLI prints), webhooks and programs.

`--notify webhook:URL` POSTs the event as JSON (with the snapshot as base64 JPEG under `snapshot_jpeg`);
`--notify cmd:PROGRAM` runs PROGRAM with the event JSON on stdin and TPT_EVENT, TPT_KIND, TPT_SNAPSHOT in
its environment. Both run in background threads with a timeout, so a slow receiver never stalls the
stream; failures are logged, never raised.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpt_live.errors import InputError

log = logging.getLogger(__name__)
TIMEOUT = 15.0  # seconds per webhook call or program run


def parse_notify(spec: str) -> tuple[str, str]:
    """'webhook:URL' or 'cmd:PROGRAM' -> (kind, target); InputError otherwise."""
    kind, _, target = spec.partition(":")
    if kind not in ("webhook", "cmd") or not target:
        raise InputError(f"bad --notify {spec!r}: use webhook:http(s)://host/path or cmd:PROGRAM")
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise InputError(f"bad --notify {spec!r}: the webhook URL must start with http:// or https://")
    if kind == "cmd":
        words = shlex.split(target)
        if not words or shutil.which(words[0]) is None:  # found now, not when the first alert fires
            raise InputError(f"bad --notify {spec!r}: no program {words[0] if words else target!r} to run")
    return kind, target


def _post(url: str, event: dict[str, Any]) -> None:
    body = dict(event)
    snap = event.get("snapshot")
    if snap and Path(snap).is_file():
        body["snapshot_jpeg"] = base64.b64encode(Path(snap).read_bytes()).decode()
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - the user's own URL
        resp.read()


def _run(program: str, event: dict[str, Any]) -> None:
    env = {**os.environ, "TPT_EVENT": event.get("event", ""), "TPT_KIND": event.get("kind", ""),
           "TPT_SNAPSHOT": event.get("snapshot", "")}  # fmt: skip
    subprocess.run(shlex.split(program), input=json.dumps(event).encode(), env=env, timeout=TIMEOUT, check=True)


class EventSink:
    """Writes every event to `path` (JSON lines), calls `on_event`, and notifies each target of alerts."""

    def __init__(self, path: Path | None, notify: tuple[str, ...] = (), on_event: Callable[[dict], None] | None = None):
        self.targets = [parse_notify(s) for s in notify]
        self.on_event = on_event
        self._file = open(path, "a") if path is not None else None  # noqa: SIM115 - closed in close()
        self._threads: list[threading.Thread] = []

    def emit(self, event: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()
        if self.on_event is not None:
            self.on_event(event)
        if event.get("event") not in ("alert", "cleared"):
            return
        for kind, target in self.targets:
            thread = threading.Thread(target=self._deliver, args=(kind, target, event), daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _deliver(kind: str, target: str, event: dict[str, Any]) -> None:
        try:
            (_post if kind == "webhook" else _run)(target, event)
        except Exception as exc:  # noqa: BLE001 - a failed notification is logged, monitoring goes on
            log.error("notify %s:%s failed: %s", kind, target, exc)

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=TIMEOUT)
        if self._file is not None:
            self._file.close()
            self._file = None
