"""The threaded pipeline: order, batching, coordinate mapping, follow mode, failures that never hang."""

from __future__ import annotations

import time

import numpy as np
import pytest
from track_helpers import FakeBackend, tiny_model_file, write_video

from tpt_live.crop import full_box, to_source
from tpt_live.errors import InputError
from tpt_live.track.handoff import QUEUE_BYTES, queue_depth
from tpt_live.track.pipeline import TrackConfig, Tracker
from tpt_live.track.sources import VideoSource, resolve_sources


def _source(path, size=32, **kw):
    return VideoSource(resolve_sources([str(path)])[0], size, **kw)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "v.mp4", 20, 96, 48)


def test_every_frame_in_order_and_batched(video):
    backend = FakeBackend()
    tracker = Tracker(_source(video), backend, TrackConfig(batch=8))
    results = list(tracker.results())
    assert [r.frame.idx for r in results] == list(range(20))
    assert backend.calls == [8, 8, 4]
    assert tracker.stats.ok == 20 and tracker.stats.dropped == 0


def test_keypoints_are_mapped_to_source_pixels(video):
    backend = FakeBackend()
    first = next(iter(Tracker(_source(video), backend, TrackConfig(batch=1)).results()))
    model_kp = backend.infer(np.zeros((1, 32, 32, 3), np.uint8)).keypoints[0]
    assert first.box == full_box(96, 48)
    assert first.kp2d_raw is not None and first.kp2d is not None
    np.testing.assert_allclose(first.kp2d_raw[:, :2], to_source(model_kp, full_box(96, 48), 32), atol=1e-4)
    np.testing.assert_allclose(first.kp2d_raw[:, 2], 0.9, atol=1e-6)
    assert first.kp3d is None


def test_kp3d_is_lifted_and_smoothed(video):
    results = list(Tracker(_source(video), FakeBackend(kp3d=True), TrackConfig()).results())
    assert all(r.kp3d is not None and r.kp3d.shape == (16, 3) for r in results)


class _Small(FakeBackend):
    """Keypoints spread over model pixels 12..19 only: a small subject."""

    def infer(self, frames, lift: bool = True):
        poses = super().infer(frames, lift)
        poses.keypoints = 12 + (poses.keypoints - 2) * 7 / 27
        return poses


def test_follow_mode_moves_the_crop(video):
    config = TrackConfig(follow=True, batch=1)
    results = list(Tracker(_source(video, fixed_crop=False), _Small(), config).results())
    assert results[0].box == full_box(96, 48)
    # keypoints span source x 37..58 (21 px): side = round(max(21 * 1.6, 0.25 * 96)) = 34, centred on 47.5
    assert results[1].box is not None and (results[1].box.w, results[1].box.x) == (34, 30)


def test_real_torch_backend_keypoints_inside_the_frame(video, tmp_path):
    from engines.torch_backend import TorchBackend

    backend = TorchBackend(tiny_model_file(tmp_path), device="cpu")
    results = list(Tracker(_source(video), backend, TrackConfig()).results())
    kp = np.stack([r.kp2d for r in results if r.kp2d is not None])
    assert len(kp) == 20 and np.isfinite(kp).all()
    assert (kp[..., 2] > 0).all() and (kp[..., 2] <= 1).all()
    assert (kp[..., 0] > -1).all() and (kp[..., 0] < 96).all()


class _Broken(FakeBackend):
    def infer(self, frames, lift: bool = True):
        if len(self.calls) == 1:
            raise RuntimeError("boom")
        return super().infer(frames, lift)


def test_a_failing_stage_stops_the_others_and_is_raised(video):
    tracker = Tracker(_source(video), _Broken(), TrackConfig(batch=2, queue_size=2))
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="boom"):
        list(tracker.results())
    assert time.perf_counter() - start < 5


def test_a_failing_decoder_is_raised(video):
    source = _source(video)

    def broken():
        yield from []
        raise OSError("disk gone")

    source.frames = broken  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk gone"):
        list(Tracker(source, FakeBackend(), TrackConfig()).results())


def test_closing_the_generator_stops_the_threads(video):
    tracker = Tracker(_source(video), FakeBackend(delay=0.01), TrackConfig(batch=1, queue_size=1))
    gen = tracker.results()
    next(gen)
    gen.close()
    assert tracker._stop.is_set()


