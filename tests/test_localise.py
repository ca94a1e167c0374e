"""The localisation stage: the wide synthetic world, the body axis, crops and turns, the loss, the shipped file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tpt_live.crop import CropBox
from tpt_live.localise import (
    BOX_PER_AXIS,
    SHIFT_PER_AXIS,
    Location,
    LocationFilter,
    Locator,
    _meets,
    _window,
    body_axis,
    crop_along,
    crop_for,
    default_localiser_path,
    inside,
    padded,
    shifted,
)
from tpt_live.localiser_net import STRIDE, decode, load_localiser
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.synth import SynthConfig, canonical_skeleton_2d
from tpt_live.synth.camera import CameraParams, build_camera
from tpt_live.synth.clip import render_scene, restage, sample_scene
from trainer.localiser_train import localiser_loss, score_locations, turn_batch


def test_camera_roll_and_offset_move_the_picture_as_documented():
    target = np.array([0.0, 0.0, 0.1])
    head = target + np.array([0.0, 0.2, 0.0])  # world +y: the head direction
    plain = build_camera(160, 120, CameraParams(), 0.6, target)
    turned = build_camera(160, 120, CameraParams(roll_deg=90.0, offset=(0.25, -0.1)), 0.6, target)
    p0 = plain.project(plain.to_camera(np.stack([target, head])))
    p1 = turned.project(turned.to_camera(np.stack([target, head])))
    assert p0[0] == pytest.approx([79.5, 59.5], abs=1e-9)  # the principal point
    assert p1[0] == pytest.approx([79.5 + 40.0, 59.5 - 12.0], abs=1e-6)  # centre + offset * (W, H)
    up, right = p0[1] - p0[0], p1[1] - p1[0]
    assert up[0] == pytest.approx(0.0, abs=1e-9) and up[1] < 0  # head up
    assert right[1] == pytest.approx(0.0, abs=1e-6) and right[0] == pytest.approx(-up[1], rel=1e-6)  # 90 cw: right


def test_wide_world_draws_its_own_stream_and_leaves_the_default_world_alone():
    base = sample_scene(SynthConfig(96, 96, frames=2, seed=4, index=1))
    wide = sample_scene(SynthConfig(96, 96, frames=2, seed=4, index=1, world="wide"))
    assert base.camera.params.roll_deg == 0.0 and base.camera.params.offset == (0.0, 0.0)
    assert wide.body == base.body and wide.camera.params.fov_deg == base.camera.params.fov_deg
    fractions = [
        sample_scene(SynthConfig(96, 96, frames=1, seed=4, index=i, world="wide")).camera.params.frame_fraction
        for i in range(40)
    ]
    assert 0.15 <= min(fractions) < 0.25 and 0.6 < max(fractions) <= 0.9
    with pytest.raises(Exception, match="bad world"):
        SynthConfig(world="huge")


def test_body_axis_literals():
    kp = np.zeros((16, 2))
    kp[JOINT_INDEX["pelvis"]] = [10.0, 20.0]
    kp[JOINT_INDEX["head"]] = [13.0, 16.0]  # up and to the right: 3-4-5
    x, y, length, angle = body_axis(kp)
    assert (x, y, length) == pytest.approx((11.5, 18.0, 5.0))
    assert angle == pytest.approx(math.degrees(math.atan2(3, 4)))


def test_crop_for_reproduces_the_template_framing_and_turns():
    axis = body_axis(canonical_skeleton_2d(256))
    box, turns = crop_for(Location(*axis, score=1.0))
    assert turns == 0 and box == CropBox(0, 0, 256, 256)
    # the same body turned to head right: the box centre moves towards the feet, to the left
    box, turns = crop_for(Location(300.0, 200.0, 100.0, 80.0, 1.0))
    assert turns == 1
    assert box.w == round(BOX_PER_AXIS * 100) and box.x + box.w / 2 == pytest.approx(300 - SHIFT_PER_AXIS * 100, abs=1)
    assert crop_for(Location(0, 0, 10, 170.0, 1.0))[1] == 2 and crop_for(Location(0, 0, 10, 300.0, 1.0))[1] == 3


def test_location_filter_averages_by_time_and_the_direction_more_slowly():
    from tpt_live.localise import FilterConfig

    f = LocationFilter(FilterConfig(position_tau=0.2, direction_tau=0.7))
    f.update(Location(0.0, 0.0, 10.0, 350.0, 1.0), t=0.0)
    loc = f.update(Location(10.0, 0.0, 40.0, 30.0, 1.0), t=0.2)  # 0.2 s later
    a, b = 1 - math.exp(-1.0), 1 - math.exp(-0.2 / 0.7)
    assert loc.x == pytest.approx(10.0 * a) and loc.length == pytest.approx(10.0 * 4.0**a)
    r30, r350 = math.radians(30), math.radians(350)
    expected = math.degrees(
        math.atan2(b * math.sin(r30) + (1 - b) * math.sin(r350), b * math.cos(r30) + (1 - b) * math.cos(r350))
    )
    assert loc.angle == pytest.approx(expected % 360.0)  # through 0, not through 180
    # twice the frame rate, the same elapsed time: the same average
    g = LocationFilter(FilterConfig(position_tau=0.2, direction_tau=0.7))
    g.update(Location(0.0, 0.0, 10.0, 350.0, 1.0), t=0.0)
    g.update(Location(10.0, 0.0, 40.0, 30.0, 1.0), t=0.1)
    assert g.update(Location(10.0, 0.0, 40.0, 30.0, 1.0), t=0.2).x == pytest.approx(loc.x)
    still = LocationFilter(FilterConfig(0.0, 0.0, 0.0, 0.0, 0.0))
    still.update(Location(0.0, 0.0, 10.0, 0.0, 1.0), t=0.0)
    last = still.update(Location(5.0, 5.0, 20.0, 90.0, 1.0), t=0.1)
    assert (last.x, last.y, last.length, last.angle) == pytest.approx((5.0, 5.0, 20.0, 90.0))


def test_the_crop_holds_still_while_the_average_stays_in_its_band():
    from tpt_live.localise import FilterConfig

    f = LocationFilter(FilterConfig(position_tau=0.0, direction_tau=0.0, hold_centre=0.1, hold_length=0.1))
    first = f.update(Location(100.0, 50.0, 40.0, 90.0, 1.0), t=0.0)
    rng = np.random.default_rng(0)
    for i in range(20):  # a still baby: the localiser scatters by a few pixels, degrees and per cent
        dx, dy, da = rng.uniform(-2.5, 2.5, 3)
        held = f.update(Location(100.0 + dx, 50.0 + dy, 40.0 * (1 + da / 100), 90.0 + da, 1.0), t=0.1 * (i + 1))
        assert held == first
    assert f.state is not None and f.state != first  # the average itself follows every frame
    moved = f.update(Location(106.0, 50.0, 40.0, 90.0, 1.0), t=2.2)  # 0.15 axis lengths away: the crop follows
    assert moved.x == pytest.approx(106.0) and f.held == moved
    assert f.update(Location(106.0, 50.0, 40.0, 102.0, 1.0), t=2.3).angle == pytest.approx(102.0)  # > 10 degrees


def test_decode_reads_back_an_encoded_location_and_the_loss_has_gradients():
    g = 8
    target = torch.tensor([[70.0, 40.0, 30.0, 120.0]])
    out = torch.zeros(1, 6, g, g, requires_grad=True)
    with torch.no_grad():
        col, row = int((70.5) // STRIDE), int((40.5) // STRIDE)
        out[0, 0, row, col] = 25.0
        out[0, 1, row, col] = 70.5 / STRIDE - col - 0.5
        out[0, 2, row, col] = 40.5 / STRIDE - row - 0.5
        out[0, 3, row, col] = math.log(30.0 / (g * STRIDE))
        out[0, 4, row, col], out[0, 5, row, col] = math.cos(math.radians(120)), math.sin(math.radians(120))
    x, y, length, angle, score = decode(out)[0].tolist()
    assert (x, y, length, angle) == pytest.approx((70.0, 40.0, 30.0, 120.0), abs=1e-4)
    assert score == pytest.approx(1.0, abs=1e-6)
    loss = localiser_loss(out, target)
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    wrong = torch.tensor([[20.0, 100.0, 30.0, 300.0]])  # another cell, the head the other way
    assert localiser_loss(out.detach(), target) < localiser_loss(out.detach(), wrong) - 5


def test_turn_batch_moves_the_targets_with_the_pixels():
    x = torch.zeros(1, 3, 32, 32)
    x[0, :, 5, 20] = 1.0  # a dot at (x=20, y=5)
    t = torch.tensor([[20.0, 5.0, 4.0, 10.0]])
    for turns in range(4):
        for flip in (False, True):
            xt, tt = turn_batch(x, t, turns, flip)
            row, col = divmod(int(xt[0, 0].argmax()), 32)
            assert (col, row) == (int(tt[0, 0]), int(tt[0, 1]))
            expected = ((-10.0 if flip else 10.0) + 90.0 * turns) % 360.0
            assert float(tt[0, 3]) == pytest.approx(expected)


def test_score_locations_counts_a_found_body():
    truth = np.array([[50.0, 50.0, 20.0, 10.0], [50.0, 50.0, 20.0, 10.0]])
    pred = np.array([[55.0, 50.0, 22.0, 350.0], [50.0, 50.0, 20.0, 190.0]])
    s = score_locations(pred, truth)
    assert s["found"] == 0.5 and s["turn_right"] == 0.5


def test_inside_clips_the_region_to_the_frame_and_shifted_maps_back():
    image = np.arange(40 * 60).reshape(40, 60)
    part, origin = inside(image, CropBox(-5, 10, 30, 50))  # off the left edge and below the bottom
    assert origin == (0, 10) and part.shape == (30, 25)
    assert part[0, 0] == image[10, 0] and part[-1, -1] == image[39, 24]
    assert inside(image, None)[1] == (0, 0) and inside(image, CropBox(70, 0, 10, 10))[0] is image  # outside: all
    loc = shifted(Location(3.0, 4.0, 20.0, 90.0, 0.5), origin)
    assert (loc.x, loc.y, loc.length, loc.angle, loc.score) == (3.0, 14.0, 20.0, 90.0, 0.5)


class _BrightestLocator(Locator):
    """A localiser whose centre is the brightest input pixel (length 2 input pixels, head up), recording the
    inputs it was given: enough to follow the two looks through letterbox, window and back to source pixels."""

    size = 16

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def rows(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for image in batch:
            y, x = np.unravel_index(np.argmax(image.sum(-1)), image.shape[:2])
            out.append([x, y, 2.0, 0.0, 1.0])
        self.seen.append(batch.shape[1:3])
        return np.array(out, np.float64)


def test_the_second_look_is_taken_in_a_window_around_the_first_and_mapped_back():
    frame = np.zeros((48, 96, 3), np.uint8)
    frame[30, 70] = 255  # a one-pixel "body": the 16-px letterbox blurs it, the window sees it sharply
    one = _BrightestLocator()
    one.look_again = 0.0
    first = one.locate([frame])[0]
    assert len(one.seen) == 1 and first.length == 12.0  # 2 input pixels of a 96-px frame letterboxed to 16
    assert abs(first.x - 70) + abs(first.y - 30) > 2.0  # the 6x downscaled frame puts it off
    two = _BrightestLocator()
    two.look_again = 3.0
    second = two.locate([frame])[0]
    assert len(two.seen) == 2
    # the window is 36 px around the first look, 2.25x downscaled: the dot is found within a cell of it
    assert (second.x, second.y) == pytest.approx((70.0, 30.0), abs=1.2)
    assert second.length == pytest.approx(2 * 36 / 16)
    # the window: 3 axis lengths centred on the first look, no smaller than S / 2, cut down to a region
    loc = Location(50.0, 20.0, 10.0, 0.0, 1.0)
    assert _window(loc, 3.0, None) == CropBox(35, 5, 30, 30)
    assert _window(loc, 3.0, None, 40.0) == CropBox(30, 0, 40, 40)
    assert _window(loc, 3.0, CropBox(40, 0, 100, 100)) == CropBox(40, 5, 25, 30)


class _WholeFrameLocator(Locator):
    """A localiser that always answers: centre of the input, 12 of its 16 pixels long, head up; keeps its inputs."""

    size = 16

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def rows(self, batch: np.ndarray) -> np.ndarray:
        self.inputs.append(batch.copy())
        return np.tile([[7.5, 7.5, 12.0, 0.0, 1.0]], (len(batch), 1))


def test_a_second_look_beyond_the_frame_sees_black_there_not_the_frame_again():
    """A body that fills the frame: the window of 3 axis lengths reaches past every edge. It is cut black there
    (`padded`), so the second look sees the body at the window's scale (stop 53), not the whole frame again."""
    frame = np.full((40, 40, 3), 90, np.uint8)
    two = _WholeFrameLocator()
    two.look_again = 3.0
    found = two.locate([frame])[0]
    first, second = two.inputs[0][0], two.inputs[1][0]
    assert (first == 90).all()  # the first look: the whole frame
    # the second: a 90-px window from (-26, -26) around the first answer (centre 19.5, length 30), the frame in its
    # middle 7 of 16 pixels, black around it
    assert second[0].max() == 0 and second[-1].max() == 0 and second[:, 0].max() == 0 and second[:, -1].max() == 0
    assert (second[6:10, 6:10] == 90).all()
    assert (found.x, found.y, found.length) == pytest.approx((18.5, 18.5, 67.5))
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    part, origin, scale = padded(image, CropBox(-3, 5, 8, 8))
    assert origin == (-3, 5) and part.shape == (8, 8) and scale == 1.0
    assert (part[:, :3] == 0).all() and (part[5:] == 0).all()  # left of the frame and below it: black
    assert np.array_equal(part[:5, 3:], image[5:, :5])
    view, at, scale = padded(image, CropBox(2, 2, 4, 4))  # inside the frame: a view of it, no copy
    assert at == (2, 2) and scale == 1.0 and np.shares_memory(view, image) and np.array_equal(view, image[2:6, 2:6])
    small, at, scale = padded(np.full((10, 10), 200, np.uint8), CropBox(-10, -10, 40, 40), most=20)  # shrunk
    assert at == (-10, -10) and scale == 0.5 and small.shape == (20, 20)
    assert (small[5:10, 5:10] == 200).all() and small[:5].max() == 0 and small[10:].max() == 0
    loc = shifted(Location(7.5, 7.5, 4.0, 0.0, 1.0), at, scale)  # a pixel of the shrunk window, back in the source
    assert (loc.x, loc.y, loc.length) == pytest.approx((5.5, 5.5, 8.0))


