"""One-Euro filter: smoke, convention (units, timestamps), exceptions."""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.track.smoothing import OneEuroFilter, PoseSmoother, SmoothingConfig


def test_constant_signal_is_unchanged():
    f = OneEuroFilter(SmoothingConfig())
    x = np.array([[3.0, 4.0], [5.0, 6.0]])
    for i in range(5):
        np.testing.assert_allclose(f(x, i / 30), x)


def test_first_step_literal():
    # min_cutoff 1 Hz, beta 0, dt 1/30 s: alpha = 1 / (1 + 30 / (2 pi)) = 0.17312...
    f = OneEuroFilter(SmoothingConfig(min_cutoff=1.0, beta=0.0))
    f(np.zeros(1), 0.0)
    out = f(np.ones(1), 1 / 30)
    np.testing.assert_allclose(out, [1 / (1 + 30 / (2 * np.pi))], rtol=1e-9)


def test_beta_reduces_lag_when_moving():
    slow, fast = OneEuroFilter(SmoothingConfig(beta=0.0)), OneEuroFilter(SmoothingConfig(beta=1.0))
    for i in range(10):
        x = np.array([10.0 * i])
        a, b = slow(x, i / 30), fast(x, i / 30)
    assert abs(b[0] - 90) < abs(a[0] - 90)


def test_disabled_mask_and_non_advancing_time():
    off = OneEuroFilter(SmoothingConfig(enabled=False))
    np.testing.assert_array_equal(off(np.array([1.0, 2.0]), 0.0), [1.0, 2.0])
    f = OneEuroFilter(SmoothingConfig())
    f(np.array([0.0, 0.0]), 0.0)
    out = f(np.array([5.0, 5.0]), 0.1, mask=np.array([True, False]))
    assert out[0] > 0 and out[1] == 0
    np.testing.assert_array_equal(f(np.array([9.0, 9.0]), 0.1), out)  # same time: previous output


def test_pose_smoother_2d_and_3d_shapes():
    s = PoseSmoother(SmoothingConfig())
    xy, kp3d = s.smooth(np.zeros((16, 2)), np.ones(16), 0.0, np.zeros((16, 3)))
    assert xy.shape == (16, 2) and kp3d is not None and kp3d.shape == (16, 3)
    assert s.smooth(np.zeros((16, 2)), np.ones(16), 0.1)[1] is None


@pytest.mark.parametrize("kwargs", [{"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": -2.0}])
def test_bad_settings_raise(kwargs):
    with pytest.raises(InputError):
        SmoothingConfig(**kwargs)