class _Brightest(FakeBackend):
    """Every keypoint at the brightest input pixel (x=col, y=row): a backend whose answer follows the image."""

    def infer(self, frames: np.ndarray, lift: bool = True):
        poses = super().infer(frames, lift)
        for b, frame in enumerate(frames):
            y, x = np.unravel_index(np.argmax(frame.sum(-1)), frame.shape[:2])
            poses.keypoints[b] = (x, y)
        return poses


@pytest.mark.parametrize("head", ["up", "right", "down", "left"])
def test_turned_input_gives_the_same_source_points(video, head):
    plain = next(iter(Tracker(_source(video), _Brightest(), TrackConfig(batch=1)).results()))
    turned = next(iter(Tracker(_source(video), _Brightest(), TrackConfig(batch=1, head=head)).results()))
    assert plain.kp2d_raw is not None and turned.kp2d_raw is not None
    np.testing.assert_allclose(turned.kp2d_raw[:, :2], plain.kp2d_raw[:, :2], atol=1e-3)


def test_turned_affines_map_the_template_back_to_the_unturned_input(video):
    class _Seen(_Brightest):
        def infer(self, frames, lift: bool = True):
            poses = super().infer(frames, lift)
            poses.affines[:] = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 5.0]])  # a shift, in the turned input
            return poses

    r = next(iter(Tracker(_source(video), _Seen(), TrackConfig(batch=1, head="right")).results()))
    # the turned point (x', y') = (2, 5) + p is the unturned (S-1-y', x'): template p = 0 lands at (26, 2)
    np.testing.assert_allclose(r.affines[0], [[0.0, -1.0, 26.0], [1.0, 0.0, 2.0]], atol=1e-5)


def test_bad_head_is_an_input_error():
    with pytest.raises(InputError, match="--head"):
        TrackConfig(head="sideways")


def test_queues_are_bounded_in_bytes_for_large_frames():
    """Full 4K frames (25 MB each) kept for an overlay: a few per queue, not 32; small frames keep 32."""
    assert queue_depth(32, True, 3840, 2160, 64) == 2  # 64 MiB // 24.9 MB
    assert queue_depth(32, True, 1920, 1080, 64) == 10
    assert queue_depth(32, True, 640, 480, 64) == 32  # the configured size
    assert queue_depth(32, False, 3840, 2160, 64) == 32  # only the 64 x 64 model input is queued
    assert TrackConfig(follow=True).full_frames and not TrackConfig().full_frames  # follow mode always keeps frames
    assert QUEUE_BYTES // (3840 * 2160 * 3) == 2


def test_track_config_errors_name_only_what_is_wrong():
    with pytest.raises(InputError, match=r"^--batch 0 must be 1 or more$"):
        TrackConfig(batch=0)


class _Back(FakeBackend):
    """A handedness model that reads every crop as a flat torso showing its back (signed width +0.75)."""

    model_digest = "back"

    def infer(self, frames, lift: bool = True):
        from tpt_live.skeleton import JOINT_INDEX

        poses = super().infer(frames, lift)
        kp = poses.keypoints
        kp[:, JOINT_INDEX["pelvis"]], kp[:, JOINT_INDEX["thorax"]] = (16, 20), (16, 12)
        for side, x in (("left", 13), ("right", 19)):  # the subject's left on the picture's left: the back
            kp[:, JOINT_INDEX[f"{side}_shoulder"]], kp[:, JOINT_INDEX[f"{side}_hip"]] = (x, 12), (x, 20)
        return poses


def test_a_handedness_model_reading_the_opposite_relabels_left_and_right(video):
    """The pose model's own points (here never a back) keep their places; their left and right labels trade."""
    from tpt_live.skeleton import FLIP_INDEX, signed_width_2d

    assert signed_width_2d(_Back().infer(np.zeros((1, 32, 32, 3), np.uint8)).keypoints[0]) == pytest.approx(0.75)
    plain = list(Tracker(_source(video), FakeBackend(kp3d=True), TrackConfig(batch=4)).results())
    relabelled = list(Tracker(_source(video), FakeBackend(kp3d=True), TrackConfig(batch=4), _Back()).results())
    assert len(plain) == len(relabelled) == 20
    for a, b in zip(plain, relabelled, strict=True):
        assert a.kp2d_raw is not None and b.kp2d_raw is not None
        np.testing.assert_allclose(b.kp2d_raw[:, :2], a.kp2d_raw[list(FLIP_INDEX), :2])
