"""`track --refine`: each frame cut a second time along the part model's own body axis (`localise.refined`)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from engines import open_backend
from tpt_live.checkpoint import default_model_path
from tpt_live.errors import InputError
from tpt_live.localise import Location, body_axis, crop_along, default_localiser_path, refined
from tpt_live.skeleton import JOINT_INDEX, JOINT_NAMES
from tpt_live.synth import SynthConfig
from tpt_live.synth.camera import CameraParams
from tpt_live.synth.clip import render_scene, restage, sample_scene
from tpt_live.track.pipeline import TrackConfig, Tracker
from tpt_live.track.sources import VideoSource, resolve_sources
from tpt_live.videoio import write_video

shipped = pytest.mark.skipif(
    not (default_model_path().is_file() and default_localiser_path().is_file()), reason="no shipped model"
)


def _pose(pelvis: tuple[float, float], head: tuple[float, float]) -> np.ndarray:
    kp = np.full((len(JOINT_NAMES), 2), 60.0)
    kp[JOINT_INDEX["pelvis"]], kp[JOINT_INDEX["head"]] = pelvis, head
    return kp


def test_refined_reads_the_models_axis_and_refuses_a_stray_one() -> None:
    kp = _pose((50.0, 80.0), (50.0, 40.0))  # head up: centre (50, 60), length 40, angle 0
    assert refined(kp, Location(52.0, 63.0, 36.0, 10.0, 0.7)) == Location(50.0, 60.0, 40.0, 0.0, 0.7)
    right = refined(_pose((30.0, 60.0), (70.0, 60.0)), Location(50.0, 60.0, 40.0, 80.0, 0.5))
    assert right is not None and right.angle == pytest.approx(90.0)  # head to the right of the picture
    assert refined(kp, Location(50.0, 81.0, 40.0, 0.0, 0.7)) is None  # 21 px > half the localiser's length
    assert refined(kp, Location(50.0, 60.0, 19.0, 0.0, 0.7)) is None  # 40 / 19 > 2
    assert refined(kp, Location(50.0, 60.0, 81.0, 0.0, 0.7)) is None  # 40 / 81 < 1 / 2
    assert refined(np.full_like(kp, np.nan), Location(50.0, 60.0, 40.0, 0.0, 0.7)) is None
    with pytest.raises(InputError, match="--refine"):
        TrackConfig(refine=-1)


class _OffLocaliser:
    """Returns the true body axis of each frame, moved as a localiser errs: across the body, longer, turned."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth, self.seen = truth, 0

    def locate(self, frames: list, bgr: bool = False, region=None) -> list[Location]:
        out = []
        for _ in frames:
            x, y, length, angle = self.truth[min(self.seen, len(self.truth) - 1)]
            a = math.radians(angle)
            across = np.array([math.cos(a), math.sin(a)]) * 0.25 * length
            out.append(Location(x + across[0], y + across[1], 1.25 * length, (angle + 20.0) % 360, 0.9))
            self.seen += 1
        return out


@shipped
def test_refinement_corrects_a_misframed_crop_with_the_shipped_model(tmp_path) -> None:
    config = SynthConfig(192, 144, frames=6, fps=6.0, seed=2718, index=0)
    scene = restage(sample_scene(config), CameraParams(roll_deg=120.0, frame_fraction=0.5, offset=(0.1, -0.05)))
    clip = render_scene(scene, config)
    path = tmp_path / "turned.mp4"
    write_video(path, iter(clip.frames), 6.0, (192, 144))
    gt = np.array([f["kp2d"] for f in clip.gt["frames"]], np.float64)[..., :2]
    truth = body_axis(gt)
    backend = open_backend(None, backend="torch")
    errors, boxes = {}, {}
    for passes in (0, 2):
        source = VideoSource(resolve_sources([str(path)])[0], backend.input_size, fixed_crop=False)
        cfg = replace(TrackConfig(locate=True, head="auto", locate_every=0.0, batch=3), refine=passes)
        tracker = Tracker(source, backend, cfg)
        tracker._localiser = _OffLocaliser(truth)  # type: ignore[assignment]
        results = list(tracker.results())
        raw = np.stack([r.kp2d_raw[:, :2] for r in results])  # type: ignore[index]
        errors[passes] = float((np.linalg.norm(raw - gt, axis=-1).mean(-1) / truth[:, 2]).mean())
        boxes[passes] = [(r.box, r.location) for r in results]
    # without refinement the model sees the localiser's crop; with it, a crop of its own making
    assert all(abs(box.w - crop_along(loc)[0].w) < 2 for box, loc in boxes[0])  # type: ignore[union-attr, arg-type]
    assert any(abs(box.w - crop_along(loc)[0].w) >= 2 for box, loc in boxes[2])  # type: ignore[union-attr, arg-type]
    # and the localiser's location stays in the result either way (presence's second view is cut there)
    assert [loc for _, loc in boxes[0]] == [loc for _, loc in boxes[2]]
    assert errors[2] < 0.8 * errors[0], errors


def test_refinement_calls_the_model_again_only_on_the_localisers_frames(tmp_path) -> None:
    from track_helpers import FakeBackend
    from track_helpers import write_video as write_test_video

    class _Fixed:
        def locate(self, frames: list, bgr: bool = False, region=None) -> list[Location]:
            return [Location(40.0, 20.0, 10.0, 90.0, 1.0) for _ in frames]

    path = write_test_video(tmp_path / "v.mp4", 12, 96, 48)
    for every, passes, calls in ((1e9, 1, [1, 4, 4, 4]), (1e9, 2, [1, 1, 4, 4, 4]), (0.0, 1, [4, 4] * 3)):
        backend = FakeBackend()
        source = VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False)
        cfg = TrackConfig(locate=True, head="auto", locate_every=every, batch=4, refine=passes)
        tracker = Tracker(source, backend, cfg)
        tracker._localiser = _Fixed()  # type: ignore[assignment]
        assert len(list(tracker.results())) == 12
        assert backend.calls == calls, (every, passes, backend.calls)
        assert backend.lifted == 12  # a temporal lifter's history gets each frame once: the refine passes do not lift


def test_the_monitors_window_is_the_localisers_crop(tmp_path) -> None:
    """The monitor cuts presence's second view from the frame at the result's location (`subject_window`): without
    refinement that is exactly the input the pose model saw, with the located direction or a fixed --head."""
    from track_helpers import FakeBackend
    from track_helpers import write_video as write_test_video

    from tpt_live.monitor.session import subject_window

    class _Turning:
        def locate(self, frames: list, bgr: bool = False, region=None) -> list[Location]:
            return [Location(40.0 + 2 * i, 20.0, 12.0, 30.0 * i, 1.0) for i in range(len(frames))]

    path = write_test_video(tmp_path / "v.mp4", 8, 96, 48)
    for head in ("auto", "left"):
        source = VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False)
        cfg = TrackConfig(locate=True, head=head, locate_every=0.0, batch=4, refine=0, keep_images=True)
        tracker = Tracker(source, FakeBackend(), cfg)
        tracker._localiser = _Turning()  # type: ignore[assignment]
        results = list(tracker.results())
        assert len(results) == 8 and (head != "auto" or len({r.turn for r in results}) > 1)  # turned per frame
        for r in results:
            window = subject_window(r, 1e9, head, 32)
            assert window is not None and np.array_equal(window, r.model_input), head
            assert subject_window(r, 1.0, head, 32) is None  # a window larger than half the picture: not used
