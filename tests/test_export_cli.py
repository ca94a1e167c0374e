"""`tpt-live export`: options reach the delegate, errors are one line, the check table gates the exit code."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import engines.export as export_mod
from engines.export import ExportRequest, ParityRow, check_parity
from tpt_live.checkpoint import save_model
from tpt_live.cli import app
from tpt_live.errors import InputError, ModelError
from tpt_live.model import ModelConfig, TptModel
from tpt_live.template import load_template

HAS_TRT = importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(2)
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16)), load_template("tpose"))
    torch.nn.init.normal_(model.regressor.head.weight, std=0.02)
    return save_model(model, tmp_path_factory.mktemp("cli") / "m.safetensors")


def run_cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point in a fresh process (as a user runs it)."""
    env = {**os.environ, "TPT_LIVE_CACHE": str(tmp / "cache")}
    code = "from tpt_live.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_options_reach_the_delegate(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ExportRequest] = []

    def fake_export(req: ExportRequest) -> Path:
        seen.append(req)
        return req.out

    monkeypatch.setattr(export_mod, "export", fake_export)
    monkeypatch.setattr(export_mod, "parity", lambda req, path: [ParityRow("tensorrt", "int8", 0.7, 0.2, 2.0)])
    args = ["export", "--model", str(checkpoint), "--format", "tensorrt", "--int8", "--calib", str(tmp_path)]
    args += ["--batch", "2:4:16", "--workspace-gb", "1.5", "--out", str(tmp_path / "m.engine")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (req,) = seen
    assert (req.format, req.precision, req.batch, req.workspace_gb) == ("tensorrt", "int8", (2, 4, 16), 1.5)
    assert req.calib == tmp_path and req.model == checkpoint and req.out == tmp_path / "m.engine"
    assert "tensorrt" in result.output and "0.70000" in result.output


def test_request_validation(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--format"):
        ExportRequest(checkpoint, "tflite", tmp_path / "m.tflite")
    with pytest.raises(InputError, match="tensorrt"):
        ExportRequest(checkpoint, "onnx", tmp_path / "m.onnx", precision="fp16")
    with pytest.raises(InputError, match="--calib"):
        ExportRequest(checkpoint, "tensorrt", tmp_path / "m.engine", precision="int8")
    with pytest.raises(InputError, match=".engine"):
        ExportRequest(checkpoint, "tensorrt", tmp_path / "m.onnx")
    missing = tmp_path / "no_such_clip.mp4"
    with pytest.raises(InputError, match="--calib .*no_such_clip.mp4: no such file"):
        ExportRequest(checkpoint, "tensorrt", tmp_path / "m.engine", precision="int8", calib=missing)
    with pytest.raises(InputError, match="--check .*no_such_clip.mp4: no such file"):
        ExportRequest(checkpoint, "onnx", tmp_path / "m.onnx", check=missing)


def test_check_parity_tolerance() -> None:
    check_parity([ParityRow("torch", "fp32", 0.0, 1.0, None), ParityRow("onnxruntime", "fp32", 0.01, 1.0, 0.05)])
    with pytest.raises(ModelError, match="0.200 px"):
        check_parity([ParityRow("onnxruntime", "fp32", 0.2, 1.0, 0.05)])


def test_export_onnx_end_to_end(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = run_cli("export", "--model", str(checkpoint), "--format", "onnx", "--out", str(out), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    assert "onnxruntime" in result.stdout and "max keypoint diff" in result.stdout


@pytest.mark.skipif(HAS_TRT, reason="checks the message shown where TensorRT is missing")
def test_tensorrt_without_tensorrt_is_one_line(checkpoint: Path, tmp_path: Path) -> None:
    args = ("export", "--model", str(checkpoint), "--format", "tensorrt", "--fp16", "--out", str(tmp_path / "m.engine"))
    result = run_cli(*args, tmp=tmp_path)
    assert result.returncode == 5  # BackendUnavailable
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "TensorRT" in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "m.engine").exists()


def test_bad_batch_is_one_line(checkpoint: Path, tmp_path: Path) -> None:
    result = run_cli(
        "export", "--model", str(checkpoint), "--batch", "8:1:2", "--out", str(tmp_path / "m.onnx"), tmp=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --batch")
    assert "Traceback" not in result.stderr
