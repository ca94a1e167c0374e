"""Issue bar: export the shipped model to ONNX, then `track` the same clip with ONNX Runtime and with
PyTorch: the raw keypoints agree within 0.05 px (fp32); the shipped model locates, each backend on its own
runtime (the localiser's ONNX export goes into a temporary cache), and the locations agree too."""

import json
import os
import subprocess
import sys

import numpy as np

from tpt_live.checkpoint import default_model_path
from tpt_live.synth import SynthConfig, render_clip, write_clip


def _run(*args: str, cache: str) -> None:
    env = {**os.environ, "TPT_LIVE_CACHE": cache}
    proc = subprocess.run(
        [sys.executable, "-m", "tpt_live", *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-1500:]


def test_onnxruntime_and_torch_tracks_agree(tmp_path):
    assert default_model_path().is_file(), "the shipped model is missing"
    write_clip(render_clip(SynthConfig(width=160, height=120, frames=12, seed=77)), tmp_path)
    clip = tmp_path / "synth_s77_000.mp4"
    onnx = tmp_path / "model.onnx"
    cache = str(tmp_path / "cache")
    _run("export", "--format", "onnx", "--out", str(onnx), cache=cache)
    _run("track", str(clip), "--out", str(tmp_path / "torch.json"), "--backend", "torch", "--quiet", cache=cache)
    _run("track", str(clip), "--model", str(onnx), "--out", str(tmp_path / "ort.json"), "--backend", "onnxruntime",
         "--quiet", cache=cache)  # fmt: skip
    assert len(list((tmp_path / "cache" / "onnx").glob("localiser-*.onnx"))) == 1  # ORT located with its export
    a = json.loads((tmp_path / "torch.json").read_text())["frames"]
    b = json.loads((tmp_path / "ort.json").read_text())["frames"]
    assert len(a) == len(b) == 12
    ka = np.array([f["kp2d_raw"] for f in a], np.float64)[..., :2]
    kb = np.array([f["kp2d_raw"] for f in b], np.float64)[..., :2]
    assert np.abs(ka - kb).max() <= 0.05
    la = np.array([f["location"] for f in a], np.float64)
    lb = np.array([f["location"] for f in b], np.float64)
    assert np.abs(la - lb).max() <= 0.01  # x, y, length (px), angle (degrees), score
    # and the keypoints lie in the frame
    assert (ka[..., 0] >= -0.5).all() and (ka[..., 0] <= 159.5).all()
    assert ka.std(0).mean() > 0.01  # the pose follows the frames
