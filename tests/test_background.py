import numpy as np
import torch

from trainer.background import estimate_background, foreground_weight, pair_weight, static_share


def _scene(n: int = 20, size: int = 16) -> np.ndarray:
    """A grey static background with a white 3x3 square sliding along row 4 (x = i % 10)."""
    frames = np.full((n, size, size, 3), 90, np.uint8)
    for i in range(n):
        x = i % 10
        frames[i, 3:6, x : x + 3] = 250
    return frames


def test_background_is_the_static_scene_not_the_moving_square():
    frames = _scene()
    bg = estimate_background(frames)
    assert bg.shape == (16, 16, 3) and bg.dtype == np.uint8
    assert (bg == 90).all()  # every pixel is grey in most frames
    assert static_share(frames, bg) > 0.95


def test_weight_is_zero_on_static_background_and_positive_on_the_moving_part():
    frames = _scene()
    bg = torch.from_numpy(estimate_background(frames)).permute(2, 0, 1)[None].float() / 255
    x = torch.from_numpy(frames[4]).permute(2, 0, 1)[None].float() / 255  # square at columns 4-6
    w = foreground_weight(x, bg)
    assert w.shape == (1, 1, 16, 16)
    assert w[0, 0, 12, 12] == 0.0  # static background pixel
    assert w[0, 0, 4, 5] == 1.0  # the moving square
    assert w[0, 0, 4, 12] == 0.0  # the square's row, far from it
    noisy = x + 0.03 * (torch.rand_like(x) - 0.5)  # compression-size noise stays background
    assert foreground_weight(noisy, bg)[0, 0, 12, 12] == 0.0


def test_pair_weight_covers_the_subject_in_both_frames():
    frames = _scene()
    bg = torch.from_numpy(estimate_background(frames)).permute(2, 0, 1)[None].float() / 255
    x, y = (torch.from_numpy(frames[i]).permute(2, 0, 1)[None].float() / 255 for i in (0, 7))
    w = pair_weight(x, y, bg)
    assert w[0, 0, 4, 1] == 1.0 and w[0, 0, 4, 8] == 1.0  # square in the pose frame / in the appearance frame
    assert w[0, 0, 12, 12] == 0.0
