"""The localisation stage on ONNX Runtime (engines.localiser_onnx): the same locations as PyTorch, a cached
export, and a clear error for a file that is not a graph."""

from __future__ import annotations

import numpy as np
import pytest

from engines.localiser_onnx import OrtLocaliser, onnx_for_localiser
from tpt_live.errors import ModelError
from tpt_live.localiser_net import load_localiser
from tpt_live.synth import SynthConfig, render_clip


def test_ort_localiser_finds_what_pytorch_finds(tmp_path, monkeypatch):
    monkeypatch.setenv("TPT_LIVE_CACHE", str(tmp_path))
    path = onnx_for_localiser()
    assert path.parent == tmp_path / "onnx" and path.is_file()
    assert onnx_for_localiser() == path  # the second call reads the cache
    clip = render_clip(SynthConfig(200, 120, frames=3, fps=1.0, seed=11, index=2, pose="mixed", world="wide"))
    frames = [np.ascontiguousarray(f[..., ::-1]) for f in clip.frames]  # RGB, 5:3 (letterboxed)
    want = load_localiser().locate(frames)
    got = OrtLocaliser(path, threads=1).locate(frames)
    assert len(got) == 3
    for a, b in zip(want, got, strict=True):
        assert (b.x, b.y, b.length, b.score) == pytest.approx((a.x, a.y, a.length, a.score), abs=1e-3)
        assert abs((b.angle - a.angle + 180) % 360 - 180) < 1e-2
    assert OrtLocaliser(path).locate([]) == []


def test_a_file_that_is_no_graph_is_a_model_error(tmp_path):
    bad = tmp_path / "localiser.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="cannot load"):
        OrtLocaliser(bad)
