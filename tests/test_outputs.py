"""Every output format validates against tpt_live/track/schemas/poses.schema.json; .json stays valid while growing."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from track_helpers import FakeBackend, write_video

from tpt_live.errors import InputError
from tpt_live.track.outputs import CSV_COLUMNS, JsonWriter, guess_format, output_path, validate
from tpt_live.track.pipeline import TrackConfig
from tpt_live.track.runner import TrackRequest, run_track


def _open_fake(model, backend="auto", device="auto", precision="fp32", flip=False):
    return FakeBackend(kp3d=True)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", 6, 64, 48)


def _run(video, out, fmt, **kw):
    (summary,) = run_track(TrackRequest((str(video),), out, fmt=fmt, **kw), _open_fake)
    assert summary.error is None and summary.ok == 6
    return summary


def test_json(video, tmp_path):
    s = _run(video, tmp_path / "p.json", "json", config=TrackConfig(batch=4))
    doc = json.loads((tmp_path / "p.json").read_text())
    validate(doc, "json_file")
    assert s.output == str(tmp_path / "p.json") and len(doc["frames"]) == 6
    assert doc["source"]["width"] == 64 and doc["keypoints"][0] == "pelvis" and doc["frames"][0]["kp3d"]


def test_jsonl(video, tmp_path):
    _run(video, tmp_path / "p.jsonl", None)
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    validate(lines[0], "header")
    for rec in lines[1:]:
        validate(rec, "frame")
    assert len(lines) == 7


def _typed(row):
    def num(v, kind=float):
        return None if v == "" else kind(v)

    out = {k: num(row[k]) for k in CSV_COLUMNS if k not in ("idx", "status", "joint")}
    return {**out, "idx": int(row["idx"]), "status": row["status"], "joint": row["joint"] or None}


def test_csv(video, tmp_path):
    _run(video, tmp_path / "p.csv", "csv")
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    for row in rows:
        validate(_typed(row), "csv_row")
    validate(json.loads((tmp_path / "p.csv.meta.json").read_text()), "header")
    assert len(rows) == 6 * 16


def test_openpose(video, tmp_path):
    _run(video, tmp_path / "op", "openpose")
    files = sorted((tmp_path / "op").glob("clip_*_keypoints.json"))
    assert len(files) == 6
    for f in files:
        validate(json.loads(f.read_text()), "openpose_frame")
    validate(json.loads((tmp_path / "op" / "header.json").read_text()), "header")
    assert len(json.loads(files[0].read_text())["people"][0]["pose_keypoints_2d"]) == 48


def test_coco(video, tmp_path):
    _run(video, tmp_path / "c.json", "coco")
    doc = json.loads((tmp_path / "c.json").read_text())
    validate(doc, "coco_file")
    assert len(doc["images"]) == 6 and len(doc["annotations"]) == 6


def test_several_sources_go_to_a_folder(video, tmp_path):
    other = tmp_path / "other.mp4"
    other.write_bytes(video.read_bytes())
    summaries = run_track(TrackRequest((str(video), str(other)), tmp_path / "out", fmt="jsonl"), _open_fake)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.jsonl", "other.jsonl"]
    assert all(s.ok == 6 for s in summaries)


def test_json_writer_is_valid_after_every_record(tmp_path):
    header = json.loads(json.dumps({"schema": "x", "n": 1}))
    w = JsonWriter(tmp_path / "a.json", header, flush_every=0.0)
    for i in range(3):
        w.write({"idx": i, "t": i / 30, "status": "dropped"})
        w._f.flush()
        assert len(json.loads((tmp_path / "a.json").read_text())["frames"]) == i + 1
    w.close()
    assert json.loads((tmp_path / "a.json").read_text())["n"] == 1


def test_json_writer_closes_valid_when_a_record_was_cut_short(tmp_path):
    """Ctrl-C between writing a record over the closing bytes and writing them again (seen under load in CI)."""
    w = JsonWriter(tmp_path / "b.json", {"schema": "x"}, flush_every=0.0)
    w.write({"idx": 0, "t": 0.0, "status": "dropped"})
    w._f.seek(w._end)
    w._f.write(b',\n{"idx":1,"t":0.03,"status":"ok","kp2d":[[1.0,2.0')  # the record, the tail not rewritten
    w.close()
    doc = json.loads((tmp_path / "b.json").read_text())
    assert [f["idx"] for f in doc["frames"]] == [0]


def test_format_and_path_rules(tmp_path):
    assert guess_format(tmp_path / "a.csv", None) == "csv" and guess_format(tmp_path / "a", None) == "json"
    with pytest.raises(InputError, match=r"unknown suffix \.xyz"):
        guess_format(tmp_path / "o7.xyz", None)
    assert guess_format(tmp_path / "o7.xyz", "csv") == "csv"  # --format decides
    assert guess_format(tmp_path / "runs.v1", None, many=True) == "json"  # a folder of outputs
    (tmp_path / "dir.v2").mkdir()
    assert guess_format(tmp_path / "dir.v2", None) == "json"
    assert output_path(tmp_path / "a.json", "json", "v", many=False) == tmp_path / "a.json"
    assert output_path(tmp_path / "o", "coco", "v", many=True) == tmp_path / "o" / "v.json"
    assert output_path(tmp_path / "o", "openpose", "v", many=True) == tmp_path / "o" / "v"


def test_overlay_video_is_written(video, tmp_path):
    import av

    _run(video, tmp_path / "p.json", "json", save_video=tmp_path / "o.mp4")
    with av.open(str(tmp_path / "o.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and len(list(c.decode(s))) == 6 and not c.streams.audio


@pytest.mark.parametrize("width", [128, 256, 320, 640, 1920])
def test_hud_text_fits_the_frame_and_scales_with_it(width):
    from tpt_live.track.overlay import Overlay, hud_font, hud_line
    from tpt_live.track.pipeline import Result
    from tpt_live.track.sources import Frame

    text = hud_line(29.97, 0.0123, 1234)
    scale, thick = hud_font(text, width)
    text_w = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0]
    assert text_w <= width - 4  # inside the frame, margins included
    if width >= 640:
        assert scale == pytest.approx(0.6 * width / 640)  # in proportion to the width
    image = np.zeros((width * 3 // 4, width, 3), np.uint8)
    Overlay(None, 64).draw(image, Result(Frame(0, 0.0, "ok")), text)
    cols = np.flatnonzero(image.max(axis=(0, 2)) > 200)  # the white text
    assert cols.size and cols.max() < width - 1 and cols.min() > 0  # drawn, and not cut at either edge
