"""benchmarks/monitor_real.py's mirrored run: the clip and its labels mirrored left-right."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np

_SPEC = importlib.util.spec_from_file_location(
    "monitor_real", Path(__file__).parents[1] / "benchmarks" / "monitor_real.py"
)
assert _SPEC is not None and _SPEC.loader is not None
monitor_real = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(monitor_real)


def test_a_mirrored_clip_has_its_bright_left_on_the_right(tmp_path: Path) -> None:
    src = tmp_path / "a.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :16] = 255  # the left quarter white
        for _ in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    assert monitor_real.mirror_clip(src, tmp_path / "m.mp4") == 64
    with av.open(str(tmp_path / "m.mp4")) as inp:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in inp.decode(video=0)]
    assert len(frames) == 5
    assert frames[0][:, 52:].mean() > 200 and frames[0][:, :40].mean() < 30


def test_mirrored_labels_move_regions_and_the_head_and_keep_the_postures() -> None:
    spec = {
        "head": "left",
        "regions": [
            {"name": "full", "roi": None, "present": [[0, 9]]},
            {"name": "b", "roi": "10,20,30,40", "present": []},
        ],
        "posture": [{"span": [0, 9], "posture": "supine"}],
    }
    got = monitor_real.mirrored_spec(spec, 100)
    assert got["head"] == "right" and got["posture"] == spec["posture"]
    assert [r["roi"] for r in got["regions"]] == [None, "60,20,30,40"]
    assert spec["regions"][1]["roi"] == "10,20,30,40"  # the original is untouched
    assert monitor_real.mirrored_spec({**spec, "head": "up"}, 100)["head"] == "up"
