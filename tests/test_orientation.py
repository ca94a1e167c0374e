"""Files are read the way up they are shown: a video's display matrix (a phone's portrait clip stored landscape) and
a photo's EXIF orientation turn the frames for track, train, evaluate and monitor alike (`tpt_live.videoio.upright`)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from track_helpers import tiny_model_file, write_video

from tpt_live.track.sources import VideoSource, resolve_sources
from tpt_live.videoio import display_turns, read_video

# the track header's display matrix (16.16 and 2.30 fixed point) of a clip shown turned 1, 2, 3 quarter turns clockwise
MATRIX = {
    1: (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30),
    2: (-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30),
    3: (0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30),
    "mirror": (-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30),  # left-right: FFmpeg's `rotation` calls it a half turn
}


def turned_clip(src, turns: int | str, out):
    """A copy of the MP4 `src` whose track header says: show me turned `turns` quarter turns clockwise."""
    data = bytearray(src.read_bytes())
    at = data.index(b"tkhd")
    assert data[at + 4] == 0  # header version 0: the matrix starts 40 bytes after the version byte
    data[at + 44 : at + 80] = struct.pack(">9i", *MATRIX[turns])
    out.write_bytes(bytes(data))
    return out


def stored_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def jpeg_with_orientation(image: np.ndarray, orientation: int, out):
    """`image` (BGR) as a JPEG whose EXIF says `orientation` (6: turn 90 degrees clockwise to show)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = b"MM\x00\x2a" + struct.pack(">IHHHIHHI", 8, 1, 0x0112, 3, 1, orientation, 0, 0)
    payload = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    out.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    return out


@pytest.mark.parametrize(
    ("rotation", "turns"), [(0, 0), (-90, 1), (-180, 2), (180, 2), (90, 3), (-89.7, 1), (270, 1), (None, 0)]
)
def test_display_turns_reads_ffmpegs_rotation(rotation, turns):
    frame = SimpleNamespace() if rotation is None else SimpleNamespace(rotation=rotation)  # None: a PyAV without it
    assert display_turns(frame) == turns


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_clip_with_a_display_matrix_is_read_upright(tmp_path, turns):
    plain = write_video(tmp_path / "plain.mp4", 3, 96, 64)  # the bright square at rows 20-35, cols 0-15 on frame 0
    clip = turned_clip(plain, turns, tmp_path / "turned.mp4")
    stored = stored_frames(clip)
    assert stored[0].shape == (64, 96, 3)  # stored as written
    shown = list(read_video(clip))
    assert len(shown) == 3
    for raw, seen in zip(stored, shown, strict=True):
        assert np.array_equal(seen, np.rot90(raw, -turns))
    bright = np.argwhere(shown[0].mean(axis=2) > 150)
    corner = {1: (0, 28), 2: (28, 80), 3: (80, 20)}[turns]  # where the square's top-left lands once shown
    assert tuple(bright.min(axis=0)) == pytest.approx(corner, abs=1)


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_the_tracker_sees_what_training_and_evaluation_see(tmp_path, turns):
    clip = turned_clip(write_video(tmp_path / "plain.mp4", 4, 96, 64), turns, tmp_path / "turned.mp4")
    src = VideoSource(resolve_sources([str(clip)])[0], 32, want_image=True)
    assert (src.info.width, src.info.height) == ((64, 96) if turns % 2 else (96, 64))
    frames = list(src.frames())
    assert len(frames) == 4 and all(f.image is not None and f.image.shape[:2] == (src.info.height, src.info.width)
                                    for f in frames)  # fmt: skip
    for f, shown, seen in zip(frames, read_video(clip), read_video(clip, 32), strict=True):
        assert np.array_equal(f.net, seen)  # the model input: letterboxed from the upright frame
        assert np.array_equal(f.image[..., ::-1], shown)
    if turns % 2:
        assert frames[0].net[:, :5].max() < 20 and frames[0].net[:, -5:].max() < 20  # a portrait frame: bars beside


