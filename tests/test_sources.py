"""Sources: resolution of command-line arguments, decoding, decode errors, truncation, reconnects."""

from __future__ import annotations

import sys
import threading
import time
from fractions import Fraction
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from track_helpers import write_video

from tpt_live.crop import CropBox
from tpt_live.errors import InputError, SourceError, SourceUnavailable
from tpt_live.track import sources
from tpt_live.track.sources import ReconnectPolicy, SourceSpec, VideoSource, resolve_sources


def test_resolve_kinds(tmp_path):
    a = write_video(tmp_path / "a.mp4", 3)
    (tmp_path / "b.mkv").write_bytes(a.read_bytes())
    specs = resolve_sources([str(tmp_path), "rtsp://cam.local:554/live", str(tmp_path / "*.mp4")])
    assert [(s.kind, s.name.split("_")[0]) for s in specs] == [
        ("file", "a"),
        ("file", "b"),
        ("stream", "cam.local"),
        ("file", "a"),
    ]
    assert len({s.name for s in specs}) == 4  # same stem twice: names kept apart
    if sys.platform.startswith("linux"):
        assert resolve_sources(["0"])[0] == SourceSpec("/dev/video0", "camera", "camera0")


def test_resolve_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        resolve_sources([str(tmp_path / "missing.mp4")])
    with pytest.raises(InputError, match="unsupported source"):
        resolve_sources(["ftp://host/x.mp4"])
    with pytest.raises(SourceError, match="no files match"):
        resolve_sources([str(tmp_path / "*.avi")])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="no videos"):  # a source problem (exit 3), like a missing file
        resolve_sources([str(tmp_path)])


def test_decode_file_counts_times_and_model_input(tmp_path):
    path = write_video(tmp_path / "v.mp4", 12, 96, 48)
    src = VideoSource(resolve_sources([str(path)])[0], 32)
    assert (src.info.width, src.info.height, src.info.fps, src.info.frame_count) == (96, 48, 30.0, 12)
    frames = list(src.frames())
    assert [f.idx for f in frames] == list(range(12))
    np.testing.assert_allclose([f.t for f in frames], np.arange(12) / 30, atol=1e-6)
    assert all(f.status == "ok" and f.net is not None and f.net.shape == (32, 32, 3) for f in frames)
    assert frames[0].box == CropBox(0, -24, 96, 96)  # letterboxed: 8 black rows above and below
    assert frames[0].net[:7].max() < 20 and frames[0].image is None and not src.problems


def test_roi_is_cut_in_the_decoder(tmp_path):
    path = write_video(tmp_path / "v.mp4", 1, 96, 64)  # bright square at rows 20..35, cols 0..15
    src = VideoSource(resolve_sources([str(path)])[0], 16, box=CropBox(0, 20, 16, 16), want_image=True)
    frame = next(iter(src.frames()))
    assert frame.net is not None and frame.net.mean() > 150 and frame.box == CropBox(0, 20, 16, 16)
    assert frame.image is not None and frame.image.shape == (64, 96, 3)


def test_tiny_roi_is_cut_out_before_upscaling(tmp_path):
    """A 2x2 box on a 1920x1080 frame: only the box is upscaled (the whole frame would be 122880 px wide)."""
    path = write_video(tmp_path / "v.mp4", 1, 1920, 1080)  # bright square at rows 20..35, cols 0..15
    for box, bright in ((CropBox(4, 24, 2, 2), True), (CropBox(100, 100, 2, 2), False)):
        src = VideoSource(resolve_sources([str(path)])[0], 128, box=box)
        frame = next(iter(src.frames()))
        assert frame.status == "ok" and frame.box == box and frame.image is None and not src.problems
        assert frame.net is not None and frame.net.shape == (128, 128, 3)
        red = frame.net[..., 0]  # RGB: the square is (255, 200, 100)
        assert (red.min() > 200) if bright else (red.max() < 40)


def test_corrupt_packet_is_recorded_and_decoding_goes_on(tmp_path):
    path = write_video(tmp_path / "v.mkv", 30, codec="mjpeg")
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    for i in range(start, start + 400):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))
    frames = list(VideoSource(resolve_sources([str(path)])[0], 32).frames())
    statuses = [f.status for f in frames]
    assert "decode_error" in statuses and statuses.count("ok") >= 25
    assert [f.idx for f in frames] == list(range(len(frames)))


