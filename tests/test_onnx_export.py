"""ONNX export: one checked graph, uint8 NHWC in, named outputs, dynamic batch, provenance metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engines.frames import random_frames
from engines.onnx_export import HISTORY_INPUTS, OUTPUT_NAMES, export_onnx, read_onnx_metadata
from engines.ort_backend import OrtBackend
from tpt_live import __version__
from tpt_live.checkpoint import file_digest, load_model, save_model
from tpt_live.errors import ModelError
from tpt_live.model import ModelConfig, TptModel
from tpt_live.skeleton import JOINT_NAMES
from tpt_live.template import Template, load_template

S = 32


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.manual_seed(1)
    model = TptModel(ModelConfig(input_size=S, widths=(8, 16)), load_template("arms_down"))
    torch.nn.init.normal_(model.regressor.head.weight, std=0.02)
    folder = tmp_path_factory.mktemp("onnx")
    checkpoint = save_model(model, folder / "m.safetensors")
    return checkpoint, export_onnx(checkpoint, folder / "m.onnx")


def test_graph_is_checked_and_shaped(exported: tuple[Path, Path]) -> None:
    _, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    inp, *history = proto.graph.input  # a temporal lifter (the shipped upright one) adds its history inputs
    assert tuple(i.name for i in history) in ((), HISTORY_INPUTS)
    assert inp.name == "frames"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", S, S, 3]
    assert tuple(o.name for o in proto.graph.output)[:3] == OUTPUT_NAMES  # then kp3d when a lifter is shipped
    assert not any(n.op_type in ("GridSample", "AffineGrid") for n in proto.graph.node)  # warp-free


def test_metadata(exported: tuple[Path, Path]) -> None:
    checkpoint, path = exported
    meta = read_onnx_metadata(path)
    model = load_model(checkpoint)
    assert meta["format"] == "tpt-live/onnx" and meta["format_version"] == "1"
    assert json.loads(meta["keypoint_names"]) == list(JOINT_NAMES)
    assert meta["input_size"] == str(S)
    assert meta["template_digest"] == model.template.digest()
    assert meta["model_digest"] == file_digest(checkpoint)
    assert meta["model_name"] == "m.safetensors"
    assert meta["tool_version"] == __version__
    assert meta["precision"] == "fp32"
    assert Template.from_dict(json.loads(meta["template"])).digest() == model.template.digest()


def test_onnx_runtime_backend_carries_the_template(exported: tuple[Path, Path]) -> None:
    from engines.ort_backend import OrtBackend

    checkpoint, path = exported
    backend = OrtBackend(path)
    assert backend.template is not None
    assert backend.template.digest() == load_model(checkpoint).template.digest()
    assert [p.name for p in backend.template.parts] == [p.name for p in load_template("arms_down").parts]


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_matches_torch(exported: tuple[Path, Path], batch: int) -> None:
    checkpoint, path = exported
    frames = random_frames(batch, S, seed=batch)
    model = load_model(checkpoint)
    with torch.no_grad():
        ref = model.poses(torch.from_numpy(frames).permute(0, 3, 1, 2))
    out = OrtBackend(path).infer(frames)
    assert out.keypoints.shape == (batch, 16, 2)
    assert np.sqrt(((out.keypoints - ref.keypoints.numpy()) ** 2).sum(-1)).max() < 0.05


def test_unreadable_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\xff garbage")
    with pytest.raises(ModelError, match="not a readable ONNX"):
        read_onnx_metadata(bad)