def test_a_photo_with_an_exif_orientation_is_read_as_opencv_and_evaluate_read_it(tmp_path):
    image = np.zeros((60, 120, 3), np.uint8)
    image[:, :30] = (40, 200, 250)  # a bright band down the stored left edge
    photo = jpeg_with_orientation(image, 6, tmp_path / "photo.jpg")
    opencv = cv2.imread(str(photo), cv2.IMREAD_COLOR)  # OpenCV applies the EXIF orientation (COCO evaluation reads so)
    assert opencv.shape == (120, 60, 3)
    src = VideoSource(resolve_sources([str(photo)])[0], 32, want_image=True)
    assert (src.info.width, src.info.height) == (60, 120)
    frame = next(iter(src.frames()))
    assert frame.image is not None and frame.image.shape == (120, 60, 3)
    assert np.array_equal(frame.image, opencv)  # the same decoder: the pixels evaluate reads
    assert frame.image[:25].mean() > 120 and frame.image[35:].mean() < 20  # the band is now along the top


def test_track_writes_upright_coordinates_and_checks_a_region_against_the_shown_frame(tmp_path):
    clip = turned_clip(write_video(tmp_path / "plain.mp4", 3, 96, 64), 1, tmp_path / "turned.mp4")
    model = tiny_model_file(tmp_path)
    cli = [sys.executable, "-c", "from tpt_live.cli import main; main()", "track", str(clip), "--model", str(model)]
    out = tmp_path / "poses.json"
    r = subprocess.run([*cli, "--out", str(out), "--roi", "0,70,40,20", "-q"], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr  # rows 70-89: only in the frame as shown (64 x 96)
    doc = json.loads(out.read_text())
    assert (doc["source"]["width"], doc["source"]["height"]) == (64, 96) and len(doc["frames"]) == 3
    kp = np.array([f["kp2d"] for f in doc["frames"]])[..., :2]
    assert kp.shape == (3, 16, 2) and (kp[..., 1] >= 59).all()  # in the region's square box (rows 60-99)
    r = subprocess.run([*cli, "--out", str(out), "--roi", "70,0,20,20", "-q"], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 2 and "--roi" in r.stderr  # in the stored frame, not the shown one


def test_the_monitor_checks_its_region_against_the_shown_frame(tmp_path, monkeypatch):
    from tpt_live.crop import CropBox
    from tpt_live.errors import InputError
    from tpt_live.monitor import setup

    clip = turned_clip(write_video(tmp_path / "plain.mp4", 3, 96, 64), 1, tmp_path / "turned.mp4")

    class Checked(Exception):
        """Raised where the models would load: the regions passed their check."""

    def loaded(*_args, **_kwargs):
        raise Checked

    monkeypatch.setattr(setup, "load_presence", loaded)
    with pytest.raises(Checked):  # rows 70-89 exist only in the frame as shown (64 x 96)
        setup.open_session(setup.MonitorRequest(str(clip), out=tmp_path / "m", roi=CropBox(0, 70, 40, 20)), loaded)
    with pytest.raises(InputError, match="--roi 70,0,20,20 lies outside the 64x96 frame"):
        setup.open_session(setup.MonitorRequest(str(clip), out=tmp_path / "m", roi=CropBox(70, 0, 20, 20)), loaded)


@pytest.mark.parametrize(("declared", "read_as"), [((60, 120), (60, 120)), ((120, 60), (120, 60)), (None, (60, 120))])
def test_coco_photos_are_read_in_the_orientation_their_annotation_was_made_on(tmp_path, declared, read_as):
    """EXIF orientation 6 on a 120 x 60 stored photo: shown 60 x 120. A COCO file whose width and height are the
    stored ones was annotated on the stored picture; otherwise (or when it gives none) on the shown one."""
    from tpt_live.crop import full_box
    from tpt_live.evaluation.coco import CocoConfig, cuts, load_coco

    image = np.zeros((60, 120, 3), np.uint8)
    image[:, :30] = 255
    jpeg_with_orientation(image, 6, tmp_path / "photo.jpg")
    kp = np.zeros((17, 3))
    kp[[5, 6, 11, 12]] = [[20, 10, 2], [40, 10, 2], [20, 40, 2], [40, 40, 2]]  # shoulders and hips: a torso
    entry = {"id": 1, "file_name": "photo.jpg"} | ({"width": declared[0], "height": declared[1]} if declared else {})
    doc = {
        "images": [entry],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 40, 45], "keypoints": kp.ravel().tolist()}
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": [str(i) for i in range(17)]}],
    }
    (tmp_path / "people.json").write_text(json.dumps(doc))
    cut = cuts(load_coco(tmp_path / "people.json"), "image", 32, CocoConfig())[0]
    assert cut.box == full_box(*read_as)
    bright = np.argwhere(cut.net.mean(axis=2) > 128)  # the band, letterboxed into 32 x 32: (row, col) ranges
    # shown: along the top of a portrait picture with bars beside it; stored: down the left of a landscape one
    rows, cols = ((0, 8), (8, 23)) if read_as == (60, 120) else ((8, 23), (0, 8))
    assert bright.size and rows[0] <= bright[:, 0].min() and bright[:, 0].max() <= rows[1]
    assert cols[0] <= bright[:, 1].min() and bright[:, 1].max() <= cols[1]


