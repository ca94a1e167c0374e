"""scripts/grey_clip.py: a clip or a folder of photos as a night-vision camera shows them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

from tpt_live.videoio import read_video, write_video

_SPEC = importlib.util.spec_from_file_location("grey_clip", Path(__file__).parents[1] / "scripts" / "grey_clip.py")
assert _SPEC is not None and _SPEC.loader is not None
grey_clip = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(grey_clip)


def _run(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["grey_clip.py", *args])
    grey_clip.main()


def test_grey_is_the_channel_mean_and_the_noise_has_its_std() -> None:
    frame = np.zeros((40, 50, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 30, 90, 150  # mean 90
    flat = grey_clip.grey(frame, 0.0, np.random.default_rng(0))
    assert flat.shape == frame.shape and flat.dtype == np.uint8
    assert (flat == 90).all()
    noisy = grey_clip.grey(frame, 6.0, np.random.default_rng(0)).astype(float)
    assert (noisy[..., 0] == noisy[..., 2]).all()  # the same grey in every channel
    assert abs(noisy.mean() - 90) < 0.5 and 5.5 < noisy[..., 0].std() < 6.5


def test_a_clip_keeps_its_frames_size_and_order(tmp_path: Path, monkeypatch) -> None:
    frames = [np.full((48, 64, 3), (10 * i, 200, 40), np.uint8) for i in range(6)]
    write_video(tmp_path / "c.mp4", frames, 10.0, (64, 48))
    _run(monkeypatch, str(tmp_path / "c.mp4"), "--out", str(tmp_path / "g.mp4"))
    out = list(read_video(tmp_path / "g.mp4"))
    assert len(out) == 6 and out[0].shape == (48, 64, 3)
    for i, f in enumerate(out):
        f = f.astype(float)
        assert np.abs(f[..., 0] - f[..., 1]).max() <= 3  # grey (up to the codec's chroma rounding)
        assert abs(f.mean() - (10 * i + 240) / 3) < 4  # the channel mean of frame i, in order


def test_a_folder_of_photos_is_greyed_and_its_other_files_copied(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    photo = np.zeros((20, 30, 3), np.uint8)
    photo[..., 2] = 240  # pure red in BGR: grey level 80
    cv2.imwrite(str(src / "a.png"), photo)
    (src / "people.json").write_text('{"images": []}')
    _run(monkeypatch, str(src), "--out", str(tmp_path / "grey"))
    out = cv2.imread(str(tmp_path / "grey" / "a.png"))
    assert out.shape == (20, 30, 3) and (out == 80).all()
    assert (tmp_path / "grey" / "people.json").read_text() == '{"images": []}'
