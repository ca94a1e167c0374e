"""A simulated live source (a file replayed in real time) with a model slower than the frame rate:
latency stays bounded, stale frames are dropped and counted, and every frame has a record."""

from __future__ import annotations

from track_helpers import FakeBackend, write_video

from tpt_live.track.pipeline import TrackConfig
from tpt_live.track.runner import TrackRequest, track_one
from tpt_live.track.sources import resolve_sources


def test_slow_model_on_live_source_keeps_latency_bounded(tmp_path):
    video = write_video(tmp_path / "live.mp4", 180, 64, 48, fps=30)  # 6 s at 30 fps
    backend = FakeBackend(delay=0.05)  # 50 ms per frame: 20 fps against 30 arriving
    request = TrackRequest((str(video),), tmp_path / "live.json", config=TrackConfig(batch=8), pace=True)
    summary = track_one(resolve_sources([str(video)])[0], request, backend, many=False)
    assert summary.frames == 180 and summary.ok + summary.dropped == 180
    assert summary.dropped >= 30  # about a third cannot be served
    assert max(backend.calls) == 1  # live sources infer the latest frame only
    assert summary.latency_p95 < 0.15 and summary.latency_p95_late < 0.15  # bounded, no growth
