"""`tpt-live train` as a user runs it: adaptation from the shipped model, --minutes, run-folder safety."""

import json
import os
import subprocess
import sys

import pytest

from tpt_live.checkpoint import default_model_path, resolve_model_file
from tpt_live.errors import InputError
from tpt_live.synth import SynthConfig, render_clip, write_clip


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tpt_live", "train", *args, "--quiet", "--threads", "1", "--device", "cpu"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    write_clip(render_clip(SynthConfig(width=64, height=64, frames=30, seed=4)), out)
    return next(out.glob("*.mp4"))


def test_init_default_resolves_the_shipped_model(tmp_path):
    assert resolve_model_file("default") == default_model_path()
    assert resolve_model_file(None) == default_model_path()
    with pytest.raises(InputError, match="does not exist"):
        resolve_model_file(tmp_path / "none.safetensors")


def test_adapt_from_default_for_minutes_then_refuse_to_reuse_the_folder(clip, tmp_path):
    run = tmp_path / "run"
    proc = _cli(str(clip), "--init", "default", "--minutes", "0.05", "--out", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((run / "model.json").read_text())
    assert meta["train"]["init"] == str(default_model_path())
    cfg = meta["train"]["train_config"]
    assert cfg["minutes"] == 0.05 and cfg["background"] and cfg["gap_s"] == [0.2, 2.0]  # adaptation defaults
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_by"] == "minutes" and summary["steps_done"] >= 1
    assert (run / "before_after.png").is_file() and (run / "last.pt").is_file()
    assert "keypoints moved" in proc.stderr
    again = _cli(str(clip), "--init", "default", "--minutes", "0.05", "--out", str(run))
    assert again.returncode == 2 and "not empty" in again.stderr and "--resume" in again.stderr
    fresh = _cli(str(clip), "--init", "default", "--steps", "2", "--out", str(tmp_path / "new"), "--resume")
    assert fresh.returncode == 2 and "nothing to continue" in fresh.stderr


def test_training_on_located_crops_records_the_located_framing(clip, tmp_path):
    """A model trained from scratch with --locate saw located crops: its file says so, so `track` locates for it."""
    run = tmp_path / "located"
    proc = _cli(str(clip), "--locate", "--size", "32", "--steps", "2", "--batch", "2", "--out", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run / "model.json").read_text())["config"]["framing"] == "located"
    plain = tmp_path / "frame"
    proc = _cli(str(clip), "--size", "32", "--steps", "2", "--batch", "2", "--out", str(plain))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((plain / "model.json").read_text())["config"]["framing"] == "frame"
