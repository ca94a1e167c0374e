"""Assemble a monitoring session from a request: source, backend, presence net, region, alerts, web view.

`open_session` opens everything in order and, if any step fails, closes what it had opened (backend,
web view) before the error propagates; `Session.close` closes the rest. The CLI only parses options into
a `MonitorRequest` and runs the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tpt_live.backend import PoseBackend
from tpt_live.checkpoint import MONITOR_MODEL, posture_lifter_path
from tpt_live.crop import CropBox, check_roi, square_box
from tpt_live.errors import InputError
from tpt_live.monitor.alerts import AlertConfig
from tpt_live.monitor.evidence import EvidenceConfig
from tpt_live.monitor.movement import MovementConfig
from tpt_live.monitor.notify import EventSink, parse_notify
from tpt_live.monitor.posture import PostureConfig
from tpt_live.monitor.posture_image import SHIPPED_POSTURE, open_posture
from tpt_live.monitor.presence import PRESENCE_VIEWS, PresenceConfig, load_presence
from tpt_live.monitor.session import Monitor, MonitorConfig, Summary, load_polygon
from tpt_live.monitor.state import LiveState
from tpt_live.track.handedness import SHIPPED_HANDEDNESS, open_handedness
from tpt_live.track.outputs import ensure_folder
from tpt_live.track.overlay import Overlay
from tpt_live.track.pipeline import TrackConfig
from tpt_live.track.sources import ReconnectPolicy, VideoSource, first_turns, open_container, resolve_sources

log = logging.getLogger(__name__)

BackendFactory = Callable[..., PoseBackend]  # open_backend(model, backend=, device=[, lifter=])


@dataclass(frozen=True)
class MonitorRequest:
    src: str  # camera index, /dev/videoN, URL or video file
    out: Path = Path("monitor_out")  # events.jsonl, features.csv, summary.json, evidence/
    model: str | None = None  # pose model file or shipped name; None: the shipped monitor model (MONITOR_MODEL)
    backend: str = "auto"  # auto | torch | onnxruntime | tensorrt
    device: str = "auto"  # auto | cpu | cuda
    pace: bool = False  # play a file as a live source would (real time)
    roi: CropBox | None = None  # region (and crop), source pixels
    crib: Path | None = None  # region polygon file ([[x, y], ...] source pixels)
    head: str | None = TrackConfig.head  # where the head points in the picture (None: the model's framing decides)
    # refinement passes of located crops (`track --refine`): track's 1 since stop 37 (with the torso averaged over
    # the window, the refined crops read real and synthetic postures more surely; docs/MONITOR.md); seconds between
    # localiser runs: 0.1 s here, not track's 0.2 s, as the posture cue reads real supine babies less surely with it
    refine: int = TrackConfig.refine
    locate_every: float = 0.1
    look_again: float = TrackConfig.look_again  # the localiser's second look, as track's (docs/LOCALISE.md)
    serve: tuple[str, int] | None = None  # web view bind (host, port)
    token: str | None = None  # web view token; None: token_file, $TPT_LIVE_TOKEN, or generated (non-loopback)
    token_file: Path | None = None  # a file whose first line is the web view token (not shown by `ps`)
    notify: tuple[str, ...] = ()  # webhook:URL or cmd:PROGRAM targets
    alerts: AlertConfig = field(default_factory=AlertConfig)  # thresholds, confirmation, cooldowns
    movement: MovementConfig = field(default_factory=MovementConfig)  # moving threshold, feature window
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)  # clip span, retention
    presence: Path | None = None  # presence weights; None: the shipped file
    presence_view: str = "both"  # "both": the picture and the pose model's located window; "frame": the picture
    presence_mirror: bool = PresenceConfig.mirror  # presence also judges each view mirrored left-right
    # image posture classifier: a file, SHIPPED_POSTURE (the shipped file, skipped where it is absent or reads
    # windows of another size than the 2D model's), or None for none
    posture_net: str | None = SHIPPED_POSTURE
    # lifter whose 3D torso the posture cue reads; None: the shipped posture lifter (`checkpoint.posture_lifter_path`)
    lifter: Path | None = None
    # a second 2D model, run on the pose model's crops, whose left/right says when a back is shown (prone): a file,
    # a shipped model's name, or None for none; the shipped one is skipped where it is absent or cannot share crops
    handedness: str | None = SHIPPED_HANDEDNESS
    camera_tilt: float | None = None  # degrees the camera is pitched from straight down; None: estimated
    posture_confidence: float = PostureConfig.min_confidence  # below it the posture is reported "unknown"
    reconnect: int = 3  # a live source rides out reconnect x timeout seconds before it is reopened
    timeout: float = 10.0  # seconds an open or read of a live source may block

    def __post_init__(self) -> None:
        ReconnectPolicy(self.reconnect, self.timeout)  # InputError for a bad --reconnect or --timeout
        PostureConfig(min_confidence=self.posture_confidence)  # InputError out of [0, 1]
        if self.presence_view not in PRESENCE_VIEWS:
            raise InputError(f"bad --presence-view '{self.presence_view}': use one of {', '.join(PRESENCE_VIEWS)}")
        if self.roi is not None and self.crib is not None:
            raise InputError("pass --roi or --crib, not both")
        if self.token_file is not None and self.serve is None:
            raise InputError("--token-file is the web view's token: it needs --serve")
        for target in self.notify:
            parse_notify(target)

    def region(self) -> np.ndarray | None:
        """The region polygon, (N, 2) float32 source pixels, or None."""
        if self.crib is not None:
            return load_polygon(self.crib)
        if self.roi is not None:
            b = self.roi
            return np.array([[b.x, b.y], [b.x + b.w, b.y], [b.x + b.w, b.y + b.h], [b.x, b.y + b.h]], np.float32)
        return None


@dataclass
class Session:
    """An opened monitoring session: `run()` until the source ends or Ctrl-C, then `close()`."""

    monitor: Monitor
    backend: PoseBackend
    web: Any = None  # the WebView, when serving
    url: str | None = None  # the web view's address (with the token where one is needed)
    handedness: PoseBackend | None = None  # the handedness model, when one runs
    closed: bool = False  # set by close()

    def run(self) -> Summary:
        return self.monitor.run()

    def close(self) -> None:
        """Finalise the outputs, stop the web view and drop the backend; a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            self.monitor.close()
        finally:
            _close_quietly(self.web, self.handedness, self.backend)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(*things: Any) -> None:
    for thing in things:
        if thing is not None:
            thing.close()


