"""Tests of the PyAV helpers in `tpt_live.videoio`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tpt_live.crop import CropBox, letterbox
from tpt_live.errors import InputError, SourceError
from tpt_live.videoio import read_image_folder, read_video, write_video


def _frames(n: int = 8, h: int = 48, w: int = 64) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return [
        np.stack([(xx * 4 + i * 8) % 256, yy * 5 % 256, np.full_like(xx, 128)], -1).astype(np.uint8) for i in range(n)
    ]


def test_roundtrip_count_shape_and_values(tmp_path: Path) -> None:
    frames = _frames()
    assert write_video(tmp_path / "a.mp4", frames, 30.0, (64, 48)) == 8
    decoded = list(read_video(tmp_path / "a.mp4"))
    assert len(decoded) == 8 and decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    assert np.abs(decoded[3].astype(int) - frames[3].astype(int)).mean() < 6.0  # lossy but close


def test_same_frames_same_bytes(tmp_path: Path) -> None:
    # with x264's macroblock tree on, 122 of 300 encodes of these frames differed from the most common one
    write_video(tmp_path / "a.mp4", _frames(), 25.0, (64, 48))
    first = (tmp_path / "a.mp4").read_bytes()
    for _ in range(40):
        write_video(tmp_path / "b.mp4", iter(_frames()), 25.0, (64, 48))
        assert (tmp_path / "b.mp4").read_bytes() == first


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        list(read_video(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(SourceError):
        list(read_video(junk))
    with pytest.raises(InputError):
        write_video(tmp_path / "odd.mp4", _frames(w=63), 30.0, (63, 48))
    with pytest.raises(InputError):
        write_video(tmp_path / "wrong.mp4", _frames(), 30.0, (32, 32))
    with pytest.raises(InputError):
        write_video(tmp_path / "fps.mp4", _frames(), 0.0, (64, 48))


def test_letterbox_literals() -> None:
    plan = letterbox(640, 480, 64)  # one scale (0.1) for both axes, 8 black rows above and below
    assert (plan.scaled_w, plan.scaled_h, plan.off_x, plan.off_y) == (64, 48, 0, 8)
    assert plan.box == CropBox(0, -80, 640, 640)
    plan = letterbox(1080, 1920, 64)  # portrait: 36 columns wide, 14 black columns each side
    assert (plan.scaled_w, plan.scaled_h, plan.off_x, plan.off_y) == (36, 64, 14, 0)
    assert plan.box == CropBox(-420, 0, 1920, 1920)


def test_sized_reads_letterbox_never_squash(tmp_path: Path) -> None:
    """A 64x32 frame, left half red, right half blue, read at 16 px: 4 black rows, then 8 rows of colour."""
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :32, 0] = 250
    frame[:, 32:, 2] = 250
    write_video(tmp_path / "a.mp4", [frame] * 2, 30.0, (64, 32))
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    for small in (next(read_video(tmp_path / "a.mp4", 16)), next(read_image_folder(tmp_path / "img", 16))):
        assert small.shape == (16, 16, 3)
        assert small[:4].max() < 20 and small[12:].max() < 20  # black bars
        assert small[5:11, 1:7, 0].min() > 200 and small[5:11, 1:7, 2].max() < 40  # red left
        assert small[5:11, 9:15, 2].min() > 200 and small[5:11, 9:15, 0].max() < 40  # blue right


def test_transcode_changes_every_frame_and_keeps_the_rate(tmp_path: Path) -> None:
    from tpt_live.videoio import transcode, video_fps

    frames = _frames()
    write_video(tmp_path / "a.mp4", frames, 15.0, (64, 48))
    assert transcode(tmp_path / "a.mp4", tmp_path / "out" / "b.mp4", lambda f: f[::2, ::-1].copy()) == 64
    got = list(read_video(tmp_path / "out" / "b.mp4"))
    assert len(got) == 8 and got[0].shape == (24, 64, 3) and video_fps(tmp_path / "out" / "b.mp4") == 15.0
    assert np.abs(got[5].astype(int) - frames[5][::2, ::-1].astype(int)).mean() < 8.0  # mirrored, every other row
    with pytest.raises(SourceError, match="not found"):
        transcode(tmp_path / "none.mp4", tmp_path / "c.mp4", lambda f: f)
    assert not (tmp_path / "c.mp4").exists()
