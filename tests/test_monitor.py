"""`tpt_live.monitor.session` on synthetic scenario clips played through the real tracker with ground-truth poses.

Frames come from `tpt_live.synth.scenarios` (64 x 64, 5 fps); a fake backend returns each frame's ground
truth keypoints, so movement and posture are exact while presence is the shipped CNN's own judgement.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from track_helpers import PARTS

from tpt_live.backend import Poses
from tpt_live.crop import CropBox, full_box
from tpt_live.errors import InputError, SourceError, SourceUnavailable
from tpt_live.monitor.alerts import AlertConfig, RuleConfig
from tpt_live.monitor.notify import EventSink
from tpt_live.monitor.posture import PostureConfig
from tpt_live.monitor.presence import load_presence
from tpt_live.monitor.session import Monitor, MonitorConfig
from tpt_live.skeleton import NUM_JOINTS
from tpt_live.synth import SynthConfig
from tpt_live.synth.scenarios import render_scenario
from tpt_live.track.overlay import Overlay
from tpt_live.track.pipeline import TrackConfig
from tpt_live.track.sources import Frame, SourceInfo, SourceSpec, VideoSource, resolve_sources

FPS = 5.0


class ClipSource:
    """A VideoSource stand-in: a rendered clip's frames with t = idx / FPS; raises SourceError after `drop_after`."""

    live = False

    def __init__(self, clip, drop_after: int | None = None) -> None:
        self.clip, self.drop_after = clip, drop_after
        self.consumed = threading.Event()  # set by the test once the monitor has seen the last frame before the drop
        self.spec = SourceSpec("clip://" + clip.name, "file", clip.name)
        self.info = SourceInfo(self.spec.uri, "file", 64, 64, FPS, "1/5", len(clip.frames), False)
        self.problems: list[str] = []

    def frames(self):
        for i, rgb in enumerate(self.clip.frames):
            if self.drop_after is not None and i == self.drop_after:
                self.consumed.wait(30.0)  # a real drop comes after the frames already delivered were shown
                raise SourceError(f"{self.spec.uri}: camera unplugged")
            yield Frame(i, i / FPS, "ok", net=rgb, box=full_box(64, 64), image=rgb[..., ::-1].copy(),
                        arrival=time.perf_counter())  # fmt: skip

    def close(self) -> None:
        pass


class GtBackend:
    """Returns the ground-truth keypoints of the clips' frames (looked up by the frame's pixels)."""

    name, precision, model_name, model_digest, input_size = "gt", "fp32", "gt", "0", 64
    template = None  # no part template: overlays draw the skeleton only
    framing = "frame"  # sees whole frames (no localiser unless asked)
    flip = False

    def __init__(self, *clips) -> None:
        self.kp = {
            im.tobytes(): np.array(f["kp2d"], np.float32)
            for c in clips
            for im, f in zip(c.frames, c.gt["frames"], strict=True)
        }

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        b = len(frames)
        kp = np.stack([self.kp[f.tobytes()] for f in frames])
        eye = np.tile(np.eye(2, 3, dtype=np.float32), (b, PARTS, 1, 1))
        return Poses(eye, kp, np.full((b, NUM_JOINTS), 0.9, np.float32))

    def close(self) -> None:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _clip(scenario: str, seconds: float, index: int = 0):
    cfg = SynthConfig(width=64, height=64, frames=int(seconds * FPS), fps=FPS, seed=21, index=index, pose="supine")
    return render_scenario(cfg, scenario)


def _run(
    tmp: Path, sources: list, backend: GtBackend, on_state=None, handedness=None, posture_net=None, **config
) -> tuple[Monitor, list[dict]]:
    events: list[dict] = []
    clock = FakeClock()
    queue = iter(sources)
    cfg = MonitorConfig(track=TrackConfig(batch=4), reopen_delay=8.0, **config)
    sink = EventSink(tmp / "events.jsonl", (), events.append)
    mon = Monitor(lambda: next(queue), backend, load_presence(), cfg, sink, tmp, overlay=Overlay(None, 64),
                  on_state=on_state, clock=clock, sleep=clock.sleep, handedness=handedness,
                  posture_net=posture_net)  # fmt: skip
    mon.run()
    return mon, events


