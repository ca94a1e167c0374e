"""Every command that writes a file or a run folder checks the path before any work: a path that cannot be
written is one line and exit code 2 at once, never a lost run at its last step."""

from __future__ import annotations

from pathlib import Path

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


def _refused(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError), (args, result.output, result.exception)
    message = str(result.exception)
    assert result.exception.exit_code == 2 and "\n" not in message
    return message


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--out", "{blocked}/m.onnx"],
        ["train-presence", "--out", "{blocked}/p.safetensors"],
        ["train-posture", "--out", "{blocked}/p.safetensors"],
        ["train-localiser", "--out", "{blocked}/run"],
        ["pretrain", "--out", "{blocked}/run"],
        ["evaluate", "{clip_dir}", "--json", "{blocked}/m.json"],
        ["bench", "{clip}", "--json", "{blocked}/b.json"],
        ["train", "{clip}", "--out", "{blocked}/run", "--steps", "2"],
        ["train-lifter", "{clip_dir}", "--out", "{blocked}/run", "--steps", "2"],
        ["mocap", "{clip}", "--out", "{blocked}/mc"],
    ],
)
def test_an_output_under_a_file_is_refused_before_any_work(command: list[str], clip: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a_file"
    blocked.write_text("in the way")
    args = [a.format(blocked=blocked, clip=clip, clip_dir=clip.parent) for a in command]
    message = _refused(args)
    assert str(blocked) in message and "a file is in the way" in message
    assert blocked.read_text() == "in the way"


def test_an_output_file_that_is_a_folder_is_refused(clip: Path, tmp_path: Path) -> None:
    assert "is a folder" in _refused(["evaluate", str(clip.parent), "--json", str(tmp_path)])
    message = _refused(["track", str(clip), "--out", str(tmp_path / "p.json"), "--save-video", str(tmp_path)])
    assert "--save-video" in message and "is a folder" in message
    assert not (tmp_path / "p.json").exists()  # refused before the source was tracked
