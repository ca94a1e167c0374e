"""The temporal lifter in the ONNX graph: the history inputs, PyTorch vs ONNX Runtime parity over a track
split into calls of any size, and the per-track window kept by the ONNX Runtime backend as by `LiftStream`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engines.onnx_export import HISTORY_INPUTS, INPUT_NAME, export_model, read_onnx_metadata
from engines.ort_backend import OrtBackend
from engines.torch_backend import TorchBackend
from tests.test_engines import HAS_TRT, S, tiny_model
from tests.test_lifter_temporal import _random_lifter
from tpt_live.backend import KeypointHistory
from tpt_live.errors import ModelError
from tpt_live.evaluation.evaluate3d import lift_metric
from tpt_live.lifter import WindowLift
from tpt_live.skeleton import NUM_JOINTS

W = 4  # tests.test_lifter_temporal.CFG.window


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(tiny_model(), tmp_path_factory.mktemp("onnx") / "t.onnx", lifter=_random_lifter())


def test_history_keeps_the_last_rows_and_starts_with_the_first_frame() -> None:
    history = KeypointHistory(W)
    rows, start = history.inputs()
    assert rows.shape == (W - 1, NUM_JOINTS, 2) and start.tolist() == [1.0]
    kp = np.arange(5 * NUM_JOINTS * 2, dtype=np.float32).reshape(5, NUM_JOINTS, 2)
    history.push(kp[:1])
    rows, start = history.inputs()
    assert start.tolist() == [0.0]
    np.testing.assert_array_equal(rows, np.repeat(kp[:1], W - 1, 0))  # the track's first frame fills the window
    history.push(kp[1:5])
    np.testing.assert_array_equal(history.inputs()[0], kp[5 - (W - 1) :])
    history.reset()
    assert history.inputs()[1].tolist() == [1.0]


def test_window_lift_is_the_stream() -> None:
    lifter = _random_lifter()
    kp = 50 * torch.randn(9, NUM_JOINTS, 2, generator=torch.Generator().manual_seed(4)) + 100
    ref = lift_metric(lifter, kp.double().numpy(), [9])
    step, history, out = WindowLift(lifter), KeypointHistory(W), []
    with torch.no_grad():
        for part in (kp[:1], kp[1:6], kp[6:]):  # the first call is longer than nothing, shorter than the window
            rows, start = (torch.as_tensor(a) for a in history.inputs())
            out.append(step(part, rows, start))
            history.push(part.numpy())
    np.testing.assert_allclose(torch.cat(out).numpy(), ref, rtol=1e-5, atol=1e-5)


def test_graph_takes_the_history(graph: Path) -> None:
    proto = onnx.load(str(graph))
    onnx.checker.check_model(proto, full_check=True)
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert list(inputs) == [INPUT_NAME, *HISTORY_INPUTS]
    assert inputs == {"frames": ["batch", S, S, 3], "kp_history": [W - 1, NUM_JOINTS, 2], "track_start": [1]}
    assert '"window": 4' in read_onnx_metadata(graph)["lifter"]


def test_onnx_runtime_keeps_the_window_as_pytorch(graph: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (9, S, S, 3), dtype=np.uint8)
    torch_backend = TorchBackend(tiny_model(), device="cpu", lifter=_random_lifter())
    ort_backend = OrtBackend(graph, threads=1)
    for backend in (torch_backend, ort_backend):
        backend.new_track()
    calls = [(0, 1), (1, 3), (3, 8), (8, 9)]  # one track over calls of 1, 2, 5 and 1 frames
    got = {b.name: [b.infer(frames[i:j]) for i, j in calls] for b in (torch_backend, ort_backend)}
    ref, out = got["torch"], got["onnxruntime"]
    np.testing.assert_allclose(np.concatenate([p.keypoints for p in out]), np.concatenate([p.keypoints for p in ref]),
                               atol=1e-3)  # fmt: skip
    kp3d = np.concatenate([p.kp3d for p in out])
    np.testing.assert_allclose(kp3d, np.concatenate([p.kp3d for p in ref]), atol=1e-4)
    whole = OrtBackend(graph, threads=1).infer(frames).kp3d  # the same track in one call
    np.testing.assert_allclose(kp3d, whole, atol=1e-5)
    # without new_track the window still holds the last frames; after it, a frame starts a track of its own
    after = ort_backend.infer(frames[4:5]).kp3d
    ort_backend.new_track()
    torch_backend.new_track()
    fresh = ort_backend.infer(frames[4:5]).kp3d
    assert np.abs(after - fresh).max() > 1e-4
    np.testing.assert_allclose(fresh, torch_backend.infer(frames[4:5]).kp3d, atol=1e-4)


def test_a_roll_invariant_lifter_exports_with_parity(tmp_path: Path) -> None:
    from tests.test_lifter_temporal import CFG
    from tpt_live.lifter import TemporalLifter

    torch.manual_seed(2)
    lifter = TemporalLifter(dataclasses.replace(CFG, roll_invariant=True))
    torch.nn.init.normal_(lifter.out.weight, std=0.3)
    path = export_model(tiny_model(), tmp_path / "r.onnx", lifter=lifter.eval())
    frames = np.random.default_rng(3).integers(0, 256, (6, S, S, 3), dtype=np.uint8)
    got = OrtBackend(path, threads=1).infer(frames).kp3d
    ref = TorchBackend(tiny_model(), device="cpu", lifter=lifter).infer(frames).kp3d
    assert got is not None and ref is not None and np.abs(ref).max() > 1e-3
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_a_graph_with_foreign_inputs_is_refused(tmp_path: Path, graph: Path) -> None:
    proto = onnx.load(str(graph))
    proto.graph.input[2].name = "something_else"
    for node in proto.graph.node:
        node.input[:] = ["something_else" if n == "track_start" else n for n in node.input]
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelError, match="not a tpt-live pose graph"):
        OrtBackend(tmp_path / "bad.onnx")


@pytest.mark.tensorrt
@pytest.mark.skipif(not HAS_TRT, reason="needs TensorRT and a CUDA GPU")
def test_tensorrt_keeps_the_window_as_pytorch(graph: Path, tmp_path: Path) -> None:
    from engines.trt_backend import TrtBackend
    from engines.trt_build import BuildSpec, build_engine

    engine, _ = build_engine(graph, tmp_path / "t.engine", BuildSpec("fp32", batch=(2, 4, 8)))
    frames = np.random.default_rng(1).integers(0, 256, (14, S, S, 3), dtype=np.uint8)
    trt_backend = TrtBackend(engine)
    torch_backend = TorchBackend(tiny_model(), device="cpu", lifter=_random_lifter())
    calls = [(0, 2), (2, 11), (11, 14)]  # 9 frames: a chunk of 8, then a tail of 1 padded to the minimum 2
    got = np.concatenate([trt_backend.infer(frames[i:j]).kp3d for i, j in calls])
    ref = np.concatenate([torch_backend.infer(frames[i:j]).kp3d for i, j in calls])
    np.testing.assert_allclose(got, ref, atol=2e-3)
    trt_backend.new_track()
    torch_backend.new_track()
    np.testing.assert_allclose(trt_backend.infer(frames[5:7]).kp3d, torch_backend.infer(frames[5:7]).kp3d, atol=2e-3)


def test_open_backend_takes_a_lifter_file_on_pytorch_and_onnx_runtime(tmp_path: Path) -> None:
    """`open_backend(lifter=FILE)` (the monitor's posture lifter): that file's 3D on both runtimes, not the
    shipped one's; refused with an engine, and for a missing file."""
    from engines import open_backend
    from tpt_live.checkpoint import save_model
    from tpt_live.errors import InputError
    from tpt_live.lifter import save_lifter

    checkpoint = save_model(tiny_model(3), tmp_path / "m.safetensors")
    lifter_file = save_lifter(_random_lifter(1), tmp_path / "l.safetensors")
    frames = np.random.default_rng(1).integers(0, 256, (3, S, S, 3), dtype=np.uint8)
    own = [open_backend(checkpoint, backend=b, lifter=lifter_file).infer(frames).kp3d for b in ("torch", "onnxruntime")]
    shipped = open_backend(checkpoint, backend="torch").infer(frames).kp3d
    assert own[0] is not None and own[1] is not None and shipped is not None
    np.testing.assert_allclose(own[1], own[0], atol=1e-4)
    assert np.abs(own[0] - shipped).max() > 1e-3
    with pytest.raises(InputError, match="does not exist"):
        open_backend(checkpoint, backend="torch", lifter=tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="lifter file is given with a checkpoint"):
        open_backend(checkpoint, backend="tensorrt", lifter=lifter_file)


def test_a_second_look_without_lifting_leaves_the_window_alone(graph: Path) -> None:
    """`infer(..., lift=False)` (the refine pass's second look) gives no 3D and does not advance a temporal
    lifter's history, on both runtimes: the track's 3D is that of a track without the extra call."""
    frames = np.random.default_rng(5).integers(0, 256, (6, S, S, 3), dtype=np.uint8)
    for make in (lambda: TorchBackend(tiny_model(), device="cpu", lifter=_random_lifter()),
                 lambda: OrtBackend(graph, threads=1)):  # fmt: skip
        plain, looked = make(), make()
        ref = [plain.infer(frames[:3]).kp3d, plain.infer(frames[3:]).kp3d]
        first = looked.infer(frames[:3]).kp3d
        extra = looked.infer(frames[::-1], lift=False)
        assert extra.kp3d is None and extra.keypoints.shape == (6, NUM_JOINTS, 2)
        np.testing.assert_allclose(first, ref[0], atol=1e-6)
        np.testing.assert_allclose(looked.infer(frames[3:]).kp3d, ref[1], atol=1e-6)
        lifted = make()
        lifted.infer(frames[:3])
        lifted.infer(frames[::-1])  # the same extra call, lifted: the window moves and the 3D changes
        assert np.abs(lifted.infer(frames[3:]).kp3d - ref[1]).max() > 1e-4