@pytest.fixture(scope="module")
def still_run(tmp_path_factory):
    clip = _clip("still", 40.0)
    tmp = tmp_path_factory.mktemp("still")
    return clip, tmp, *_run(tmp, [ClipSource(clip)], GtBackend(clip))


def test_no_movement_fires_within_1s_after_20s_of_stillness(still_run) -> None:
    clip, _, _, events = still_run
    moving = [f["moving"] for f in clip.gt["frames"]]
    onset = moving.index(False, 5) / FPS  # the first still frame of the frozen stretch
    alerts = [e for e in events if e["event"] == "alert"]
    assert [e["kind"] for e in alerts] == ["no_movement"], events
    assert 20.0 <= alerts[0]["t"] - onset <= 21.0, (alerts[0], onset)


def test_outputs_evidence_and_summary(still_run) -> None:
    clip, tmp, mon, events = still_run
    lines = [json.loads(x) for x in (tmp / "events.jsonl").read_text().splitlines()]
    assert lines == events
    alert = next(e for e in events if e["event"] == "alert")
    assert Path(alert["snapshot"]).is_file() and Path(alert["clip"]).is_file()
    from tpt_live.videoio import read_video

    frames = list(read_video(alert["clip"]))
    end = min(alert["t"] + 15.0, (len(clip.frames) - 1) / FPS)  # 15 s after, or the end of the stream
    assert abs(len(frames) - ((end - alert["t"] + 5.0) * FPS + 1)) <= 2  # and 5 s before
    summary = json.loads((tmp / "summary.json").read_text())
    assert "not a medical device" in summary["notice"].lower()
    assert "tummy" in summary["notice"]  # the posture cue's blind spot is stated where the user reads
    assert summary["alerts"] == {"no_movement": 1} and summary["frames"] == len(clip.frames)
    assert summary["time_still"] > 20.0 and summary["time_active"] > 5.0
    assert summary["camera_tilt"] is None  # no 3D from this backend: the 2D posture cue, read without a tilt
    header, *rows = (tmp / "features.csv").read_text().splitlines()
    assert header.startswith("t_start,t_end,frames,present_fraction,activity,left_wrist_speed_median") and rows


def test_presence_sees_the_located_window_only(tmp_path, monkeypatch) -> None:
    """Presence's second view is the pose model's input where the tracker located the baby in a window at most half
    the searched picture's side, and nothing where it cut a fixed region (this fake backend sees whole frames) or
    the window is about as large as the picture: that would only show the same pixels again."""
    from tpt_live.localise import Location
    from tpt_live.monitor.presence import PresenceDetector
    from tpt_live.monitor.session import subject_window
    from tpt_live.track.pipeline import Result

    seen: list = []
    update = PresenceDetector.update

    def spy(self, rgb, t, subject=None):
        seen.append(subject)
        return update(self, rgb, t, subject)

    monkeypatch.setattr(PresenceDetector, "update", spy)
    clip = _clip("active", 2.0)
    _run(tmp_path, [ClipSource(clip)], GtBackend(clip))
    assert len(seen) == len(clip.frames) and all(s is None for s in seen)
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    frame, here = Frame(0, 0.0, "ok", image=image), Location(60, 50, 16, 0, 1)  # a window of 16 x 256 / 95 px
    refined = np.ones((128, 128, 3), np.uint8)  # the crop `refine` cut along the pose model's own keypoints
    located = Result(frame, model_input=refined, location=here, box=CropBox(0, 0, 60, 60))
    window = subject_window(located, 88.0, "auto", 128)  # the localiser's window, half the searched side
    assert window is not None and window.shape == (128, 128, 3) and not np.array_equal(window, refined)
    assert subject_window(located, 85.0, "auto", 128) is None  # less than twice the detail: the same pixels again
    fixed = Result(frame, model_input=refined, box=CropBox(0, 0, 40, 40))
    assert subject_window(fixed, 640.0, "up", 128) is None  # not located