def test_truncated_file_gives_frames_up_to_the_damage(tmp_path):
    path = write_video(tmp_path / "v.mkv", 30, codec="mjpeg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    src = VideoSource(resolve_sources([str(path)])[0], 32)
    frames = list(src.frames())
    assert 5 < len(frames) < 30
    assert src.problems and "truncated" in src.problems[0]


def test_unreadable_files_raise_source_error(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    for name, match in (("empty.mp4", "empty"), ("text.mp4", "cannot open")):
        with pytest.raises(SourceError, match=match):
            VideoSource(resolve_sources([str(tmp_path / name)])[0], 32)


def test_image_folder(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((40, 60, 3), 60 * i, np.uint8))
    (tmp_path / "003.png").write_bytes(b"broken")
    spec = resolve_sources([str(tmp_path)])[0]
    frames = list(VideoSource(spec, 32).frames())
    assert spec.kind == "images" and [f.status for f in frames] == ["ok", "ok", "ok", "decode_error"]
    assert frames[2].net is not None and frames[2].net[16, 16, 0] == 120


class _FlakyContainer:
    """A live container that gives two frames, then loses the connection."""

    duration = None
    streams = SimpleNamespace(
        video=[
            SimpleNamespace(
                codec_context=SimpleNamespace(width=8, height=8),
                average_rate=30,
                guessed_rate=30,
                frames=0,
                time_base=Fraction(1, 1000),
            )
        ]
    )

    def decode(self, video: int = 0):
        for _ in range(2):
            yield av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format="rgb24")
        raise OSError("connection reset by peer")

    def close(self) -> None:
        pass


def test_reconnect_policy_rides_out_reconnect_times_timeout_seconds():
    policy = ReconnectPolicy(reconnect=3, timeout=10.0)
    assert policy.budget == 30.0
    waits = [policy.wait(away, attempts) for away, attempts in ((0.0, 0), (0.5, 1), (1.5, 2), (12.0, 9), (29.5, 20))]
    assert waits == [0.5, 1.0, 2.0, 2.0, 0.5]  # backoff to 2 s, never past the budget
    assert policy.wait(30.0, 21) is None and ReconnectPolicy(0, 10.0).wait(0.0, 0) is None
    with pytest.raises(InputError, match="--timeout"):
        ReconnectPolicy(3, 0.0)


def test_flapping_stream_is_lost_after_its_budget(monkeypatch):
    monkeypatch.setattr(sources, "open_container", lambda spec, timeout: _FlakyContainer())
    src = VideoSource(SourceSpec("rtsp://x/y", "stream", "x"), 8, reconnect=2, timeout=0.3)
    got = []
    with pytest.raises(SourceUnavailable, match=r"lost: no frame .* rides out 0.6 s"):
        for frame in src.frames():
            got.append(frame.idx)
    assert len(got) >= 4 and len(got) % 2 == 0 and got == list(range(len(got)))  # 2 frames per connection


def test_stream_back_within_the_budget_goes_on(monkeypatch):
    """An outage shorter than reconnect x timeout is ridden out: frames come again after it."""
    clock = {"back": None}

    def opener(spec, timeout):
        if clock["back"] is None:
            clock["back"] = time.perf_counter() + 0.6  # the server is down for 0.6 s after the first loss
            return _FlakyContainer()
        if time.perf_counter() < clock["back"]:
            raise SourceUnavailable("rtsp://x/y: cannot open (connection refused)")
        return _FlakyContainer()

    monkeypatch.setattr(sources, "open_container", opener)
    src = VideoSource(SourceSpec("rtsp://x/y", "stream", "x"), 8, reconnect=4, timeout=0.5)  # rides out 2 s
    got = []
    with pytest.raises(SourceUnavailable):  # the flaky container keeps dropping: lost in the end
        for frame in src.frames():
            got.append(frame.idx)
    assert len(got) >= 4  # frames from before the outage and after it


def test_cancel_ends_an_open_in_progress(monkeypatch):
    opened = threading.Event()

    def hang(spec, timeout):
        opened.set()
        time.sleep(5.0)  # FFmpeg blocked on a server that never answers
        raise SourceUnavailable("rtsp://x/y: cannot open (no answer)")

    monkeypatch.setattr(sources, "open_container", lambda spec, timeout: _FlakyContainer())
    src = VideoSource(SourceSpec("rtsp://x/y", "stream", "x"), 8, reconnect=3, timeout=10.0)
    monkeypatch.setattr(sources, "open_container", hang)
    got = []
    reader = threading.Thread(target=lambda: got.extend(f.idx for f in src.frames()))
    reader.start()
    assert opened.wait(10.0)  # the first connection dropped after 2 frames; the reconnect hangs
    src.cancel()
    reader.join(10.0)
    assert not reader.is_alive() and got == [0, 1]


def test_unreadable_live_source_is_unavailable_and_a_file_is_not(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise av.ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(sources.av, "open", refuse)
    with pytest.raises(SourceUnavailable, match="check the URL"):
        VideoSource(SourceSpec("rtsp://x/y", "stream", "x"), 8)
    monkeypatch.undo()
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(SourceError) as info:
        VideoSource(resolve_sources([str(tmp_path / "text.mp4")])[0], 8)
    assert not isinstance(info.value, SourceUnavailable)


def test_training_and_evaluation_frames_are_the_trackers_input(tmp_path):
    """`read_video(path, S)` (train, evaluate, calibration) gives exactly the pixels `track` infers on."""
    from tpt_live.videoio import read_video

    path = write_video(tmp_path / "v.mp4", 4, 96, 48)
    tracked = [f.net for f in VideoSource(resolve_sources([str(path)])[0], 32).frames()]
    assert len(tracked) == 4
    for net, read in zip(tracked, read_video(path, 32), strict=True):
        assert np.array_equal(net, read)
