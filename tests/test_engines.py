"""Backends behind tpt_live.backend.PoseBackend: parity with PyTorch, output plumbing, backend choice."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import engines
from engines import choose_backend, open_backend
from engines.frames import check_frames, random_frames
from engines.ort_backend import OrtBackend, import_ort, session_options
from engines.torch_backend import TorchBackend
from tpt_live.backend import Poses
from tpt_live.checkpoint import default_model_path, save_model
from tpt_live.errors import BackendUnavailable, InputError, ModelError
from tpt_live.model import ModelConfig, TptModel
from tpt_live.template import load_template

S = 32  # tiny model input size
HAS_TRT = importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


def tiny_model(seed: int = 0) -> TptModel:
    """A small seeded model whose head is randomised, so poses differ from the template."""
    torch.manual_seed(seed)
    model = TptModel(ModelConfig(input_size=S, widths=(8, 16)), load_template("tpose")).eval()
    torch.nn.init.normal_(model.regressor.head.weight, std=0.02)
    torch.nn.init.normal_(model.regressor.head.bias, std=0.05)
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tiny_model(), tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPT_LIVE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def max_px(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1)).max())


def test_engines_package_is_ours() -> None:
    assert Path(engines.__file__).resolve().parent == Path(__file__).resolve().parents[1] / "engines"


def test_torch_backend_smoke(checkpoint: Path) -> None:
    backend = TorchBackend(checkpoint, device="cpu")
    poses = backend.infer(random_frames(3, S))
    assert isinstance(poses, Poses)
    assert poses.affines.shape == (3, 18, 2, 3) and poses.affines.dtype == np.float32
    assert poses.keypoints.shape == (3, 16, 2) and poses.consistency.shape == (3, 16)
    assert poses.kp3d is None or poses.kp3d.shape == (3, 16, 3)  # kp3d when a lifter is shipped
    assert ((poses.consistency > 0) & (poses.consistency <= 1)).all()
    assert (backend.name, backend.precision, backend.input_size) == ("torch", "fp32", S)
    assert backend.model_name == "tiny.safetensors" and len(backend.model_digest) == 16


def test_torch_backend_poses_are_not_the_template(checkpoint: Path) -> None:
    poses = TorchBackend(checkpoint, device="cpu").infer(random_frames(2, S))
    assert np.abs(poses.affines - np.eye(2, 3, dtype=np.float32)).max() > 0.1  # the head is randomised


def test_torch_bf16_close_to_fp32(checkpoint: Path) -> None:
    frames = random_frames(4, S)
    ref = TorchBackend(checkpoint, device="cpu").infer(frames)
    bf16 = TorchBackend(checkpoint, device="cpu", precision="bf16").infer(frames)
    assert max_px(ref.keypoints, bf16.keypoints) < 0.5


def test_torch_fp16_on_cpu_is_an_input_error(checkpoint: Path) -> None:
    with pytest.raises(InputError, match="fp16"):
        TorchBackend(checkpoint, device="cpu", precision="fp16")


@pytest.mark.parametrize("batch", [1, 5])
def test_ort_matches_torch(checkpoint: Path, batch: int) -> None:
    frames = random_frames(batch, S, seed=batch)
    ref = TorchBackend(checkpoint, device="cpu").infer(frames)
    ort = open_backend(checkpoint, backend="onnxruntime", device="cpu")
    out = ort.infer(frames)
    assert ort.name == "onnxruntime"
    assert out.keypoints.shape == (batch, 16, 2)
    assert max_px(ref.keypoints, out.keypoints) < 0.05
    np.testing.assert_allclose(out.affines, ref.affines, atol=1e-3)
    np.testing.assert_allclose(out.consistency, ref.consistency, atol=1e-4)


@pytest.mark.skipif(not default_model_path().is_file(), reason="the shipped model (tpt_live/weights) is not built yet")
def test_shipped_model_ort_matches_torch() -> None:
    ref = open_backend(None, backend="torch", device="cpu")
    frames = random_frames(2, ref.input_size)
    out = open_backend(None, backend="onnxruntime", device="cpu").infer(frames)
    assert max_px(ref.infer(frames).keypoints, out.keypoints) < 0.05


def test_ort_optional_kp3d_output(tmp_path: Path) -> None:
    """A graph with a `kp3d` output fills Poses.kp3d; outputs are matched by name, not position."""
    model = tiny_model()

    class WithLifter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model.poses(frames.permute(0, 3, 1, 2))
            kp3d = torch.cat([out.keypoints, out.consistency[..., None]], -1)
            return kp3d, out.affines, out.keypoints, out.consistency

    path = tmp_path / "lifted.onnx"
    example = torch.from_numpy(random_frames(2, S))
    names = ["kp3d", "affines", "keypoints", "consistency"]
    axes = {n: {0: "batch"} for n in ["frames", *names]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter; see engines/onnx_export.py
        torch.onnx.export(
            WithLifter(),
            (example,),
            str(path),
            input_names=["frames"],
            output_names=names,
            dynamic_axes=axes,
            dynamo=False,
        )
    poses = OrtBackend(path).infer(random_frames(3, S))
    assert poses.kp3d is not None and poses.kp3d.shape == (3, 16, 3)
    np.testing.assert_allclose(poses.kp3d[..., :2], poses.keypoints)


def test_ort_session_does_not_spin() -> None:
    so = session_options(import_ort(), threads=2)
    assert so.intra_op_num_threads == 2
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_ort_rejects_a_foreign_graph(tmp_path: Path) -> None:
    path = tmp_path / "other.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(torch.nn.Identity(), (torch.zeros(1, 2),), str(path), output_names=["y"], dynamo=False)
    with pytest.raises(ModelError, match="not a tpt-live pose graph"):
        OrtBackend(path)
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError):
        OrtBackend(tmp_path / "bad.onnx")


def test_check_frames_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="uint8"):
        check_frames(np.zeros((1, S, S, 3), np.float32), S)
    with pytest.raises(InputError, match=r"\(B, 32, 32, 3\)"):
        check_frames(np.zeros((S, S, 3), np.uint8), S)
    with pytest.raises(InputError):
        check_frames(np.zeros((1, S, S, 4), np.uint8), S)


def test_open_backend_auto_picks_ort_and_logs_why(checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="engines"):
        backend = open_backend(checkpoint, device="cpu")
    assert backend.name == "onnxruntime"
    assert any("backend onnxruntime" in r.getMessage() and "ONNX Runtime" in r.getMessage() for r in caplog.records)
    assert backend.model_name == "tiny.safetensors"
    # the ONNX export is cached: a second open does not export again
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engines"):
        open_backend(checkpoint, device="cpu")
    assert not any("exporting" in r.getMessage() for r in caplog.records)


def test_open_backend_bf16_uses_torch(checkpoint: Path) -> None:
    assert open_backend(checkpoint, device="cpu", precision="bf16").name == "torch"


def test_open_backend_errors(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_backend(tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="suffix"):
        open_backend(tmp_path / "model.pt")
    with pytest.raises(InputError, match="backend"):
        open_backend(checkpoint, backend="tflite")
    with pytest.raises(InputError, match="int8"):
        open_backend(checkpoint, precision="int8", device="cpu")


@pytest.mark.skipif(HAS_TRT, reason="checks the message shown where TensorRT is missing")
def test_open_backend_engine_without_tensorrt(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0")
    with pytest.raises(BackendUnavailable, match="TensorRT"):
        open_backend(engine)


@pytest.mark.parametrize(
    ("kind", "backend", "precision", "ort", "trt", "expected"),
    [
        ("checkpoint", "auto", "fp32", True, True, "tensorrt"),
        ("checkpoint", "auto", "fp32", True, False, "onnxruntime"),
        ("checkpoint", "auto", "fp32", False, False, "torch"),
        ("checkpoint", "auto", "bf16", True, False, "torch"),
        ("checkpoint", "torch", "fp32", True, True, "torch"),
        ("onnx", "auto", "fp32", True, False, "onnxruntime"),
        ("engine", "auto", "fp16", False, False, "tensorrt"),
    ],
)
def test_choose_backend(kind: str, backend: str, precision: str, ort: bool, trt: bool, expected: str) -> None:
    name, why = choose_backend(kind, backend, precision, "auto", ort, trt)
    assert name == expected and why


def test_choose_backend_impossible_combinations() -> None:
    with pytest.raises(InputError):
        choose_backend("onnx", "torch", "fp32", "auto", True, False)
    with pytest.raises(InputError):
        choose_backend("onnx", "auto", "fp16", "auto", True, False)
    with pytest.raises(InputError):
        choose_backend("engine", "onnxruntime", "fp16", "auto", True, False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_cuda_matches_cpu(checkpoint: Path) -> None:
    frames = random_frames(4, S)
    cpu = TorchBackend(checkpoint, device="cpu").infer(frames)
    cuda = TorchBackend(checkpoint, device="cuda").infer(frames)
    half = TorchBackend(checkpoint, device="cuda", precision="fp16").infer(frames)
    assert max_px(cpu.keypoints, cuda.keypoints) < 0.05
    assert max_px(cpu.keypoints, half.keypoints) < 0.5


@pytest.mark.tensorrt
@pytest.mark.skipif(not HAS_TRT, reason="needs TensorRT and a CUDA GPU")
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 0.05), ("fp16", 0.5)])
def test_tensorrt_matches_torch(checkpoint: Path, tmp_path: Path, precision: str, tolerance: float) -> None:
    from engines.export import ExportRequest, export

    engine = export(ExportRequest(checkpoint, "tensorrt", tmp_path / "m.engine", precision, batch=(1, 4, 8)))
    backend = open_backend(engine)
    for batch in (1, 5, 11):  # 11 > max batch: split into chunks
        frames = random_frames(batch, S, seed=batch)
        ref = TorchBackend(checkpoint, device="cpu").infer(frames)
        assert max_px(ref.keypoints, backend.infer(frames).keypoints) < tolerance
    assert (backend.name, backend.precision) == ("tensorrt", precision)
