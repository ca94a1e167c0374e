"""Live infant monitoring on top of the tracker: presence, movement, posture, region, alerts, evidence.

Per frame, after the tracking pipeline (`tpt_live.track.pipeline.Tracker`: decode -> crop -> infer -> lift ->
smooth), the monitor runs named steps: presence -> movement -> posture -> region -> alerts -> evidence ->
features -> publish. Every time is stream time (frame timestamps, seconds; a reopened source continues
where the last one stopped plus the time it was away), so a file replayed gives the same alerts. When
a live source is lost (the decoder gave up reconnecting, or it cannot be opened) the monitor waits and
opens it again, forever, raising `camera_lost` once no frame came for its threshold and `restored` (with
the outage's true length) when frames come back. A file that cannot be read, or gives no frame, ends the
session with `SourceError` at once. Points are source pixels (x = col, y = row, pixel centres at integers).

Not a medical device: see docs/MONITOR.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tpt_live.backend import PoseBackend
from tpt_live.errors import InputError, SourceError, SourceUnavailable
from tpt_live.localise import located_box, located_input
from tpt_live.monitor.alerts import AlertConfig, AlertEngine
from tpt_live.monitor.evidence import EvidenceConfig, EvidenceRecorder
from tpt_live.monitor.movement import FeatureWriter, MovementConfig, MovementMeter
from tpt_live.monitor.notify import EventSink
from tpt_live.monitor.posture import (
    UNKNOWN,
    MatTilt,
    PostureConfig,
    PostureVote,
    TorsoMean,
    fuse,
    head_up,
    posture_with_margin,
    signed_width_2d,
)
from tpt_live.monitor.presence import WINDOW_ZOOM, PresenceConfig, PresenceDetector, PresenceEnsemble
from tpt_live.monitor.state import NOT_MEDICAL, LiveState
from tpt_live.track.pipeline import Result, TrackConfig, Tracker
from tpt_live.track.sources import VideoSource

log = logging.getLogger(__name__)
POSTURE_HOLD = 2.0  # seconds a new posture must hold to count as a posture change
ABSENCE_RESET = 1.0  # seconds of absence after which the stillness timer starts over


def load_polygon(path: Path) -> np.ndarray:
    """A crib polygon file -> (N, 2) float32 source pixels. The file holds [[x, y], ...] or {"polygon": [...]}."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"--crib {path}: cannot read a JSON polygon ({exc})") from None
    try:
        pts = np.asarray(data.get("polygon") if isinstance(data, dict) else data, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"--crib {path}: expected at least 3 [x, y] points in source pixels (numbers)") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise InputError(f"--crib {path}: expected at least 3 [x, y] points in source pixels, got shape {pts.shape}")
    return pts


@dataclass(frozen=True)
class MonitorConfig:
    track: TrackConfig = field(default_factory=TrackConfig)  # crop (roi) and smoothing of the tracker
    region: tuple[tuple[float, float], ...] | None = None  # crib polygon, source pixels; None: no region alert
    alerts: AlertConfig = field(default_factory=AlertConfig)  # thresholds, confirmation, cooldowns
    movement: MovementConfig = field(default_factory=MovementConfig)  # energy and feature windows
    presence: PresenceConfig = field(default_factory=PresenceConfig)  # averaging, threshold, hysteresis
    posture: PostureConfig = field(default_factory=PostureConfig)  # vote window, minimum confidence
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)  # clip span and retention
    reopen_delay: float = 2.0  # wall seconds between attempts to open a lost source again
    max_reopen: int | None = None  # attempts after a loss (None: forever for live sources, 0 for files)

    def __post_init__(self) -> None:
        if self.track.follow:
            raise InputError("monitor uses a fixed crop (--roi or the full frame), not --follow")
        if self.region is not None and len(self.region) < 3:
            raise InputError("the region needs at least 3 points")


@dataclass
class Summary:
    """Session figures (seconds of stream time), written as summary.json."""

    frames: int = 0
    t_start: float | None = None
    t_end: float | None = None
    time_present: float = 0.0
    time_absent: float = 0.0
    time_still: float = 0.0
    time_active: float = 0.0
    posture_time: dict[str, float] = field(
        default_factory=lambda: {"supine": 0.0, "side": 0.0, "prone": 0.0, UNKNOWN: 0.0}
    )
    posture_changes: int = 0
    camera_tilt: float | None = None  # degrees from straight down the posture cue read the last torso against
    alerts: dict[str, int] = field(default_factory=dict)
    camera_losses: int = 0
    clips: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        d["posture_time"] = {k: round(v, 3) for k, v in self.posture_time.items()}
        return {"notice": NOT_MEDICAL, **d}


