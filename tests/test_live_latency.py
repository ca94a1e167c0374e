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


def test_stage_times_are_charged_per_frame(tmp_path):
    """`SourceSummary.stage_ms` (the `tpt-live bench` note): ms per frame in each stage; a model that sleeps
    20 ms per call of 8 frames costs at least 2.5 ms a frame in `infer`."""
    video = write_video(tmp_path / "file.mp4", 40, 64, 48, fps=30)
    backend = FakeBackend(delay=0.02)
    request = TrackRequest((str(video),), tmp_path / "file.json", config=TrackConfig(batch=8))
    summary = track_one(resolve_sources([str(video)])[0], request, backend, many=False)
    assert summary.ok == 40 and backend.calls == [8] * 5
    assert set(summary.stage_ms) == {"decode", "crop", "infer", "post", "write"}  # no localiser for this model
    assert summary.stage_ms["infer"] >= 0.02 * 5 * 1e3 / 40
    assert all(v >= 0 for v in summary.stage_ms.values()) and summary.stage_ms["decode"] > 0