def test_a_second_look_that_would_see_only_black_keeps_the_first():
    """A first answer off the frame: the window around it barely meets the frame, so the first answer stands."""

    class OffFrame(_WholeFrameLocator):
        def rows(self, batch: np.ndarray) -> np.ndarray:
            self.inputs.append(batch.copy())
            return np.tile([[-40.0, 7.5, 1.0, 90.0, 0.3]], (len(batch), 1))  # far left of the input, short

    off = OffFrame()
    off.look_again = 3.0
    found = off.locate([np.full((40, 40, 3), 90, np.uint8)])[0]
    assert len(off.inputs) == 2  # it did look again (at black)
    assert (found.x, found.angle, found.score) == pytest.approx((-40.0 * 40 / 16 + 0.75, 90.0, 0.3))
    assert _meets(CropBox(-10, 0, 11, 40), 40, 40) is False and _meets(CropBox(-10, 0, 12, 40), 40, 40) is True


shipped = pytest.mark.skipif(not default_localiser_path().is_file(), reason="no shipped localiser")


@shipped
def test_the_shipped_localiser_searches_only_the_region_it_is_given():
    """`track --roi` with a located model: the body is found inside the region, in source pixels, and never
    outside it (an empty region cannot pull the location onto the body next to it)."""
    config = SynthConfig(256, 128, frames=2, fps=2.0, seed=4242, index=0)
    scene = restage(sample_scene(config), CameraParams(frame_fraction=0.6, offset=(0.25, 0.0)))  # right half
    clip = render_scene(scene, config)
    truth = body_axis(np.asarray(clip.gt["frames"][0]["kp2d"]))
    localiser = load_localiser()
    right = localiser.locate([clip.frames[0]], region=CropBox(120, 0, 136, 128))[0]
    assert score_locations(np.array([[right.x, right.y, right.length, right.angle]]), truth[None])["found"] == 1.0
    left = localiser.locate([clip.frames[0]], region=CropBox(0, 0, 100, 128))[0]
    assert 0 <= left.x <= 99  # the read-out stays in the searched part


