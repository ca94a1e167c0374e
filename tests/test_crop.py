"""Crop geometry: conventions pinned with hand-computed literals (x=col, y=row, pixel centres at integers)."""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.crop import (
    CropBox,
    FollowConfig,
    check_roi,
    crop_resize,
    follow_box,
    full_box,
    parse_roi,
    paste,
    plan_resize,
    shrink,
    square_box,
    to_model,
    to_source,
)
from tpt_live.errors import InputError


def test_full_box_letterboxes_the_long_side():
    assert full_box(640, 480) == CropBox(0, -80, 640, 640)
    assert full_box(480, 640) == CropBox(-80, 0, 640, 640)


def test_to_source_convention_literals():
    box = CropBox(0, -80, 640, 640)  # 640x480 frame letterboxed into 64x64
    pts = np.array([[0.0, 0.0], [63.0, 63.0], [31.5, 31.5]])
    np.testing.assert_allclose(to_source(pts, box, 64), [[4.5, -75.5], [634.5, 554.5], [319.5, 239.5]])
    # a box as large as the input is a plain shift
    np.testing.assert_allclose(to_source(np.array([3.0, 4.0]), CropBox(10, 20, 64, 64), 64), [13.0, 24.0])


def test_to_model_inverts_to_source():
    box = CropBox(-7, 13, 200, 200)
    pts = np.array([[1.25, 60.0], [32.0, 0.0]])
    np.testing.assert_allclose(to_model(to_source(pts, box, 64), box, 64), pts)


def test_plan_resize_full_frame():
    plan = plan_resize(640, 480, full_box(640, 480), 64)
    assert (plan.scaled_w, plan.scaled_h, plan.off_x, plan.off_y) == (64, 48, 0, 8)
    assert plan.box == CropBox(0, -80, 640, 640)


def test_plan_resize_roi_inside_frame():
    plan = plan_resize(640, 480, CropBox(320, 240, 160, 160), 64)
    assert (plan.scaled_w, plan.scaled_h, plan.off_x, plan.off_y) == (256, 192, -128, -96)
    assert plan.box == CropBox(320, 240, 160, 160)


def test_paste_pads_black_and_cuts():
    scaled = np.full((48, 64, 3), 7, np.uint8)
    plan = plan_resize(640, 480, full_box(640, 480), 64)
    canvas = paste(scaled, plan, 64)
    assert canvas.shape == (64, 64, 3)
    assert canvas[:8].max() == 0 and canvas[56:].max() == 0 and canvas[8:56].min() == 7


def test_crop_resize_pads_outside_the_frame():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2)
    out = crop_resize(image, CropBox(-1, -1, 4, 4), 4)
    assert out[0].max() == 0 and out[:, 0].max() == 0
    np.testing.assert_array_equal(out[1:, 1:, 0], image[:3, :3, 0])


def test_square_box_keeps_centre():
    assert square_box(CropBox(10, 20, 100, 50)) == CropBox(10, -5, 100, 100)


def test_follow_box_literals():
    xy = np.array([[100.0, 50.0], [200.0, 150.0], [150.0, 100.0], [120.0, 80.0]])
    box = follow_box(xy, np.ones(4), 640, 480, FollowConfig(margin=0.3, min_side=0.25))
    assert box == CropBox(70, 20, 160, 160)  # extent 100 * 1.6 = 160, centred on (150, 100)


def test_follow_box_stays_in_frame_and_gives_up_on_low_scores():
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0], [2.0, 8.0]])
    box = follow_box(xy, np.ones(4), 640, 480, FollowConfig())
    assert box is not None and box.x == 0 and box.y == 0 and box.w == 160
    assert follow_box(xy, np.full(4, 0.1), 640, 480, FollowConfig()) is None


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,-5,10", ""])
def test_parse_roi_rejects_bad_text(text):
    with pytest.raises(InputError, match="--roi"):
        parse_roi(text)


def test_parse_roi_and_check():
    assert parse_roi("10, 20, 30, 40") == CropBox(10, 20, 30, 40)
    assert parse_roi("100,100,2,2") == CropBox(100, 100, 2, 2)  # the smallest region
    with pytest.raises(InputError, match=r"is 1x1 pixels: width and height must be at least 2"):
        parse_roi("100,100,1,1")
    with pytest.raises(InputError, match="outside"):
        check_roi(CropBox(700, 0, 10, 10), 640, 480)


def test_turn_conventions_with_literals():
    from tpt_live.crop import turn_input, unturn_points

    image = np.zeros((4, 4, 1), np.uint8)
    image[0, 3] = 1  # x=3, y=0: top right
    turned = turn_input(image, 1)  # one counter-clockwise quarter turn: top right -> top left
    assert turned[0, 0, 0] == 1 and turned.sum() == 1
    np.testing.assert_allclose(unturn_points(np.array([[0.0, 0.0]]), 1, 4), [[3.0, 0.0]])
    np.testing.assert_allclose(unturn_points(np.array([[0.0, 0.0]]), 2, 4), [[3.0, 3.0]])
    np.testing.assert_allclose(unturn_points(np.array([[0.0, 0.0]]), 3, 4), [[0.0, 3.0]])
    np.testing.assert_allclose(unturn_points(np.array([[1.5, 2.0]]), 4, 4), [[1.5, 2.0]])


def test_shrink_halves_exactly_then_area_filters():
    import cv2

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)
    means = image.reshape(64, 4, 48, 4, 3).astype(float).mean(axis=(1, 3))  # 4 x 4 block means
    out = shrink(image, 48, 64)
    assert out.shape == (64, 48, 3) and np.abs(out - means).max() <= 1.0  # two exact halvings, rounded twice
    odd = image[:255, :191]  # odd sides cannot halve: one area resize, as before
    assert np.array_equal(shrink(odd, 60, 80), cv2.resize(odd, (60, 80), interpolation=cv2.INTER_AREA))
    smooth = cv2.GaussianBlur(image, (9, 9), 3)  # 256 -> 128 exactly, then 128 -> 100 by area
    diff = np.abs(shrink(smooth, 75, 100).astype(int) - cv2.resize(smooth, (75, 100), interpolation=cv2.INTER_AREA))
    assert diff.mean() < 1.0
    assert np.array_equal(shrink(image[:8, :8], 16, 16), cv2.resize(image[:8, :8], (16, 16)))  # growing: bilinear
