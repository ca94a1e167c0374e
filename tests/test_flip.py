"""Test-time flip averaging (`track --flip`): the template's mirror, mirrored affines, the equivariance it buys,
and the same graph in PyTorch and ONNX Runtime."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engines import open_backend
from engines.export import ExportRequest
from engines.onnx_export import export_onnx, read_onnx_metadata
from engines.ort_backend import OrtBackend
from engines.torch_backend import TorchBackend
from tpt_live.checkpoint import save_model
from tpt_live.errors import InputError, ModelError
from tpt_live.model import PRETRAINED, ModelConfig, TptModel, mirror_affines
from tpt_live.skeleton import FLIP_INDEX
from tpt_live.template import Template, load_template

SMALL = ModelConfig(input_size=64, backbone="effnet", hidden=32, framing="located")


def _mirrored(kp: np.ndarray, size: int) -> np.ndarray:
    """Keypoints (..., J, 2) of the left-right mirrored image, joints renamed left <-> right."""
    out = kp[..., list(FLIP_INDEX), :].copy()
    out[..., 0] = size - 1 - out[..., 0]
    return out


@pytest.mark.parametrize(("name", "axis"), [("infant", 127.5), ("tpose", 128.0), ("arms_down", 128.0)])
def test_builtin_templates_mirror_left_onto_right(name: str, axis: float) -> None:
    template = load_template(name)
    found = template.mirror()
    assert found is not None
    index, column = found
    assert column == pytest.approx(axis, abs=1e-4)
    names = [p.name for p in template.parts]
    for k, partner in enumerate(index):
        expected = names[k].replace("left", "@").replace("right", "left").replace("@", "right")
        assert names[partner] == expected


def test_an_asymmetric_template_has_no_mirror() -> None:
    template = load_template("infant")
    parts = list(template.parts)
    parts[1] = dataclasses.replace(parts[1], centre=(parts[1].centre[0] + 6.0, parts[1].centre[1]))  # one hip lower
    lopsided = dataclasses.replace(template, parts=tuple(parts))
    assert lopsided.mirror() is None
    model = TptModel(SMALL, lopsided)
    assert not model.can_flip
    with pytest.raises(ModelError, match="not mirror-symmetric"):
        model.regress(torch.rand(1, 3, 64, 64), flip=True)


@pytest.mark.parametrize("name", ["infant", "tpose"])
def test_mirrored_affines_read_out_the_mirrored_keypoints(name: str) -> None:
    torch.manual_seed(0)
    model = TptModel(ModelConfig(input_size=64), load_template(name))
    affines = torch.eye(2, 3) + 0.2 * torch.randn(3, model.template.num_parts, 2, 3)
    affines[..., 2] = 20.0 * torch.randn(3, model.template.num_parts, 2)
    kp = model.read_out(affines).keypoints.numpy()
    mirrored = mirror_affines(affines, model.mirror_index, model.mirror_image, model.mirror_template)
    np.testing.assert_allclose(model.read_out(mirrored).keypoints.numpy(), _mirrored(kp, 64), atol=1e-3)
    # mirroring twice gives the affines back
    twice = mirror_affines(mirrored, model.mirror_index, model.mirror_image, model.mirror_template)
    torch.testing.assert_close(twice, affines, atol=1e-4, rtol=0)


def _trained_looking(seed: int) -> TptModel:
    torch.manual_seed(seed)
    model = TptModel(SMALL, load_template("infant")).eval()
    torch.nn.init.normal_(model.regressor.head.weight, std=0.02)  # a head that moves the parts
    return model


def test_flip_averaging_makes_the_model_exactly_mirror_equivariant() -> None:
    model = _trained_looking(1)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = [model.read_out(model.regress(v)).keypoints.numpy() for v in (x, x.flip(-1))]
        flipped = [model.read_out(model.regress(v, flip=True)).keypoints.numpy() for v in (x, x.flip(-1))]
    # without flip the pose of the mirror image is not the mirror of the pose (what the average corrects)
    assert np.abs(plain[1] - _mirrored(plain[0], 64)).max() > 0.05
    np.testing.assert_allclose(flipped[1], _mirrored(flipped[0], 64), atol=1e-3)
    # and the average is the mean of the two plain poses, the mirrored one mapped back
    np.testing.assert_allclose(flipped[0], (plain[0] + _mirrored(plain[1], 64)) / 2, atol=1e-3)


def test_flip_in_pytorch_and_onnx_runtime_agree(tmp_path: Path) -> None:
    checkpoint = save_model(_trained_looking(2), tmp_path / "m.safetensors")
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    torch_flip = TorchBackend(checkpoint, device="cpu", lifter=False, flip=True).infer(frames).keypoints
    torch_plain = TorchBackend(checkpoint, device="cpu", lifter=False).infer(frames).keypoints
    assert np.abs(torch_flip - torch_plain).max() > 0.01
    onnx_path = export_onnx(checkpoint, tmp_path / "m.onnx", lifter=False, flip=True)
    assert read_onnx_metadata(onnx_path)["flip"] == "1"
    ort = OrtBackend(onnx_path)
    assert ort.flip
    np.testing.assert_allclose(ort.infer(frames).keypoints, torch_flip, atol=1e-3)
    # open_backend exports (and caches) the flipped graph for a checkpoint
    cached = open_backend(checkpoint, backend="onnxruntime", flip=True)
    assert cached.flip
    np.testing.assert_allclose(cached.infer(frames).keypoints, torch_flip, atol=1e-3)


def test_flip_refusals(tmp_path: Path) -> None:
    checkpoint = save_model(_trained_looking(3), tmp_path / "m.safetensors")
    plain_onnx = export_onnx(checkpoint, tmp_path / "plain.onnx", lifter=False)
    assert read_onnx_metadata(plain_onnx)["flip"] == "0"
    with pytest.raises(InputError, match="exported without flip averaging"):
        open_backend(plain_onnx, flip=True)
    with pytest.raises(InputError, match="TensorRT"):
        open_backend(checkpoint, backend="tensorrt", flip=True)
    with pytest.raises(InputError, match="--flip applies to --format onnx"):
        ExportRequest(model=checkpoint, format="tensorrt", out=tmp_path / "m.engine", flip=True)


def test_the_shipped_template_can_flip() -> None:
    assert isinstance(load_template("infant"), Template) and PRETRAINED.framing == "located"
    assert TptModel(PRETRAINED, load_template("infant")).can_flip