@shipped
@pytest.mark.parametrize("roll, fraction, offset", [(180.0, 0.2, (0.2, -0.15)), (90.0, 0.5, (-0.1, 0.05))])
def test_shipped_localiser_finds_a_small_upside_down_infant(roll, fraction, offset):
    """Issue 11's bar: a synthetic infant turned 180 degrees at 20% of the frame height is found."""
    config = SynthConfig(192, 144, frames=3, fps=2.0, seed=31337, index=0)
    scene = restage(sample_scene(config), CameraParams(roll_deg=roll, frame_fraction=fraction, offset=offset))
    clip = render_scene(scene, config)
    found = load_localiser().locate(list(clip.frames))
    truth = np.stack([body_axis(np.asarray(f["kp2d"])) for f in clip.gt["frames"]])
    pred = np.array([[f.x, f.y, f.length, f.angle] for f in found])
    scores = score_locations(pred, truth)
    assert scores["found"] == 1.0, (pred, truth)
    assert all(crop_for(f)[1] == round(roll / 90) % 4 for f in found)


def test_locate_options_are_checked():
    from tpt_live.errors import InputError
    from tpt_live.track.pipeline import TrackConfig

    with pytest.raises(InputError, match="needs --locate"):
        TrackConfig(head="auto", locate=False)
    assert TrackConfig(head="auto").resolved("frame").locate  # --head auto alone asks for the localiser
    with pytest.raises(InputError, match="--follow excludes"):
        TrackConfig(follow=True, locate=True)
    with pytest.raises(InputError, match="--follow excludes"):
        TrackConfig(follow=True, roi=CropBox(0, 0, 10, 10))
    inside_roi = TrackConfig(locate=True, roi=CropBox(0, 0, 10, 10))  # --roi with --locate: search the region
    assert inside_roi.resolved("frame").locate and inside_roi.resolved("frame").head == "auto"
    assert TrackConfig(locate=True, head="auto").full_frames


