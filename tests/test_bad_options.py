"""Bad numbers and bad files on the training commands are one line and exit code 2, refused before any work
(each case here was an unexpected error, or a run on nonsense, before; found by a bad-input audit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tpt_live.cli import app
from tpt_live.errors import InputError
from tpt_live.synth import SynthConfig, render_clip, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip")
    write_clip(render_clip(SynthConfig(width=64, height=64, frames=4, seed=4)), out)
    return next(out.glob("*.mp4"))


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["train", "{clip}", "--ckpt-every", "0"], "--ckpt-every"),
        (["train", "{clip}", "--init-rotation", "nan"], "--init-rotation"),
        (["train", "{clip}", "--threads", "-1"], "--threads"),
        (["train", "{clip}", "--anchor-weight", "-1"], "--anchor-weight"),
        (["train-lifter", "{json}", "--lr", "-1"], "--lr"),
        (["train-lifter", "{json}", "--noise", "-1"], "--noise"),
        (["train-lifter", "{json}", "--window", "0"], "--window"),
        (["train-lifter", "{json}", "--body-length", "0"], "--body-length"),
        (["pretrain", "--heatmap", "-1"], "--heatmap"),
        (["pretrain", "--heatmap-sigma", "0"], "--heatmap-sigma"),
        (["pretrain", "--seats", "1.5"], "seats"),
        (["pretrain", "--average-from", "1"], "--average-from"),
        (["pretrain", "--erase", "-0.5"], "--erase"),
        (["train-presence", "--threads", "-1"], "--threads"),
        (["train-presence", "--widths", "foo"], "--widths"),
        (["train-presence", "--clips", "0"], "--clips"),
        (["train-presence", "--epochs", "0"], "--epochs"),
        (["train-posture", "--clips", "0"], "--clips"),
        (["train-posture", "--members", "0"], "--members"),
    ],
)
def test_bad_numbers_are_refused(command: list[str], named: str, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / ("run" if command[0] in ("train", "train-lifter") else "w.safetensors")
    args = [a.format(clip=clip, json=clip.with_suffix(".json")) for a in command] + ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError), (args, result.output, result.exception)
    assert named in str(result.exception) and "\n" not in str(result.exception)
    assert not out.is_file() and not (out / "model.safetensors").exists() and not (out / "lifter.safetensors").exists()


@pytest.mark.parametrize("text", ["not json at all", "[1, 2, 3]", '{"frames": 3}'])
def test_train_lifter_names_a_file_that_is_not_poses(text: str, tmp_path: Path) -> None:
    from trainer.lifter_train import load_sequences

    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(InputError, match="neither `tpt-live track` JSON nor"):
        load_sequences([bad])


@pytest.mark.parametrize("polygon", [[["a", "b"], [1, 2], [3, 4]], [[0, 0], [1], [2, 3]]])
def test_a_crib_polygon_of_non_numbers_is_refused(polygon: list, tmp_path: Path) -> None:
    from tpt_live.monitor.session import load_polygon

    path = tmp_path / "crib.json"
    path.write_text(json.dumps(polygon))
    with pytest.raises(InputError, match="--crib"):
        load_polygon(path)
    path.write_text(json.dumps([[0, 0], [10, 0], [10, 10]]))
    assert np.array_equal(load_polygon(path), np.float32([[0, 0], [10, 0], [10, 10]]))


def test_count_settings_below_one_are_named_not_dumped() -> None:
    from trainer.localiser_train import LocaliserTrainConfig
    from trainer.part_pretrain import PretrainConfig

    with pytest.raises(InputError) as caught:
        LocaliserTrainConfig(clips=0, val_clips=-2)
    assert str(caught.value) == "--clips 0, --val-clips -2: must be 1 or more"
    with pytest.raises(InputError, match=r"^--threads 0: must be 1 or more$"):
        PretrainConfig(threads=0)


def test_a_roi_outside_the_frame_is_refused_by_evaluate_and_train(clip: Path) -> None:
    from tpt_live.crop import CropBox
    from tpt_live.evaluation.evaluate2d import load_labelled
    from trainer.data import decode_video

    outside = CropBox(500, 500, 10, 10)  # the clip is 64 x 64
    with pytest.raises(InputError, match="outside the 64x64 frame"):
        load_labelled(clip.parent, 32, outside)
    with pytest.raises(InputError, match="outside the 64x64 frame"):
        decode_video(clip, 32, outside)
    assert decode_video(clip, 32, CropBox(8, 8, 40, 40)).shape == (4, 32, 32, 3)


def test_train_on_a_missing_source_is_a_source_error(tmp_path: Path) -> None:
    """A missing video is exit code 3 (a source), as for track; a file that is not a video stays a bad argument."""
    from tpt_live.errors import SourceError
    from trainer.data import find_scenes

    with pytest.raises(SourceError, match="no such file or folder"):
        find_scenes([str(tmp_path / "missing.mp4")])
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(InputError, match="is not a video file"):
        find_scenes([str(text)])


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["mocap", "{clip}", "--out", "{tmp}/mc", "--size", "0x0"], "too small"),
        (["mocap", "{clip}", "--out", "{tmp}/mc", "--fps", "-1"], "--fps"),
        (["mocap", "{clip}", "--out", "{tmp}/mc", "--azimuth", "nan"], "bad view"),
        (["bench", "{clip}", "--live-delay-ms", "-5"], "--live-delay-ms"),
    ],
)
def test_bad_camera_and_bench_numbers_are_refused(command: list[str], named: str, clip: Path, tmp_path: Path) -> None:
    args = [a.format(clip=clip, tmp=tmp_path) for a in command]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError), (args, result.output, result.exception)
    assert named in str(result.exception)


def test_a_notify_program_that_does_not_exist_is_refused_at_the_start() -> None:
    from tpt_live.monitor.notify import parse_notify

    with pytest.raises(InputError, match="no program '/nonexistent/prog'"):
        parse_notify("cmd:/nonexistent/prog --flag")
    assert parse_notify("cmd:sh -c 'cat'") == ("cmd", "sh -c 'cat'")


def test_monitor_refuses_a_token_file_without_serve_and_a_crib_outside_the_frame(clip: Path, tmp_path: Path) -> None:
    from tpt_live.monitor.setup import MonitorRequest

    with pytest.raises(InputError, match="needs --serve"):
        MonitorRequest(str(clip), token_file=tmp_path / "token")
    crib = tmp_path / "crib.json"
    crib.write_text(json.dumps([[500, 500], [600, 500], [600, 600]]))  # the clip is 64 x 64
    args = ["monitor", str(clip), "--out", str(tmp_path / "m"), "-q", "--crib", str(crib)]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError) and "outside the frame" in str(result.exception), result.output
    roi = CliRunner().invoke(app, ["monitor", str(clip), "--out", str(tmp_path / "m"), "-q", "--roi", "500,0,10,10"])
    assert isinstance(roi.exception, InputError) and "outside the 64x64 frame" in str(roi.exception), roi.output
    for refused in (result, roi):  # checked on the file before the session opens: the error without the notice
        assert "Not a medical device" not in refused.output and not (tmp_path / "m").exists()


def test_quiet_keeps_verbose_logs() -> None:
    """-q hides INFO lines; with -v as well the debug log (and an unexpected error's traceback) stays."""
    import logging

    from tpt_live.cli.common import quiet_logs

    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.INFO)
        quiet_logs(True)
        assert root.level == logging.WARNING
        root.setLevel(logging.DEBUG)
        quiet_logs(True)
        assert root.level == logging.DEBUG
        root.setLevel(logging.INFO)
        quiet_logs(False)
        assert root.level == logging.INFO
    finally:
        root.setLevel(before)