def test_no_movement_never_fires_during_movement(tmp_path) -> None:
    clip = _clip("active", 40.0, index=1)
    _, events = _run(tmp_path, [ClipSource(clip)], GtBackend(clip))
    assert [e for e in events if e["event"] == "alert"] == []


def test_no_infant_fires_when_the_infant_leaves(tmp_path) -> None:
    clip = _clip("leave_return", 60.0)
    _, events = _run(tmp_path, [ClipSource(clip)], GtBackend(clip))
    present = [f["present"] for f in clip.gt["frames"]]
    left = present.index(False) / FPS
    kinds = [(e["event"], e["kind"]) for e in events]
    assert ("alert", "no_infant") in kinds and ("cleared", "no_infant") in kinds, events
    alert = next(e for e in events if e["kind"] == "no_infant")
    assert 10.0 <= alert["t"] - left <= 12.0


def test_camera_drop_reconnects_and_alerts_keep_working(tmp_path) -> None:
    first, second = _clip("active", 10.0, index=2), _clip("still", 40.0, index=3)
    sources = [ClipSource(first, drop_after=30), ClipSource(second)]

    def seen(state: dict) -> None:
        if state["frame"] == 29:
            sources[0].consumed.set()

    mon, events = _run(tmp_path, sources, GtBackend(first, second), seen, max_reopen=1)
    alerts = [e for e in events if e["event"] == "alert"]
    assert [e["kind"] for e in alerts] == ["camera_lost", "no_movement"], events
    lost = alerts[0]["onset"]  # the last frame before the drop
    assert lost == pytest.approx(29 / FPS) and alerts[0]["t"] == pytest.approx(lost + 5.0)  # at the threshold
    assert alerts[0]["message"] == "camera lost: no frame for 5.0 s"
    restored = [e for e in events if e["event"] == "restored"]
    assert len(restored) == 1 and restored[0]["kind"] == "camera_lost" and restored[0]["onset"] == pytest.approx(lost)
    assert restored[0]["duration"] == pytest.approx(8.0)  # the true outage: the 8 s the source was away
    assert alerts[1]["t"] > lost + 8.0  # stream time goes on across the drop (8 s away)
    assert mon.summary.camera_losses == 1 and mon.summary.frames == 30 + len(second.frames)