def test_unturn_handles_a_different_turn_per_frame():
    from track_helpers import FakeBackend

    from tpt_live.crop import to_source, turn_input, turned_crop
    from tpt_live.track.pipeline import Tracker

    class _Brightest(FakeBackend):
        def infer(self, frames, lift: bool = True):
            poses = super().infer(frames, lift)
            for b, frame in enumerate(frames):
                y, x = np.unravel_index(np.argmax(frame.sum(-1)), frame.shape[:2])
                poses.keypoints[b] = (x, y)
            return poses

    images = np.zeros((3, 32, 32, 3), np.uint8)
    for b, (x, y) in enumerate([(3, 7), (20, 5), (30, 28)]):
        images[b, y, x] = 255
    turns = [90.0, 0.0, 270.0]
    tracker = Tracker.__new__(Tracker)
    tracker.size = 32
    poses = _Brightest().infer(np.stack([turn_input(i, int(k // 90)) for i, k in zip(images, turns, strict=True)]))
    poses = tracker._unturn(poses, turns)
    assert poses.keypoints[:, 0].tolist() == [[3, 7], [20, 5], [30, 28]]
    # any angle: a dot seen through `turned_crop` comes back to its source pixel
    source = np.zeros((90, 120, 3), np.uint8)
    source[40:43, 70:73] = 255  # a 3x3 dot centred on (71, 41)
    box = CropBox(40, 10, 64, 64)
    for degrees in (30.0, 135.0, 300.0):
        net, exact = turned_crop(source, box, degrees, 32)
        back = tracker._unturn(_Brightest().infer(net[None]), [degrees]).keypoints[0, 0]
        assert np.allclose(to_source(back, exact, 32), [71, 41], atol=2.0), degrees


@shipped
def test_track_locate_turns_and_crops_a_sideways_infant(tmp_path):
    from track_helpers import FakeBackend

    from tpt_live.track.pipeline import TrackConfig, Tracker
    from tpt_live.track.sources import VideoSource, resolve_sources
    from tpt_live.videoio import write_video

    config = SynthConfig(192, 144, frames=4, fps=4.0, seed=4242, index=0)
    scene = restage(sample_scene(config), CameraParams(roll_deg=95.0, frame_fraction=0.45, offset=(0.15, 0.1)))
    clip = render_scene(scene, config)
    path = tmp_path / "side.mp4"
    write_video(path, iter(clip.frames), 4.0, (192, 144))
    source = VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False)
    results = list(Tracker(source, FakeBackend(), TrackConfig(locate=True, head="auto", batch=2)).results())
    truth = body_axis(np.asarray(clip.gt["frames"][-1]["kp2d"]))
    assert len(results) == 4 and all(abs(r.turn - truth[3]) < 30 for r in results)  # turned by the located angle
    last = results[-1].location
    assert last is not None and math.hypot(last.x - truth[0], last.y - truth[1]) < 0.5 * truth[2]
    box = results[-1].box
    assert box is not None and abs(box.w - crop_along(last)[0].w) < 2
    from tpt_live.track.outputs import record, validate

    for r in results:  # the per-frame head and location are in the records, and the schema admits them
        rec = record(r)
        validate(rec, "frame")
        assert rec["head"] == "right" and len(rec["location"]) == 5
    assert [r.turn for r in Tracker(VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False), FakeBackend(),
            TrackConfig(locate=True, head="right")).results()] == [90.0] * 4  # fmt: skip


@shipped
def test_training_scenes_through_located_windows_are_turned_head_up(tmp_path):
    from tpt_live.crop import to_model, turn_matrix, turned_crop
    from tpt_live.errors import InputError
    from tpt_live.videoio import read_video, write_video
    from trainer.data import load_scenes, located_windows

    config = SynthConfig(160, 120, frames=12, fps=6.0, seed=777, index=0)
    scene = restage(sample_scene(config), CameraParams(roll_deg=260.0, frame_fraction=0.5, offset=(-0.1, 0.05)))
    clip = render_scene(scene, config)
    path = tmp_path / "lying.mp4"
    write_video(path, iter(clip.frames), 6.0, (160, 120))
    [(first, box, degrees)] = located_windows(path, load_localiser(), every=3)
    assert first == 0
    kp = np.asarray(clip.gt["frames"][6]["kp2d"])
    m = turn_matrix(degrees, 32)
    turned = to_model(kp, box, 32) @ m[:2, :2].T + m[:2, 2]
    head, pelvis = turned[JOINT_INDEX["head"]], turned[JOINT_INDEX["pelvis"]]
    assert head[1] < pelvis[1] - 4 and abs(head[0] - pelvis[0]) < 0.5 * (pelvis[1] - head[1])  # head up
    scenes = load_scenes([path], 32, locate=True)
    assert scenes[0].frames.shape == (12, 32, 32, 3)
    with pytest.raises(InputError, match="--locate"):
        load_scenes([path], 32, head="left", locate=True)
    # window_s: one window per 5 frames (0.8 s at 6 fps), each span its own scene; the frames are the same ones
    spans = located_windows(path, load_localiser(), span=5)  # every=10, as load_scenes locates
    assert [w[0] for w in spans] == [0, 5, 10]
    parts = load_scenes([path], 32, locate=True, window_s=0.8)
    assert [(s.name, len(s.frames)) for s in parts] == [("lying.mp4#0", 5), ("lying.mp4#1", 5), ("lying.mp4#2", 2)]
    source = list(read_video(path))
    for (first, b, d), part in zip(spans, parts, strict=True):  # each span is cut through its own window
        assert np.array_equal(part.frames[0], turned_crop(source[first], b, d, 32)[0])
    # stabilise: this camera stands still, so taking its motion out changes no frame
    still = load_scenes([path], 32, locate=True, window_s=0.8, stabilise=True)
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(parts, still, strict=True))
    with pytest.raises(InputError, match="window_s"):
        load_scenes([path], 32, locate=True, window_s=-1.0)


def test_locate_every_runs_the_localiser_at_the_asked_rate(tmp_path):
    from track_helpers import FakeBackend, write_video

    from tpt_live.track.pipeline import TrackConfig, Tracker
    from tpt_live.track.sources import VideoSource, resolve_sources

    class _Counting:
        def __init__(self):
            self.frames = 0

        def locate(self, frames, bgr=False, region=None):
            assert bgr  # the tracker hands over the decoder's BGR frames as they are
            self.frames += len(frames)
            return [Location(40.0, 20.0, 10.0, 90.0, 1.0) for _ in frames]

    path = write_video(tmp_path / "v.mp4", 12, 96, 48)  # 12 frames at the helper's frame rate
    for every, expected in ((0.0, 12), (0.1, 4), (1e9, 1)):
        source = VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False)
        tracker = Tracker(source, FakeBackend(), TrackConfig(locate=True, head="auto", locate_every=every, batch=4))
        tracker._localiser = counting = _Counting()  # type: ignore[assignment]
        results = list(tracker.results())
        assert counting.frames == expected and all(r.location is not None and r.turn == 90.0 for r in results)


def test_located_model_inputs_are_rgb(tmp_path):
    """The tracker crops the decoder's BGR frames and turns only the S x S input to RGB: the helper's
    orange square (255, 200, 100) reaches the model red-first."""
    from track_helpers import FakeBackend, write_video

    from tpt_live.track.pipeline import TrackConfig, Tracker
    from tpt_live.track.sources import VideoSource, resolve_sources

    class _Fixed:
        def locate(self, frames, bgr=False, region=None):
            return [Location(40.0, 28.0, 30.0, 0.0, 1.0) for _ in frames]

    class _Recording(FakeBackend):
        def infer(self, frames, lift: bool = True):
            self.seen = np.concatenate([getattr(self, "seen", frames[:0]), frames])
            return super().infer(frames, lift)

    path = write_video(tmp_path / "v.mp4", 6, 96, 64)
    backend = _Recording()
    tracker = Tracker(VideoSource(resolve_sources([str(path)])[0], 32, fixed_crop=False), backend,
                      TrackConfig(locate=True, head="auto", batch=2))  # fmt: skip
    tracker._localiser = _Fixed()  # type: ignore[assignment]
    assert len(list(tracker.results())) == 6
    seen = backend.seen.reshape(-1, 3).astype(int)
    square = seen[seen.sum(1) > 300]  # the square's pixels
    assert len(square) > 20
    assert (square[:, 0] - square[:, 2]).mean() > 100  # red well above blue: RGB, not BGR


def test_train_localiser_writes_a_file_with_both_looks_figures(tmp_path):
    """A two-step run: the weights load, and the validation figures hold the network's own `found` and the one
    with the second look that `track` uses."""
    from trainer.localiser_train import LocaliserTrainConfig, train_localiser

    cfg = LocaliserTrainConfig(out=str(tmp_path / "loc"), clips=2, frames=2, val_clips=2, steps=2, batch=4)
    metrics = train_localiser(cfg)
    assert 0.0 <= metrics["found"] <= 1.0 and 0.0 <= metrics["found_second_look"] <= 1.0
    loaded = load_localiser(tmp_path / "loc" / "localiser.safetensors")
    assert loaded.look_again == 3.5 and len(loaded.locate([np.zeros((40, 60, 3), np.uint8)])) == 1


def test_located_box_is_the_box_located_input_cuts():
    """The monitor decides whether to cut presence's window from `located_box` alone; it must be the very box
    `located_input` returns, along the located direction and for fixed head directions, at any length."""
    from tpt_live.localise import Location, located_box, located_input

    image = np.zeros((240, 320, 3), np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(12):
        loc = Location(*rng.uniform((0, 0, 5, 0), (320, 240, 300, 360)), 1.0)
        for head in ("auto", "up", "left", "down"):
            for size in (32, 128):
                assert located_box(loc, head, size) == located_input(image, loc, head, size)[1], (loc, head, size)


def test_localiser_training_draws_sitting_and_propped_babies_when_asked():
    """`train-localiser --sitting/--propped` reach the scenes: the shares are checked, zero shares render the very
    scenes of the recipe without them, and a share of 1 moves the body axis of the scenes it applies to."""
    from tpt_live.errors import InputError
    from trainer.localiser_train import LocaliserTrainConfig, render_set

    with pytest.raises(InputError, match="sitting"):
        LocaliserTrainConfig(sitting=1.5)
    with pytest.raises(InputError, match="propped"):
        LocaliserTrainConfig(propped=-0.1)
    plain_images, plain = render_set(6, 1, 7, 64)
    zero_images, zero = render_set(6, 1, 7, 64, propped=0.0, sitting=0.0)
    assert np.array_equal(plain_images, zero_images) and np.array_equal(plain, zero)
    for option in ({"sitting": 1.0}, {"propped": 1.0}):
        _, moved = render_set(6, 1, 7, 64, **option)
        changed = np.abs(moved[:, :3] - plain[:, :3]).max(1) > 1.0  # centre or length moved by a pixel
        assert 0 < changed.sum() < 6, option  # some scenes lie that way, not all


def test_localiser_loss_can_train_the_regressions_around_the_centre():
    """`reg_sigma` > 0 asks every cell near the centre for the centre's offset from itself, the length and the
    direction: a map right everywhere costs only the centre term, a neighbour's wrong direction now costs, and at a
    cell's very centre a narrow Gaussian gives the centre-cell loss."""
    g, b = 8, 1
    target = torch.tensor([[2 * STRIDE + 11.0, 3 * STRIDE + 4.0, 60.0, 30.0]])  # centre in cell (row 3, col 2)
    cell = (target[:, :2] + 0.5) / STRIDE
    centres = torch.arange(g, dtype=torch.float32) + 0.5
    out = torch.zeros(b, 6, g, g)
    out[:, 0] = torch.randn(g, g)
    out[:, 1] = (cell[:, 0].view(b, 1, 1) - centres.view(1, 1, g)).expand(b, g, g)
    out[:, 2] = (cell[:, 1].view(b, 1, 1) - centres.view(1, g, 1)).expand(b, g, g)
    out[:, 3] = math.log(60.0 / (g * STRIDE))
    out[:, 4], out[:, 5] = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    centre_only = localiser_loss(out, target)
    assert localiser_loss(out, target, reg_sigma=0.75).item() == pytest.approx(centre_only.item(), abs=1e-5)
    out[:, 4:, 3, 3] = torch.tensor([-1.0, 0.0])  # the cell right of the centre's points the head the other way
    assert localiser_loss(out, target).item() == pytest.approx(centre_only.item(), abs=1e-5)
    assert localiser_loss(out, target, reg_sigma=0.75).item() > centre_only.item() + 0.1
    on_centre = torch.tensor([[2 * STRIDE + 7.5, 3 * STRIDE + 7.5, 60.0, 30.0]])
    scrambled = torch.randn(b, 6, g, g)
    assert localiser_loss(scrambled, on_centre, reg_sigma=0.05).item() == pytest.approx(
        localiser_loss(scrambled, on_centre).item(), rel=1e-5
    )


@shipped
def test_the_shipped_localiser_records_todays_default_recipe():
    """`tpt-live train-localiser` with no options draws the shipped file's recipe (the run folder and threads aside)."""
    import dataclasses
    import json

    from trainer.localiser_train import LocaliserTrainConfig

    stored = json.loads(default_localiser_path().with_suffix(".json").read_text())["metrics"]["train"]
    defaults = dataclasses.asdict(LocaliserTrainConfig())
    skip = ("out", "threads")
    assert {k: v for k, v in stored.items() if k not in skip} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items() if k not in skip
    }