def _check_regions(req: MonitorRequest, crib: np.ndarray | None, width: int, height: int) -> None:
    """`--roi` and the `--crib` polygon (loaded once, `req.region()`) must meet a width x height frame."""
    if req.roi is not None:
        check_roi(req.roi, width, height)
    if crib is not None and not _overlaps(crib, width, height):
        raise InputError(f"--crib {req.crib}: the polygon lies outside the frame")


def open_session(
    req: MonitorRequest,
    open_backend: BackendFactory,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_state: Callable[[dict[str, Any]], None] | None = None,
) -> Session:
    """Open the source spec, presence net, backend and web view for `req`; raises TptError on bad input."""
    from tpt_live.monitor.webview import WebView, resolve_token

    specs = resolve_sources([req.src])
    if len(specs) != 1:
        raise InputError(f"monitor watches one source; {req.src!r} gives {len(specs)}")
    spec = specs[0]
    size = None
    if spec.kind == "file":  # an unreadable file, or a region outside its frame, fails before any model is loaded
        with open_container(spec, req.timeout) as container:
            video = container.streams.video
            if video and video[0].codec_context.width and video[0].codec_context.height:
                size = video[0].codec_context.width, video[0].codec_context.height
                if first_turns(spec, req.timeout) % 2:  # a portrait phone clip stored landscape: regions as shown
                    size = size[::-1]
    polygon = req.region()
    crib = polygon if req.crib is not None else None
    if size is not None:
        _check_regions(req, crib, *size)
    config = MonitorConfig(
        track=TrackConfig(
            roi=square_box(req.roi) if req.roi else None,
            head=req.head,
            refine=req.refine,
            locate_every=req.locate_every,
            look_again=req.look_again,
        ),
        region=tuple(map(tuple, polygon.tolist())) if polygon is not None else None,
        alerts=req.alerts,
        movement=req.movement,
        evidence=req.evidence,
        posture=PostureConfig(camera_tilt=req.camera_tilt, min_confidence=req.posture_confidence),
        presence=PresenceConfig(subject=req.presence_view == "both", mirror=req.presence_mirror),
    )
    net = load_presence(req.presence)
    lifter = req.lifter or posture_lifter_path()
    lifted = {"lifter": lifter} if lifter.is_file() or req.lifter else {}
    model = req.model if req.model is not None else MONITOR_MODEL
    backend = open_backend(model, backend=req.backend, device=req.device, **lifted)
    web, handedness = None, None
    try:
        posture_net = open_posture(req.posture_net, backend.input_size)
        handedness = open_handedness(req.handedness, open_backend, backend, backend=req.backend, device=req.device)

        def open_source() -> VideoSource:
            source = VideoSource(
                spec, backend.input_size, config.track.roi, True, True, req.reconnect, req.pace, req.timeout
            )  # fmt: skip
            _check_regions(req, crib, source.info.width, source.info.height)
            return source

        live = LiveState() if req.serve else None
        if req.serve is not None and live is not None:
            host, port = req.serve
            web = WebView(live, host, port, resolve_token(host, req.token, req.token_file))
        ensure_folder(req.out, "--out")
        sink = EventSink(req.out / "events.jsonl", req.notify, on_event)
        overlay = Overlay(backend.template, backend.input_size)
        monitor = Monitor(open_source, backend, net, config, sink, req.out, live, overlay, on_state,
                          posture_net=posture_net, handedness=handedness)  # fmt: skip
    except BaseException:
        _close_quietly(web, handedness, backend)
        raise
    return Session(monitor, backend, web, web.url if web is not None else None, handedness=handedness)


def _overlaps(polygon: np.ndarray, width: int, height: int) -> bool:
    """Whether the polygon's bounding box meets the frame (source pixels)."""
    lo, hi = polygon.min(0), polygon.max(0)
    return bool(hi[0] >= 0 and hi[1] >= 0 and lo[0] < width and lo[1] < height)
