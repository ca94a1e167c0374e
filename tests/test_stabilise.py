"""Camera motion within a span (trainer.stabilise): measured shifts, identity for a static camera, stabilised crops."""

import cv2
import numpy as np
import pytest

from tpt_live.localise import Location
from trainer.data import _to_reference
from trainer.stabilise import IDENTITY, compose, motion_extent, span_motions, warp_to_reference


def _texture(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A room-like picture with detail at several scales (features for ORB)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cell in (4, 12, 40):
        noise = rng.uniform(0, 255, (h // cell + 1, w // cell + 1, 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)[:h, :w] / 3
    return img.clip(0, 255).astype(np.uint8)


def _moved(world: np.ndarray, dx: float, dy: float, deg: float = 0.0, size=(320, 240)) -> np.ndarray:
    """The camera's view of `world` after the camera moved: view pixel p shows world pixel R p + (dx, dy)."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    m = np.array([[c, -s, dx], [s, c, dy]], np.float64)
    return cv2.warpAffine(world, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def test_a_panning_camera_is_measured_and_each_span_starts_at_the_identity():
    world = _texture(400, 520)
    shifts = [(40 + 3 * i, 60 + 1.5 * i) for i in range(8)]  # the camera pans right and down
    frames = [_moved(world, dx, dy) for dx, dy in shifts]
    motions = span_motions(frames, span=4)
    assert len(motions) == 8
    for i, m in enumerate(motions):
        first = 4 * (i // 4)
        if i == first:
            assert np.array_equal(m, IDENTITY)
        # frame i's pixel p shows the world point p + shift_i, which frame `first` shows at p + shift_i - shift_first
        want = np.subtract(shifts[i], shifts[first])
        assert np.allclose(m[:, :2], np.eye(2), atol=0.01)
        assert np.allclose(m[:, 2], want, atol=0.5), (i, m[:, 2], want)
    # warped into the span's first frame, the view matches it (away from the uncovered border)
    back = warp_to_reference(frames[3], motions[3])
    diff = np.abs(back.astype(int) - frames[0].astype(int))[20:-20, 20:-20]
    unstabilised = np.abs(frames[3].astype(int) - frames[0].astype(int))[20:-20, 20:-20]
    assert diff.mean() < 3 and diff.mean() < 0.1 * unstabilised.mean()
    assert motion_extent(motions, 320, 240) == pytest.approx(np.hypot(9, 4.5) / 320, abs=0.002)


def test_a_static_camera_gives_exactly_the_identity_even_with_a_moving_subject():
    world = _texture(240, 320, seed=1)
    frames = []
    for i in range(6):  # a bright blob (the subject) moves across a still background
        f = world.copy()
        cv2.circle(f, (100 + 12 * i, 120), 30, (250, 200, 180), -1)
        frames.append(f)
    motions = span_motions(frames, span=10)
    assert all(np.array_equal(m, IDENTITY) for m in motions)
    assert warp_to_reference(frames[2], motions[2]) is frames[2]


def test_a_blank_frame_counts_as_no_motion():
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert all(np.array_equal(m, IDENTITY) for m in span_motions([blank, blank, blank], span=3))


def test_compose_and_locations_move_with_the_camera():
    turn = np.array([[0.0, -2.0, 5.0], [2.0, 0.0, -1.0]])  # x2 zoom, a quarter turn, a shift
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0]])
    p = np.array([7.0, -2.0])
    assert np.allclose(compose(turn, shift)[:, :2] @ p + compose(turn, shift)[:, 2],
                       turn[:, :2] @ (p + [3, 4]) + turn[:, 2])  # fmt: skip
    loc = _to_reference(Location(10.0, 20.0, 50.0, 350.0, 0.7), turn)
    assert (loc.x, loc.y) == pytest.approx((-35.0, 19.0))
    assert loc.length == pytest.approx(100.0) and loc.score == 0.7
    # +90 degrees in image axes (y down) is a clockwise quarter turn on screen: the head's bearing grows by 90
    assert loc.angle == pytest.approx(80.0)


def test_training_scenes_from_a_panning_camera_share_their_background_once_stabilised(tmp_path):
    from tpt_live.videoio import write_video
    from trainer.background import static_share
    from trainer.data import load_scenes

    world = _texture(400, 560, seed=2)
    frames = []
    for i in range(16):  # the camera pans 4 px a frame; a blob (the subject) moves on the world
        view = _moved(world, 40 + 4 * i, 60 + i)
        cv2.circle(view, (150 + 3 * i, 120), 25, (240, 190, 170), -1)
        frames.append(view)
    path = tmp_path / "pan.mp4"
    write_video(path, iter(frames), 8.0, (320, 240))
    plain, steady = (load_scenes([path], 64, locate=True, window_s=2.0, stabilise=s) for s in (False, True))
    assert [len(s.frames) for s in plain] == [len(s.frames) for s in steady] == [16]
    still = [static_share(s[0].frames, s[0].background) for s in (plain, steady)]
    assert still[1] > 0.8 and still[1] > still[0] + 0.2, still