@pytest.mark.parametrize("content", [b"", b"not a video at all", "truncated"])
def test_unreadable_file_ends_the_session_at_once(tmp_path, content) -> None:
    """A file that cannot be read is not opened again (it cannot heal): SourceError, no waiting."""
    from track_helpers import write_video

    path = tmp_path / "bad.mp4"
    if content == "truncated":
        whole = write_video(tmp_path / "whole.mp4", 30, 64, 64).read_bytes()
        path.write_bytes(whole[: len(whole) // 3])  # the index (moov) is at the end: nothing opens
    else:
        path.write_bytes(content)
    spec = resolve_sources([str(path)])[0]
    clock = FakeClock()
    sink = EventSink(tmp_path / "events.jsonl", (), lambda e: None)
    mon = Monitor(lambda: VideoSource(spec, 64), GtBackend(), load_presence(), MonitorConfig(), sink, tmp_path,
                  clock=clock, sleep=clock.sleep)  # fmt: skip
    with pytest.raises(SourceError) as info:
        mon.run()
    assert not isinstance(info.value, SourceUnavailable) and clock.now == 0.0  # never waited to reopen
    assert (tmp_path / "summary.json").is_file()


def test_a_live_source_that_cannot_be_opened_is_tried_again(tmp_path) -> None:
    tries: list[float] = []
    clock = FakeClock()

    def refuse():
        tries.append(clock.now)
        raise SourceUnavailable("rtsp://cam/1: cannot open (connection refused)")

    sink = EventSink(tmp_path / "events.jsonl", (), lambda e: None)
    cfg = MonitorConfig(max_reopen=3)
    mon = Monitor(refuse, GtBackend(), load_presence(), cfg, sink, tmp_path, clock=clock, sleep=clock.sleep)
    with pytest.raises(SourceUnavailable):
        mon.run()
    assert tries == [0.0, 2.0, 4.0, 6.0]  # every reopen_delay (2 s), until max_reopen


def test_source_lost_for_good_raises(tmp_path) -> None:
    clip = _clip("active", 4.0)
    source = ClipSource(clip, drop_after=5)
    source.consumed.set()
    with pytest.raises(SourceError, match="unplugged"):
        _run(tmp_path, [source], GtBackend(clip), max_reopen=0)


def test_out_of_region_and_posture_alerts(tmp_path) -> None:
    clip = _clip("roll", 50.0, index=4)
    region = ((0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0))  # a corner the infant never lies in
    quick = RuleConfig(10.0, cooldown=600.0)
    alerts = AlertConfig(posture=quick, out_of_region=quick, no_movement=RuleConfig(600.0))
    _, events = _run(tmp_path, [ClipSource(clip)], GtBackend(clip), region=region, alerts=alerts)
    kinds = {e["kind"] for e in events if e["event"] == "alert"}
    assert kinds == {"out_of_region", "posture"}, events
    turned = next(i for i, f in enumerate(clip.gt["frames"]) if f["posture"] != "supine") / FPS
    posture_alert = next(e for e in events if e["kind"] == "posture")
    assert posture_alert["t"] >= turned + 10.0


class _ClosingBackend(GtBackend):
    closed = False

    def close(self) -> None:
        self.closed = True


class MirrorBackend(_ClosingBackend):
    """A handedness model that reads every body mirrored (its left on the picture's left: the back shown)."""

    model_digest = "mirror"

    def infer(self, frames: np.ndarray, lift: bool = True) -> Poses:
        poses = super().infer(frames, lift)
        poses.keypoints[..., 0] = 63.0 - poses.keypoints[..., 0]
        return poses


def test_the_handedness_model_on_the_pose_models_crops_decides_a_back_shown(tmp_path) -> None:
    """The second model sees exactly the crops the pose model saw; where its left/right shows the back, the
    posture is prone, while the pose model's own keypoints (here a supine body's) still drive everything else."""
    clip = _clip("still", 12.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    states: list[dict] = []
    _run(tmp_path / "a", [ClipSource(clip)], GtBackend(clip), on_state=states.append, handedness=MirrorBackend(clip))
    plain: list[dict] = []
    _run(tmp_path / "b", [ClipSource(clip)], GtBackend(clip), on_state=plain.append)
    said = [s["posture"] for s in states if s["present"]]
    assert said and said.count("prone") >= 0.8 * len(said), said
    assert "prone" not in [s["posture"] for s in plain] and [s["energy"] for s in plain] == [
        s["energy"] for s in states
    ]


class SurePostureNet:
    """An image posture classifier that says one class of `IMAGE_CLASSES` for sure, and keeps the windows it was
    shown."""

    def __init__(self, said: str = "prone") -> None:
        from tpt_live.monitor.posture import IMAGE_CLASSES

        self.windows: list[np.ndarray] = []
        self.p = np.eye(len(IMAGE_CLASSES))[IMAGE_CLASSES.index(said)]

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        self.windows.append(rgb.copy())
        return self.p


def test_the_image_posture_classifier_reads_the_pose_models_window(tmp_path) -> None:
    """The classifier sees the pose model's own input on every frame with the infant in view, and its vote
    moves the posture: a certain prone against the geometry's supine leaves no confident supine."""
    clip = _clip("still", 12.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    net = SurePostureNet("prone")
    states: list[dict] = []
    mon, _ = _run(tmp_path / "a", [ClipSource(clip)], GtBackend(clip), on_state=states.append, posture_net=net,
                  posture=PostureConfig(image_every=0.0))  # on every frame  # fmt: skip
    plain: list[dict] = []
    _run(tmp_path / "b", [ClipSource(clip)], GtBackend(clip), on_state=plain.append)
    present = [s for s in states if s["present"]]
    assert present and len(net.windows) == len(present)
    assert all(w.shape == (64, 64, 3) and w.dtype == np.uint8 for w in net.windows)
    frames = {im.tobytes() for im in clip.frames}  # 64 x 64 frames, framed whole: the window is the frame
    assert all(w.tobytes() in frames for w in net.windows)
    supine = [s["posture"] for s in plain if s["present"]].count("supine")
    assert supine >= 0.8 * len(present)
    assert [s["posture"] for s in present].count("supine") == 0
    # the window it reads is the located one the pose model saw, not the decoder's picture of the region
    window, picture = np.full((64, 64, 3), 7, np.uint8), np.zeros((64, 64, 3), np.uint8)
    result = SimpleNamespace(model_input=window, frame=SimpleNamespace(net=picture))
    assert mon._posture_image(result, 1e6).tolist() == [0.0, 0.0, 1.0, 0.0]  # type: ignore[arg-type]
    assert (net.windows[-1] == 7).all()
    none = SimpleNamespace(model_input=None, frame=result.frame)
    assert mon._posture_image(none, 2e6) is None  # type: ignore[arg-type]


def test_the_image_classifier_runs_every_image_every_seconds_and_frames_between_reuse_it(tmp_path) -> None:
    """At 5 fps with `image_every` 0.5 s the classifier runs on every third frame with the infant in view (0.6 s
    apart); the frames between fuse its last answer, so the posture still follows it."""
    clip = _clip("still", 12.0)
    net = SurePostureNet("sitting")
    states: list[dict] = []
    _run(tmp_path, [ClipSource(clip)], GtBackend(clip), on_state=states.append, posture_net=net,
         posture=PostureConfig(image_every=0.5))  # fmt: skip
    present = [s for s in states if s["present"]]
    assert present and present == states[-len(present) :]  # in view from some frame to the end
    assert len(net.windows) == len(range(0, len(present), 3))
    assert {s["posture"] for s in present} == {"unknown"}  # every frame, not only the third
    with pytest.raises(InputError, match="image_every"):
        PostureConfig(image_every=-1.0)


def test_the_classifiers_last_answer_is_forgotten_when_the_infant_leaves(tmp_path) -> None:
    """With `image_every` longer than the clip the classifier runs on the first frame of each stretch with the
    infant in view: once before the infant leaves and again when it is back, not once for the whole clip."""
    clip = _clip("leave_return", 60.0)
    net = SurePostureNet("sitting")
    states: list[dict] = []
    _run(tmp_path, [ClipSource(clip)], GtBackend(clip), on_state=states.append, posture_net=net,
         posture=PostureConfig(image_every=1000.0))  # fmt: skip
    present = [s["present"] for s in states]
    stretches = sum(1 for i, p in enumerate(present) if p and (i == 0 or not present[i - 1]))
    assert stretches >= 2 and len(net.windows) == stretches


def test_the_classifiers_last_answer_is_forgotten_across_a_camera_gap(tmp_path) -> None:
    """The camera drops for 8 s with the infant in view on both sides: with `image_every` longer than the session
    the classifier runs once on each source, not once for the whole session."""
    first, second = _clip("active", 10.0, index=2), _clip("still", 40.0, index=3)
    sources = [ClipSource(first, drop_after=30), ClipSource(second)]

    def seen(state: dict) -> None:
        states.append(state)
        if state["frame"] == 29:
            sources[0].consumed.set()

    states: list[dict] = []
    net = SurePostureNet("sitting")
    mon, _ = _run(tmp_path, sources, GtBackend(first, second), seen, max_reopen=1, posture_net=net,
                  posture=PostureConfig(image_every=1000.0))  # fmt: skip
    assert mon.summary.camera_losses == 1
    present = [s["present"] for s in states]
    stretches = sum(1 for i, p in enumerate(present) if p and (i == 0 or not present[i - 1]))
    assert stretches == 1 and all(present[29:31])  # in view across the drop: only the gap can clear the answer
    assert len(net.windows) == 2


def test_an_image_that_says_sitting_leaves_the_posture_unknown_where_the_head_is_up(tmp_path, monkeypatch) -> None:
    """Sitting up is none of the lying postures: a classifier sure of it turns the geometry's supine into no
    posture on every frame (unknown), and the session asks `head_up` of each frame's turn; where the head is not up
    in the picture the sitting vote is dropped and the geometry's supine stands."""
    from tpt_live.monitor import posture, session

    clip = _clip("still", 12.0)
    calls: list[tuple] = []

    def spy(cue, image, upright=True):
        out = posture.fuse(cue, image, upright)
        calls.append((cue, upright, out))
        return out

    monkeypatch.setattr(session, "fuse", spy)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    states: list[dict] = []
    net = SurePostureNet("sitting")
    every = PostureConfig(image_every=0.0)  # the classifier on every frame
    _run(tmp_path / "a", [ClipSource(clip)], GtBackend(clip), on_state=states.append, posture_net=net, posture=every)
    present = [s for s in states if s["present"]]
    assert present and len(net.windows) == len(present) and {s["posture"] for s in present} == {"unknown"}
    assert len(calls) == len(present) and all(up and out == (None, 0.0) for _, up, out in calls)  # turn 0: head up
    assert {cue[0] for cue, _, _ in calls} == {"supine"}  # what the geometry alone said
    calls.clear()
    monkeypatch.setattr(session, "head_up", lambda turn: False)
    states.clear()
    net = SurePostureNet("sitting")
    _run(tmp_path / "b", [ClipSource(clip)], GtBackend(clip), on_state=states.append, posture_net=net, posture=every)
    present = [s for s in states if s["present"]]
    assert calls and not any(up for _, up, _ in calls) and all(out == cue for cue, _, out in calls)
    assert [s["posture"] for s in present].count("supine") >= 0.8 * len(present)


def test_open_session_closes_the_backend_when_a_later_step_fails(tmp_path) -> None:
    from track_helpers import write_video

    from tpt_live.errors import InputError
    from tpt_live.monitor.setup import MonitorRequest, open_session

    clip = write_video(tmp_path / "clip.mp4", 2, 64, 64)  # a readable file: it is checked before the model loads
    blocked = tmp_path / "out"
    blocked.write_text("a file where the output folder should go")
    backend = _ClosingBackend()
    with pytest.raises(InputError, match="--out .*a file is in the way"):
        open_session(MonitorRequest(str(clip), out=blocked), lambda *a, **k: backend)
    assert backend.closed


def test_monitor_request_region_from_roi_and_exclusive_options(tmp_path) -> None:
    from tpt_live.crop import CropBox
    from tpt_live.errors import InputError
    from tpt_live.monitor.setup import MonitorRequest

    req = MonitorRequest("0", roi=CropBox(10, 20, 30, 40))
    assert req.region().tolist() == [[10, 20], [40, 20], [40, 60], [10, 60]]
    with pytest.raises(InputError):
        MonitorRequest("0", roi=CropBox(0, 0, 8, 8), crib=tmp_path / "crib.json")


def test_open_session_passes_the_tracking_options_and_the_posture_lifter(tmp_path) -> None:
    """`monitor --refine/--look-again` reach the tracker's config; the backend is asked for the shipped posture
    lifter (docs/MONITOR.md) unless `--lifter` names another."""
    from track_helpers import write_video

    from tpt_live.checkpoint import posture_lifter_path
    from tpt_live.monitor.setup import MonitorRequest, open_session

    clip = write_video(tmp_path / "clip.mp4", 2, 64, 64)
    asked: list[dict] = []

    def factory(*args, **kwargs):
        asked.append(kwargs)
        return GtBackend()

    req = MonitorRequest(str(clip), out=tmp_path / "o", refine=2, look_again=0.0, camera_tilt=30.0,
                         posture_confidence=0.3)  # fmt: skip
    session = open_session(req, factory)
    try:
        track = session.monitor.config.track
        assert (track.refine, track.look_again, track.locate_every) == (2, 0.0, 0.1)
        assert session.monitor.tilt.tilt == 30.0 and session.monitor.postures.config.min_confidence == 0.3
        assert session.monitor.presence.config.subject  # --presence-view both, the default
        assert session.monitor.presence.config.mirror  # --presence-mirror, the default
        assert asked[0]["lifter"] == posture_lifter_path()
    finally:
        session.close()
    other = tmp_path / "mine.safetensors"
    session = open_session(MonitorRequest(str(clip), out=tmp_path / "o2", lifter=other, handedness=None,
                                          presence_view="frame", presence_mirror=False), factory)  # fmt: skip
    session.close()
    assert not session.monitor.presence.config.subject and not session.monitor.presence.config.mirror
    assert asked[-1]["lifter"] == other


def test_open_session_refuses_a_posture_classifier_of_another_window_size(tmp_path, monkeypatch) -> None:
    """A classifier trained on 128-px windows beside a 64-px 2D model is a bad argument at start-up (exit 2),
    and the backend opened before the check is closed; the shipped one of that size is skipped instead, and
    runs beside a 2D model of its own size."""
    import torch
    from track_helpers import write_video

    from tpt_live.errors import InputError
    from tpt_live.monitor import posture_image
    from tpt_live.monitor.posture_image import PostureNet, save_posture
    from tpt_live.monitor.posture_net import WindowClassifier
    from tpt_live.monitor.setup import MonitorRequest, open_session

    torch.manual_seed(0)
    weights = save_posture(PostureNet(WindowClassifier(), 128), tmp_path / "p128.safetensors")
    clip = write_video(tmp_path / "clip.mp4", 2, 64, 64)
    backend = _ClosingBackend()
    with pytest.raises(InputError, match="p128.safetensors: it reads 128-px windows; the 2D model gives 64-px"):
        open_session(MonitorRequest(str(clip), out=tmp_path / "o", posture_net=str(weights)), lambda *a, **k: backend)
    assert backend.closed
    monkeypatch.setattr(posture_image, "default_posture_path", lambda: weights)
    with open_session(MonitorRequest(str(clip), out=tmp_path / "o"), lambda *a, **k: _ClosingBackend()) as session:
        assert session.monitor.posture_net is None  # the shipped 128-px file beside a 64-px model: skipped
    wide = _ClosingBackend()
    wide.input_size = 128
    with open_session(MonitorRequest(str(clip), out=tmp_path / "o"), lambda *a, **k: wide) as session:
        assert session.monitor.posture_net is not None and session.monitor.posture_net.input_size == 128
    with open_session(MonitorRequest(str(clip), out=tmp_path / "o", posture_net=None), lambda *a, **k: wide) as s:
        assert s.monitor.posture_net is None  # --posture-net off


def test_open_session_opens_the_handedness_model_only_where_it_can_share_the_crops(tmp_path) -> None:
    """The shipped handedness model runs beside a pose model with the same input; it is skipped beside one with
    another input (or the same file), and a handedness file that cannot share the crops is a clear InputError."""
    from track_helpers import write_video

    from tpt_live.errors import InputError, ModelError
    from tpt_live.monitor.setup import MonitorRequest, open_session

    clip = write_video(tmp_path / "clip.mp4", 2, 64, 64)
    opened: dict[str, GtBackend] = {}

    def factory(model=None, **kwargs):
        backend = MirrorBackend() if model == "handedness" else _ClosingBackend()
        if model == "small.safetensors":
            backend.input_size, backend.model_digest = 32, "small"
        opened[str(model)] = backend
        return backend

    with open_session(MonitorRequest(str(clip), out=tmp_path / "o"), factory) as session:
        assert session.monitor.handedness is opened["handedness"]
    assert set(opened) == {"monitor", "handedness"}  # without --model: the shipped monitor model, not track's default
    assert opened["handedness"].closed
    with open_session(MonitorRequest(str(clip), out=tmp_path / "o", handedness=None), factory) as session:
        assert session.monitor.handedness is None
    with open_session(MonitorRequest(str(clip), out=tmp_path / "o", model="handedness"), factory) as session:
        assert session.monitor.handedness is None  # the pose model itself: its own keypoints give the handedness

    def no_engine(model=None, **kwargs):
        if model == "handedness":
            raise ModelError("no TensorRT engine for handedness.safetensors")
        return factory(model, **kwargs)

    with open_session(MonitorRequest(str(clip), out=tmp_path / "o"), no_engine) as session:
        assert session.monitor.handedness is None  # the shipped one that cannot open: the monitor runs without it
    with pytest.raises(InputError, match="--handedness small.safetensors: it takes 32-px"):
        open_session(MonitorRequest(str(clip), out=tmp_path / "o", handedness="small.safetensors"), factory)
    assert opened["monitor"].closed and opened["small.safetensors"].closed
