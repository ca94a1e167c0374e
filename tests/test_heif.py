"""HEIC/HEIF photos (a phone's default) are read as they are shown, by `track`, `evaluate` and training alike
(`tpt_live.videoio.read_image`, pi-heif). The tests write their HEIC files with pillow-heif (a dev dependency)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from track_helpers import tiny_model_file

from tpt_live.errors import InputError
from tpt_live.synth import SynthConfig, render_clip
from tpt_live.track.sources import VideoSource, resolve_sources
from tpt_live.videoio import read_image, read_image_folder, read_photo

pillow_heif = pytest.importorskip("pillow_heif")


def heic(image_bgr: np.ndarray, out, orientation: int = 1):
    """`image_bgr` as a lossless HEIC file that says: show me after EXIF `orientation` (6: a quarter turn clockwise;
    pillow-heif writes it as the file's own rotation, which libheif applies)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(str(out), quality=-1, exif=exif.tobytes())
    return out


def synth_frame() -> np.ndarray:
    """A synthetic infant (BGR, 96 x 128), with a bright block in the stored top-left corner."""
    clip = render_clip(SynthConfig(frames=1, width=128, height=96, seed=3))
    image = np.ascontiguousarray(clip.frames[0][..., ::-1])
    image[:16, :24] = (40, 220, 250)
    return image


def test_a_heic_photo_is_read_turned_as_it_is_shown(tmp_path):
    image = synth_frame()
    plain = read_image(heic(image, tmp_path / "plain.heic"))
    assert plain is not None and plain.shape == image.shape and plain.dtype == np.uint8
    assert np.abs(plain.astype(int) - image).mean() < 4  # lossless but for the colour conversion
    turned = read_image(heic(image, tmp_path / "turned.HEIC", orientation=6))
    assert turned is not None and turned.shape == (128, 96, 3)
    want = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)  # the block moves to the top-right corner
    assert np.abs(turned.astype(int) - want).mean() < 4
    block = np.array((40, 220, 250))
    assert np.abs(turned[:24, -16:] - block).mean() < 8 and np.abs(turned[:16, :24] - block).mean() > 50
    rgb = read_photo(tmp_path / "turned.HEIC")  # COCO evaluation reads the same pixels
    assert np.array_equal(rgb, turned[..., ::-1])


def test_track_reads_heic_photos_in_a_folder_with_jpegs(tmp_path):
    image = synth_frame()
    folder = tmp_path / "photos"
    folder.mkdir()
    heic(image, folder / "a.heic", orientation=6)
    cv2.imwrite(str(folder / "b.jpg"), image)
    frames = list(read_image_folder(folder))  # `train` and engine calibration read folders so
    assert [f.shape for f in frames] == [(128, 96, 3), (96, 128, 3)]
    src = VideoSource(resolve_sources([str(folder / "a.heic")])[0], 32, want_image=True)
    assert (src.info.width, src.info.height) == (96, 128)  # the size as shown
    model = tiny_model_file(tmp_path)
    out = tmp_path / "poses.json"
    cli = [sys.executable, "-c", "from tpt_live.cli import main; main()", "track", str(folder), "--model", str(model)]
    r = subprocess.run([*cli, "--out", str(out), "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert len(doc["frames"]) == 2 and (doc["source"]["width"], doc["source"]["height"]) == (96, 128)


def test_a_damaged_heic_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.heic"
    bad.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    assert read_image(bad) is None
    with pytest.raises(InputError, match="cannot read image"):
        read_photo(bad)
    model = tiny_model_file(tmp_path)
    cli = [sys.executable, "-c", "from tpt_live.cli import main; main()", "track", str(bad), "--model", str(model)]
    r = subprocess.run([*cli, "--out", str(tmp_path / "p.json"), "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and "bad.heic: not a readable image" in r.stderr and "Traceback" not in r.stderr


def test_one_heic_photo_is_read_as_shown_as_background_footage_and_calibration_frames(tmp_path):
    from engines.frames import read_frames
    from trainer.real_frames import RealFrames

    image = synth_frame()
    photo = heic(image, tmp_path / "empty_cot.heic", orientation=6)
    (frame,) = RealFrames([str(photo)]).frames  # one photo, not a video of one frame (FFmpeg reads HEIF unturned)
    assert frame.shape == (128, 96, 3)
    assert np.abs(frame.astype(int) - cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)[..., ::-1]).mean() < 4
    calibration = read_frames(photo, 64)
    assert calibration.shape == (1, 64, 64, 3) and calibration[0, :, :8].max() < 8  # portrait: bars left and right


def test_a_16_bit_grey_heic_is_brought_to_8_bits(tmp_path):
    grey = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21) & 0xFFF0  # 16-bit words (stored at 10 bits)
    out = tmp_path / "night.heif"
    pillow_heif.from_bytes("I;16", (64, 48), grey.tobytes()).save(str(out), quality=-1)
    read = read_image(out)
    assert read is not None and read.shape == (48, 64, 3) and read.dtype == np.uint8
    assert (read[..., 0] == read[..., 2]).all()  # grey
    assert np.abs(read[..., 0].astype(int) - (grey >> 8)).mean() < 4


def test_read_image_folder_refuses_what_is_neither_a_folder_nor_a_photo(tmp_path):
    from tpt_live.errors import SourceError

    (tmp_path / "clip.mp4").write_bytes(b"")
    for path in (tmp_path / "clip.mp4", tmp_path / "missing"):
        with pytest.raises(SourceError, match="neither an image folder nor a photo"):
            list(read_image_folder(path))


def test_a_coco_size_of_the_stored_heic_picture_is_read_as_shown_with_a_warning(tmp_path, caplog):
    photo = heic(synth_frame(), tmp_path / "turned.heic", orientation=6)
    with caplog.at_level("WARNING", logger="tpt_live.videoio"):
        rgb = read_photo(photo, (128, 96))  # the stored size: pi-heif cannot read the stored picture
    assert rgb.shape == (128, 96, 3) and "stored size" in caplog.text
