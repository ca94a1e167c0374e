"""`tpt-live monitor`: options -> `MonitorRequest` -> `tpt_live.monitor.setup.open_session`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tpt_live.cli.common import interrupt_on_sigterm, quiet_logs
from tpt_live.monitor.alerts import AlertConfig
from tpt_live.monitor.evidence import EvidenceConfig
from tpt_live.monitor.movement import MovementConfig
from tpt_live.monitor.setup import MonitorRequest

_ALERTS = AlertConfig()  # option defaults come from the config classes


def monitor(
    src: Annotated[str, typer.Argument(help="Camera index or /dev/videoN, rtsp/http(s) URL, or a video file.")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Folder: events.jsonl, features.csv, summary.json, evidence/.")
    ] = str(MonitorRequest.out),
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Checkpoint, ONNX file, engine or shipped name (default: monitor)."),
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto, torch, onnxruntime or tensorrt.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    realtime: Annotated[bool, typer.Option("--realtime", help="Play a file as a live source (paced).")] = False,
    roi: Annotated[str | None, typer.Option("--roi", help="Region x,y,w,h in source pixels (also the crop).")] = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="Where the head points in the picture: up, right, down, left (turned upright), or auto; default: "
            "auto for models trained on located crops (the shipped one) without --roi, else up.",
        ),
    ] = MonitorRequest.head,
    refine: Annotated[
        int, typer.Option("--refine", help="Located crops: passes along the model's own axis, as track's (0: off).")
    ] = MonitorRequest.refine,
    look_again: Annotated[
        float, typer.Option("--look-again", help="The localiser's second look, as track's (0: one look).")
    ] = MonitorRequest.look_again,
    crib: Annotated[str | None, typer.Option("--crib", help="Region polygon JSON [[x, y], ...] in pixels.")] = None,
    serve: Annotated[str | None, typer.Option("--serve", help="Web view on HOST:PORT, e.g. 127.0.0.1:8765.")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Token for the web view (generated for non-loopback binds).")
    ] = None,
    notify: Annotated[list[str] | None, typer.Option("--notify", help="webhook:URL or cmd:PROGRAM (repeat).")] = None,
    no_infant_s: Annotated[
        float, typer.Option("--no-infant-s", help="Seconds without infant before alerting.")
    ] = _ALERTS.no_infant.threshold,
    no_movement_s: Annotated[
        float, typer.Option("--no-movement-s", help="Seconds of stillness.")
    ] = _ALERTS.no_movement.threshold,
    out_of_region_s: Annotated[
        float, typer.Option("--out-of-region-s", help="Seconds outside the region.")
    ] = _ALERTS.out_of_region.threshold,
    posture_s: Annotated[
        float, typer.Option("--posture-s", help="Seconds on the side or front.")
    ] = _ALERTS.posture.threshold,
    camera_lost_s: Annotated[
        float, typer.Option("--camera-lost-s", help="Seconds without frames.")
    ] = _ALERTS.camera_lost.threshold,
    confirm_s: Annotated[
        float, typer.Option("--confirm-s", help="Confirmation window of every alert.")
    ] = _ALERTS.no_infant.confirm,
    cooldown_s: Annotated[
        float, typer.Option("--cooldown-s", help="Cooldown of every alert.")
    ] = _ALERTS.no_infant.cooldown,
    moving_threshold: Annotated[
        float, typer.Option("--moving-threshold", help="Movement energy (trunk lengths/s) that counts as moving.")
    ] = MovementConfig.moving_threshold,
    window_s: Annotated[
        float, typer.Option("--window-s", help="Seconds per movement-feature row.")
    ] = MovementConfig.feature_window,
    retain_days: Annotated[
        float, typer.Option("--retain-days", help="Delete evidence older than this.")
    ] = EvidenceConfig.retain_days,
    retain_gb: Annotated[
        float, typer.Option("--retain-gb", help="Keep the evidence folder under this size.")
    ] = EvidenceConfig.retain_gb,
    presence: Annotated[
        str | None, typer.Option("--presence", help="Presence weights; default: the shipped file.")
    ] = None,
    presence_view: Annotated[
        str,
        typer.Option(
            "--presence-view",
            help="'both': the presence net judges the whole picture and, where it is at most half the picture, the"
            " pose model's window around the located baby, averaged (finds small babies); 'frame': the picture only.",
        ),
    ] = MonitorRequest.presence_view,
    presence_mirror: Annotated[
        bool,
        typer.Option(
            "--presence-mirror/--no-presence-mirror",
            help="The presence net also judges each view mirrored left-right, and the answers are averaged.",
        ),
    ] = MonitorRequest.presence_mirror,
    posture_net: Annotated[
        str,
        typer.Option(
            "--posture-net",
            help="Image posture classifier (`tpt-live train-posture`): a file (./off for one named off), 'shipped' "
            "(the shipped one where it reads the 2D model's window size) or 'off' (docs/MONITOR.md).",
        ),
    ] = str(MonitorRequest.posture_net),
    lifter: Annotated[
        str | None,
        typer.Option("--lifter", help="Lifter whose 3D torso gives the posture; default: the shipped posture lifter."),
    ] = None,
    handedness: Annotated[
        str,
        typer.Option(
            "--handedness",
            help="2D model run on the pose model's crops whose left/right says when the back is shown (prone); "
            "a file, a shipped model's name, or 'off' (docs/MONITOR.md).",
        ),
    ] = str(MonitorRequest.handedness),
    reconnect: Annotated[
        int, typer.Option("--reconnect", help="A live source may be away --reconnect x --timeout s before reopening.")
    ] = MonitorRequest.reconnect,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds an open or read of a camera or stream may block.")
    ] = MonitorRequest.timeout,
    camera_tilt: Annotated[
        str,
        typer.Option(
            "--camera-tilt",
            help="Degrees the camera is pitched from looking straight down at the mat (0 overhead, about 45 on a "
            "crib rail); 'auto' estimates it from the baby's torso (docs/MONITOR.md).",
        ),
    ] = "auto",
    posture_confidence: Annotated[
        float,
        typer.Option(
            "--posture-confidence",
            help="Report a posture only when its confidence (0-1) reaches this, else 'unknown'; lower: fewer"
            " unknowns and more wrong answers (measured in docs/MONITOR.md).",
        ),
    ] = MonitorRequest.posture_confidence,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="Read the web view token from this file (or $TPT_LIVE_TOKEN).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live panel (events still go to stdout).")] = False,
) -> None:
    """Live infant monitoring: presence, movement and posture alerts, evidence clips, features, web view.

    NOT A MEDICAL DEVICE. Exit codes: 0 done, 2 bad argument, 3 source, 4 model, 130 interrupted.
    """
    import json
    from pathlib import Path

    from rich.console import Console

    import engines
    from tpt_live.checkpoint import model_or_off
    from tpt_live.crop import parse_roi
    from tpt_live.monitor.posture import parse_tilt
    from tpt_live.monitor.setup import open_session
    from tpt_live.monitor.state import NOT_MEDICAL
    from tpt_live.monitor.webview import is_loopback, parse_bind

    interrupt_on_sigterm()
    quiet_logs(quiet)
    thresholds = {"no_infant": no_infant_s, "no_movement": no_movement_s, "out_of_region": out_of_region_s,
                  "posture": posture_s, "camera_lost": camera_lost_s}  # fmt: skip
    request = MonitorRequest(
        src=src, out=Path(out), model=model, backend=backend, device=device, pace=realtime,
        roi=parse_roi(roi) if roi else None, crib=Path(crib) if crib else None, head=head, refine=refine,
        look_again=look_again,
        serve=parse_bind(serve) if serve else None, token=token, notify=tuple(notify or ()),
        alerts=_ALERTS.tuned(thresholds, confirm_s, cooldown_s),
        movement=MovementConfig(moving_threshold=moving_threshold, feature_window=window_s),
        evidence=EvidenceConfig(retain_days=retain_days, retain_gb=retain_gb),
        presence=Path(presence) if presence else None, presence_view=presence_view,
        presence_mirror=presence_mirror, reconnect=reconnect,
        timeout=timeout,
        token_file=Path(token_file) if token_file else None, posture_net=model_or_off(posture_net),
        lifter=Path(lifter) if lifter else None, camera_tilt=parse_tilt(camera_tilt),
        handedness=model_or_off(handedness), posture_confidence=posture_confidence,
    )  # fmt: skip
    console = Console(stderr=True)
    panel = _MonitorPanel(console, quiet)
    session = open_session(request, engines.open_backend, lambda e: typer.echo(json.dumps(e)), panel.update)
    console.print(f"[bold red]{NOT_MEDICAL}[/bold red]")  # once the session opens, after its own checks
    with session:
        if session.url is not None and request.serve is not None:
            note = "" if is_loopback(request.serve[0]) else " (token required)"
            console.print(f"web view: {session.url}{note}")
        try:
            with panel:
                summary = session.run()
        except KeyboardInterrupt:
            session.close()
            typer.echo("interrupted: outputs finalised", err=True)
            sys.exit(130)
    console.print(f"summary: {request.out / 'summary.json'}: {json.dumps(summary.to_dict()['alerts'])} alerts")


class _MonitorPanel:
    """A rich live panel of the monitoring state on stderr, redrawn at most 4 times a second."""

    def __init__(self, console: object, quiet: bool) -> None:
        from rich.live import Live

        self._live = None if quiet else Live(console=console, auto_refresh=False)  # type: ignore[arg-type]
        self._shown = 0.0

    def __enter__(self) -> _MonitorPanel:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def update(self, state: dict) -> None:
        import time

        from rich.table import Table

        if self._live is None or time.monotonic() - self._shown < 0.25:
            return
        self._shown = time.monotonic()
        table = Table(title="tpt-live monitor (not a medical device)", show_header=False)
        for key, value in state.items():
            table.add_row(key, str(value))
        self._live.update(table, refresh=True)
