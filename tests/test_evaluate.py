import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tpt_live.checkpoint import load_model, save_model
from tpt_live.errors import InputError
from tpt_live.evaluation.evaluate2d import evaluate_2d, load_labelled, template_baseline
from tpt_live.model import ModelConfig, TptModel
from tpt_live.synth import SynthConfig, render_clip, write_clip
from tpt_live.template import load_template


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    for i in range(2):
        write_clip(render_clip(SynthConfig(width=64, height=48, frames=12, seed=5, index=i)), out)
    return out


def test_ground_truth_against_itself_is_zero(synth_dir):
    videos = load_labelled(synth_dir, 32)
    assert [v.frames.shape for v in videos] == [(12, 32, 32, 3)] * 2
    truth = iter(np.concatenate([v.kp2d for v in videos]))
    result = evaluate_2d(videos, lambda f: np.stack([next(truth) for _ in range(len(f))]), 32)
    assert result["mean_error_pct"] == 0.0 and result["n_frames"] == 24
    assert result["pck@0.05"] == 1.0


def test_ground_truth_is_letterboxed_into_the_model_input(synth_dir):
    raw = json.loads(sorted(synth_dir.glob("*.json"))[0].read_text())
    video = load_labelled(synth_dir, 32)[0]
    x, y = raw["frames"][0]["kp2d"][0]
    # the 64x48 frame sits in the box (0, -8, 64, 64): one scale 32/64 for both axes, 4 black rows above and below;
    # pixel centres at integers: p' = (p - box origin + 0.5) * S / box side - 0.5
    assert video.kp2d[0, 0] == pytest.approx(((x + 0.5) * 0.5 - 0.5, (y + 8 + 0.5) * 0.5 - 0.5))
    assert video.frames[:, :4].max() == 0 and video.frames[:, 28:].max() == 0 and video.frames[:, 4:28].max() > 0


def test_template_baseline_matches_an_untrained_model(synth_dir, tmp_path):
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16), hidden=8), load_template("infant"))
    path = save_model(model, tmp_path / "m.safetensors")
    videos = load_labelled(synth_dir, 32)

    def predict(frames):
        with torch.no_grad():
            return model.eval().poses(torch.from_numpy(frames).permute(0, 3, 1, 2)).keypoints.numpy()

    untrained = evaluate_2d(videos, predict, 32)["mean_error_pct"]
    assert template_baseline(load_model(path).template, videos, 32) == pytest.approx(untrained, abs=1e-4)


def test_not_a_synth_folder(tmp_path):
    with pytest.raises(InputError):
        load_labelled(tmp_path, 32)


def test_evaluate_cli_writes_json(synth_dir, tmp_path):
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16), hidden=8), load_template("infant"))
    path = save_model(model, tmp_path / "m.safetensors")
    out = tmp_path / "metrics.json"
    cmd = [sys.executable, "-m", "tpt_live", "evaluate", str(synth_dir), "--model", str(path), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert {"mean_error_pct", "per_part", "n_frames", "template_only_error_pct"} <= set(result)
    assert result["n_frames"] == 24
    assert result["mean_error_pct"] == pytest.approx(result["template_only_error_pct"], abs=1e-3)
    bad = subprocess.run([sys.executable, "-m", "tpt_live", "evaluate", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1].startswith("error:") and bad.stderr.count("error") == 1


def test_roi_maps_frames_and_ground_truth(synth_dir):
    from tpt_live.crop import CropBox

    raw = json.loads(sorted(synth_dir.glob("*.json"))[0].read_text())
    video = load_labelled(synth_dir, 16, roi=CropBox(8, 4, 32, 32))[0]
    assert video.frames.shape == (12, 16, 16, 3)
    x, y = raw["frames"][0]["kp2d"][0]
    # source (x, y) -> crop (x - 8, y - 4) -> 16 px: (p + 0.5) * 16 / 32 - 0.5
    assert video.kp2d[0, 0] == pytest.approx(((x - 8 + 0.5) * 0.5 - 0.5, (y - 4 + 0.5) * 0.5 - 0.5))
    # a non-square ROI is made square around its centre, as `track --roi` does: (8, 4, 32, 16) -> (8, -4, 32, 32)
    wide = load_labelled(synth_dir, 16, roi=CropBox(8, 4, 32, 16))[0]
    assert wide.kp2d[0, 0] == pytest.approx(((x - 8 + 0.5) * 0.5 - 0.5, (y + 4 + 0.5) * 0.5 - 0.5))


def test_a_corrupt_lifter_fails_before_any_figure(synth_dir, tmp_path):
    model = TptModel(ModelConfig(input_size=32, widths=(8, 16), hidden=8), load_template("infant"))
    path = save_model(model, tmp_path / "m.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x07junk")
    out = tmp_path / "metrics.json"
    cmd = [sys.executable, "-m", "tpt_live", "evaluate", str(synth_dir), "--model", str(path), "--json", str(out),
           "--lifter", str(tmp_path / "bad.safetensors")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "swap-tolerant" not in proc.stderr  # no 2D table printed before the failure
    assert proc.stderr.splitlines()[-1].startswith("error: ") and "lifter" in proc.stderr.splitlines()[-1]
    assert not out.exists()  # nothing half-written