def _hud(state: dict[str, Any]) -> str:
    if not state["present"]:
        return f"t={state['t']:.1f}s  NO INFANT  p={state['presence']:.2f}"
    energy = state["energy"]
    return f"t={state['t']:.1f}s  {state['posture'] or '?'}  energy={energy if energy is None else round(energy, 2)}"


def subject_window(r: Result, searched: float, head: str, size: int) -> np.ndarray | None:
    """The localiser's window where the tracker located the baby and that window shows the body at least
    `WINDOW_ZOOM` times the scale of the searched picture (`searched`: the longer side, source pixels, of the frame
    or the `--roi`): presence's second view, `PresenceConfig.subject`. None otherwise: a fixed region (`--head`, a
    model that sees whole frames) or a window about as large as the picture shows the presence net only the same
    pixels again, resampled. It is the localiser's own crop (`localise.located_input` at `r.location`, the tracker's
    resolved `head`, S = `size`), not the one `refine` cut along the pose model's keypoints: on an empty region
    those keypoints frame whatever the pose model took for a body (docs/MONITOR.md)."""
    if r.location is None or r.frame.image is None:  # not located
        return None
    if located_box(r.location, head, size).w * WINDOW_ZOOM > searched:  # measured before anything is cut
        return None
    return located_input(r.frame.image, r.location, head, size)[0]