@pytest.mark.parametrize("rotation", [-2147483648, float("nan"), float("inf")])
def test_a_matrix_ffmpeg_cannot_read_as_a_turn_leaves_the_frame_as_stored(rotation):
    assert display_turns(SimpleNamespace(rotation=rotation)) == 0


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_photos_are_read_as_opencv_reads_them_mirrors_included(tmp_path, orientation):
    image = np.zeros((60, 120, 3), np.uint8)
    image[:20, :30] = (40, 200, 250)  # a bright corner: every orientation puts it elsewhere
    photo = jpeg_with_orientation(image, orientation, tmp_path / "photo.jpg")
    opencv = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    frame = next(iter(VideoSource(resolve_sources([str(photo)])[0], 32, want_image=True).frames()))
    assert frame.image is not None and np.array_equal(frame.image, opencv)


def test_a_folder_of_photos_turned_differently_makes_one_overlay_video(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    image = np.zeros((64, 96, 3), np.uint8)
    image[20:36, :16] = 255
    for i, orientation in enumerate((1, 6, 1)):  # a phone's folder: the second photo held upright
        jpeg_with_orientation(image, orientation, folder / f"{i}.jpg")
    model = tiny_model_file(tmp_path)
    video = tmp_path / "overlay.mp4"
    cli = [sys.executable, "-c", "from tpt_live.cli import main; main()", "track", str(folder), "--model", str(model)]
    r = subprocess.run([*cli, "--out", str(tmp_path / "p.json"), "--save-video", str(video), "-q"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    frames = stored_frames(video)
    assert len(frames) == 3 and all(f.shape == (64, 96, 3) for f in frames)
    assert frames[1][:, :24].max() < 40 and frames[1][:, -24:].max() < 40  # the portrait photo, bars beside it
    assert frames[1][:, 24:-24].max() > 200


def test_a_mirroring_display_matrix_leaves_the_clip_as_stored(tmp_path):
    clip = turned_clip(write_video(tmp_path / "plain.mp4", 2, 96, 64), "mirror", tmp_path / "mirror.mp4")
    with av.open(str(clip)) as c:
        assert next(iter(c.decode(video=0))).rotation == pytest.approx(-180)  # what FFmpeg's rotation says
    for raw, seen in zip(stored_frames(clip), read_video(clip), strict=True):
        assert np.array_equal(seen, raw)  # not turned upside down