class Monitor:
    """One monitoring session over a source that may be lost and reopened. `run()` returns the summary."""

    def __init__(
        self,
        open_source: Callable[[], VideoSource],
        backend: PoseBackend,
        presence: PresenceEnsemble,
        config: MonitorConfig,
        sink: EventSink,
        out_dir: Path | None = None,
        live: LiveState | None = None,
        overlay: Any = None,
        on_state: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        posture_net: Any = None,
        handedness: PoseBackend | None = None,
    ) -> None:
        self.open_source, self.backend, self.config = open_source, backend, config
        self.sink, self.live, self.overlay, self.on_state = sink, live, overlay, on_state
        self.clock, self.sleep = clock, sleep
        self.presence = PresenceDetector(presence, config.presence)
        self.postures = PostureVote(config.posture)
        self.torso = TorsoMean(config.posture)
        self.tilt = MatTilt(config.posture)
        self.posture_net = posture_net  # tpt_live.monitor.posture_image.PostureEnsemble or None (geometry only)
        self._image: tuple[float, np.ndarray] | None = None  # the classifier's last (stream time, probabilities)
        # a second 2D model on the same crops: it relabels a prone baby's left and right in the tracker
        # (`track.handedness`) and, read on every frame, says when a back is shown (the posture cue)
        self.handedness = handedness
        self.meter = MovementMeter(config.movement)
        self.engine = AlertEngine(config.alerts)
        self.evidence = EvidenceRecorder(out_dir / "evidence" if out_dir else None, config.evidence)
        self.features = FeatureWriter(out_dir / "features.csv" if out_dir else None, config.movement)
        self.out_dir = out_dir
        self.summary = Summary()
        self.state: dict[str, Any] = {}
        self._region = np.asarray(config.region, np.float32) if config.region else None
        self._head = config.track.resolved(backend.framing).head or "up"  # as the Tracker resolves it: "auto" locates
        self._offset = 0.0  # stream time of the current source's t = 0
        self._last_t: float | None = None
        self._last_wall = 0.0
        self._posture = (None, None, 0.0)  # (current, candidate, candidate since)
        self._present_t = float("-inf")  # stream time of the last frame with the infant in view
        self._stopped = False

    # -- session ------------------------------------------------------------------------------------
    def run(self) -> Summary:
        losses = 0
        try:
            while not self._stopped:
                try:
                    source = self.open_source()
                except SourceError as exc:  # a file cannot heal; a camera or stream may come back
                    if not self._lost(exc, isinstance(exc, SourceUnavailable), losses):
                        raise
                    losses += 1
                    continue
                if self._last_t is not None:  # a reopened source: its clock restarts at 0
                    self._offset = self._last_t + max(self.clock() - self._last_wall, 0.0)
                try:
                    seen = self._track(source)
                except SourceError as exc:
                    if not self._lost(exc, source.live, losses):
                        raise
                    losses += 1
                    continue
                for problem in source.problems:
                    log.warning("%s", problem)
                if not seen and source.problems and not source.spec.live:
                    raise SourceError(source.problems[0])
                if not source.spec.live or self._stopped:  # a file (also one played --realtime) is done
                    break
                self._lost(SourceError(f"{source.spec.uri}: the stream ended"), True, losses)
                losses += 1
        finally:
            self.close()
        return self.summary

    def _lost(self, exc: SourceError, live: bool, losses: int) -> bool:
        """Log the loss, raise camera_lost, wait; False when the source should not be opened again."""
        limit = self.config.max_reopen if self.config.max_reopen is not None else (None if live else 0)
        if self._stopped or (limit is not None and losses >= limit):
            return False
        log.warning("%s; opening it again in %.0f s", exc, self.config.reopen_delay)
        delay = self.config.reopen_delay
        if self._last_t is not None:  # wait, raising camera_lost as soon as no frame came for its threshold
            first = min(delay, max(self.config.alerts.camera_lost.threshold - (self.clock() - self._last_wall), 0.0))
            self.sleep(first)
            delay -= first
            away = self.clock() - self._last_wall
            self._events(self.engine.camera_gap(self._last_t, self._last_t + away), None)
        self.sleep(delay)
        return True

    def _track(self, source: VideoSource) -> int:
        """Monitor every frame of one opened source; returns the number of frames tracked."""
        config = replace(self.config.track, keep_images=True)  # presence's window is cut from the frame
        tracker = Tracker(source, self.backend, config, self.handedness)
        results = tracker.results()
        seen = 0
        try:
            for r in results:
                if self._stopped:
                    tracker.stop()
                if r.frame.status == "ok" and r.kp2d is not None:
                    self.step(r)
                    seen += 1
        finally:
            results.close()
        return seen

    def stop(self) -> None:
        self._stopped = True

    # -- one frame ----------------------------------------------------------------------------------
    def _handed(self, r: Result) -> float | None:
        """The handedness model's signed width of the torso in the crop the pose model saw (None without it).
        A turned, scaled crop keeps the sign and the value: the signed width is a ratio of image-plane areas."""
        if self.handedness is None or r.model_input is None:
            return None
        return signed_width_2d(self.handedness.infer(r.model_input[None]).keypoints[0])

    def _posture_image(self, r: Result, t: float) -> np.ndarray | None:
        """P(supine, side, prone, sitting) of the image classifier on the pose model's window at stream time `t`;
        None without one. It runs at most every `PostureConfig.image_every` seconds; frames between get its last
        answer (forgotten with the posture votes)."""
        if self.posture_net is None or r.model_input is None:
            return None
        last = self._image
        if last is not None and 0.0 <= t - last[0] < self.config.posture.image_every - 1e-6:
            return last[1]
        probabilities: np.ndarray = self.posture_net.probabilities(r.model_input)
        self._image = (t, probabilities)
        return probabilities

    def step(self, r: Result) -> dict[str, Any]:
        """Presence -> movement -> posture -> region -> alerts -> evidence -> features -> publish."""
        assert r.kp2d is not None and r.frame.net is not None  # ok frames of a fixed crop carry both
        t = self._offset + r.frame.t
        self._camera(t)
        window = subject_window(r, self._searched(r), self._head, self.backend.input_size)
        p_raw, p_avg = self.presence.update(r.frame.net, t, window)
        present = self.presence.present(p_avg)
        energy = self.meter.update(r.kp2d, t) if present else None
        if not present:
            self.meter.reset()
        moving = energy is not None and energy >= self.config.movement.moving_threshold
        pose, pose_conf, tilt = None, None, None
        if present:
            image = self._posture_image(r, t)
            tilt = self.tilt.update(t, r.kp3d) if r.kp3d is not None else None
            torso = self.torso.update(t, r.kp3d)
            cue = posture_with_margin(r.kp2d, r.kp3d, tilt or 0.0, self._handed(r), torso)
            pose, pose_conf = self.postures.update(t, *fuse(cue, image, head_up(r.turn)))
            self.summary.camera_tilt = tilt
        else:
            self.postures.reset()
            self._image = None
            self.torso.reset()
        inside = self._inside(r.kp2d) if present else None
        conditions = {"no_infant": not present, "posture": present and pose in ("side", "prone")}
        if energy is not None:
            conditions["no_movement"] = not moving
        elif not present and t - self._present_t >= ABSENCE_RESET:  # gone for good: stillness starts over
            conditions["no_movement"] = False
        if present:
            self._present_t = t
        if inside is not None:
            conditions["out_of_region"] = not inside
        state = {"t": round(t, 3), "present": present, "presence": round(p_avg, 3), "presence_raw": round(p_raw, 3),
                 "energy": None if energy is None else round(energy, 4), "moving": moving, "posture": pose,
                 "posture_confidence": pose_conf, "camera_tilt": None if tilt is None else round(tilt, 1),
                 "in_region": inside, "frame": r.frame.idx}  # fmt: skip
        image = self._draw(r, state)
        self._events(self.engine.update(t, conditions), image)
        jpeg = self.evidence.add(t, image) if image is not None else None
        self.features.add(t, r.kp2d, present, moving, self.meter.trunk)
        self._account(t, state)
        self.state = state
        if self.live is not None:
            self.live.publish(jpeg, state)
        if self.on_state is not None:
            self.on_state(state)
        return state

    def _camera(self, t: float) -> None:
        """A jump in stream time longer than the camera_lost threshold is a lost camera; start over after it."""
        if self._last_t is not None and t - self._last_t >= self.config.alerts.camera_lost.threshold:
            self.summary.camera_losses += 1
            self._events(self.engine.camera_gap(self._last_t, t) + self.engine.camera_restored(t), None)
            self.engine.reset_episodes()
            self.meter.reset()
            self.presence.reset()
            self.postures.reset()
            self._image = None
        self._last_t, self._last_wall = t, self.clock()

    def _searched(self, r: Result) -> float:
        """The longer side (source pixels) of what the tracker searches: the `--roi` box, else the frame."""
        roi = self.config.track.roi
        if roi is not None:
            return float(max(roi.w, roi.h))
        return float(max(r.frame.image.shape[:2])) if r.frame.image is not None else 0.0

    def _inside(self, kp2d: np.ndarray) -> bool | None:
        """Most keypoints (source pixels) inside the region; None without a region."""
        if self._region is None:
            return None
        poly = self._region.reshape(-1, 1, 2)
        hits = [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in kp2d[:, :2]]
        return bool(np.mean(hits) >= 0.5)

    def _draw(self, r: Result, state: dict[str, Any]) -> np.ndarray | None:
        image = r.frame.image
        if image is None:
            return None
        image = image.copy()
        if self._region is not None:
            cv2.polylines(image, [self._region.astype(np.int32).reshape(-1, 1, 2)], True, (0, 200, 255), 1)
        shown = r if state["present"] else Result(r.frame)  # no skeleton when nobody is there
        if self.overlay is not None:
            self.overlay.draw(image, shown, _hud(state))
        return image

    def _events(self, alerts: list, image: np.ndarray | None) -> None:
        for alert in alerts:
            if alert.event == "alert":
                alert.extra.update(self.evidence.alert(alert.t, alert.kind, image))
                self.summary.alerts[alert.kind] = self.summary.alerts.get(alert.kind, 0) + 1
                if "clip" in alert.extra and alert.extra["clip"] not in self.summary.clips:
                    self.summary.clips.append(alert.extra["clip"])
            event = alert.to_dict()
            if self.live is not None:
                self.live.add_event(event)
            self.sink.emit(event)

    def _account(self, t: float, state: dict[str, Any]) -> None:
        s = self.summary
        prev = s.t_end
        s.frames += 1
        s.t_start = t if s.t_start is None else s.t_start
        s.t_end = t
        dt = 0.0 if prev is None or t - prev >= self.config.alerts.camera_lost.threshold else t - prev
        if not state["present"]:
            s.time_absent += dt
            return
        s.time_present += dt
        if state["energy"] is not None:
            if state["moving"]:
                s.time_active += dt
            else:
                s.time_still += dt
        pose = state["posture"]
        if pose in s.posture_time:
            s.posture_time[pose] += dt
        if pose == UNKNOWN:  # not a posture change either way
            return
        current, candidate, since = self._posture
        if pose != candidate:
            candidate, since = pose, t
        if candidate is not None and candidate != current and t - since >= POSTURE_HOLD:
            s.posture_changes += current is not None
            current = candidate
        self._posture = (current, candidate, since)

    def close(self) -> None:
        self.evidence.close()
        self.features.close(self.summary.t_end)
        self.sink.close()
        self.summary.clips = [c for c in self.summary.clips if Path(c).is_file()]
        if self.out_dir is not None:
            (self.out_dir / "summary.json").write_text(json.dumps(self.summary.to_dict(), indent=1) + "\n")
