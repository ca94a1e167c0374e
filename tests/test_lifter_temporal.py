"""The causal temporal lifter: shapes, causality, gradients, file round-trip, the live stream in the PyTorch
backend and the tracker's reset, training with `--window` (ONNX export: tests/test_lifter_onnx.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engines.torch_backend import TorchBackend
from tests.test_engines import S, tiny_model
from tests.test_lifter_train import _synth_json
from tpt_live.cli import app
from tpt_live.errors import InputError
from tpt_live.evaluation.evaluate3d import lift_metric
from tpt_live.lifter import (
    UPRIGHT_WINDOW,
    LifterConfig,
    LiftStream,
    TemporalLifter,
    load_lifter,
    save_lifter,
    sequence_windows,
)
from tpt_live.skeleton import NUM_JOINTS
from trainer.lifter_train import LifterTrainConfig, load_sequences, sample_rotations, train_lifter
from trainer.lifter_window import causal_lifts, run_starts, window_index, window_terms

W = 4
CFG = LifterConfig(hidden=32, blocks=1, window=W, dropout=0.0)


def _random_lifter(seed: int = 0) -> TemporalLifter:
    """A temporal lifter with a random (non-zero) last layer, so every input frame moves the output."""
    torch.manual_seed(seed)
    lifter = TemporalLifter(CFG)
    torch.nn.init.normal_(lifter.out.weight, std=0.3)
    return lifter.eval()


def _poses(n: int, seed: int = 0) -> torch.Tensor:
    """(n, J, 2) normalised-looking 2D poses, root at the origin."""
    x = 0.05 * torch.randn(n, NUM_JOINTS, 2, generator=torch.Generator().manual_seed(seed))
    return x - x[:, :1]


def test_shapes_and_untrained_is_flat() -> None:
    x = torch.stack([_poses(W, k) for k in range(3)])  # (3, W, J, 2)
    lifter = TemporalLifter(CFG).eval()
    assert lifter.depth(x).shape == (3, NUM_JOINTS)
    Y = lifter(x)
    assert Y.shape == (3, NUM_JOINTS, 3)
    np.testing.assert_allclose(Y[..., 2].detach(), 0.0, atol=1e-6)  # zero-initialised last layer: flat
    np.testing.assert_allclose(Y[..., :2].detach() / 10.0, x[:, -1], atol=1e-6)  # the current frame, lifted
    with pytest.raises(InputError):
        LifterConfig(window=0)


def test_a_frame_changes_only_its_own_and_later_outputs_within_the_window() -> None:
    lifter = _random_lifter()
    x = _poses(12)
    with torch.no_grad():
        base = lifter.lift_sequence(x)
        moved = x.clone()
        moved[6] += 0.02
        diff = (lifter.lift_sequence(moved) - base).abs().amax((1, 2))
    assert (diff[:6] == 0).all()  # the past never sees a future frame
    assert (diff[6 : 6 + W] > 1e-4).all()  # frames 6 .. 6 + W - 1 hold frame 6 in their window
    assert (diff[6 + W :] == 0).all()


def test_windows_pad_with_the_first_frame_and_never_cross_runs() -> None:
    x = _poses(5)
    win = sequence_windows(x, W)
    assert win.shape == (5, W, NUM_JOINTS, 2)
    assert torch.equal(win[0], x[:1].expand(W, -1, -1)) and torch.equal(win[4], x[1:5])
    first = run_starts([3, 5])
    assert first.tolist() == [0, 0, 0, 3, 3, 3, 3, 3]
    idx = window_index(torch.tensor([0, 2, 3, 7]), first, 3)
    assert idx.tolist() == [[0, 0, 0], [0, 1, 2], [3, 3, 3], [5, 6, 7]]


def test_gradient_reaches_every_parameter() -> None:
    lifter = _random_lifter()
    lifter.train()
    x = torch.stack([_poses(2 * W - 1, k) for k in range(8)])
    R = sample_rotations(8, LifterTrainConfig(views="upright"), torch.Generator().manual_seed(0))
    ref = torch.full((15,), 0.5)
    lifts = causal_lifts(lifter, x)
    assert lifts.shape == (8, W, NUM_JOINTS, 3)
    torch.testing.assert_close(lifts[:, -1], lifter(x[:, -W:]))  # each lift sees its own window only
    torch.testing.assert_close(lifts[:, 0], lifter(x[:, :W]))
    terms, frames, xr = window_terms(lifter, x, R, ref, w_limits=10.0, w_smooth=1.0, w_gravity=1.0)
    assert set(terms) == {"cycle2d", "cycle3d", "bone", "temporal", "limits", "smooth", "gravity"}
    assert frames.shape == (8 * W, NUM_JOINTS, 3) and xr.shape == (8 * W, NUM_JOINTS, 2)
    sum(terms.values(), torch.zeros(())).backward()
    for name, p in lifter.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_file_round_trip_without_pickle(tmp_path: Path) -> None:
    lifter = _random_lifter()
    path = save_lifter(lifter, tmp_path / "t.safetensors")
    header = path.read_bytes()
    (n,) = struct.unpack("<Q", header[:8])
    assert json.loads(header[8 : 8 + n])["__metadata__"]  # a safetensors file, not a pickle
    loaded = load_lifter(path)
    assert isinstance(loaded, TemporalLifter) and loaded.cfg.window == W
    x = _poses(9)
    with torch.no_grad():
        torch.testing.assert_close(loaded.lift_sequence(x), lifter.lift_sequence(x), rtol=0, atol=0)


def test_stream_matches_the_sequence_and_restarts_on_reset() -> None:
    lifter = _random_lifter()
    kp = 50 * torch.randn(7, NUM_JOINTS, 2, generator=torch.Generator().manual_seed(3)) + 100
    stream = LiftStream(lifter)
    with torch.no_grad():
        rows = torch.cat([stream(kp[:3]), stream(kp[3:4]), stream(kp[4:])])  # batches of any size
        ref = torch.as_tensor(lift_metric(lifter, kp.double().numpy(), [7]), dtype=torch.float32)
        torch.testing.assert_close(rows, ref, rtol=1e-5, atol=1e-6)
        stream.reset()
        again = stream(kp[5:6])
        alone = torch.as_tensor(lift_metric(lifter, kp[5:6].double().numpy()), dtype=torch.float32)
        torch.testing.assert_close(again, alone, rtol=1e-5, atol=1e-6)  # a new track: padded with its first frame


def test_torch_backend_keeps_the_window_and_the_tracker_resets_it() -> None:
    model = tiny_model()
    lifter = _random_lifter()
    frames = np.random.default_rng(0).integers(0, 256, (6, S, S, 3), dtype=np.uint8)
    backend = TorchBackend(model, device="cpu", lifter=lifter)
    whole = backend.infer(frames)
    backend.new_track()
    split = np.concatenate([backend.infer(frames[:2]).kp3d, backend.infer(frames[2:]).kp3d])
    np.testing.assert_allclose(split, whole.kp3d, atol=1e-5)  # consecutive calls continue the same track
    keypoints = torch.as_tensor(whole.keypoints)
    ref = lift_metric(lifter, keypoints.double().numpy(), [6])
    np.testing.assert_allclose(whole.kp3d, ref, atol=1e-4)
    after = backend.infer(frames[3:4]).kp3d  # without a reset the window still holds frames 0-5
    backend.new_track()
    fresh = backend.infer(frames[3:4]).kp3d
    assert np.abs(after - fresh).max() > 1e-4  # (the ONNX graph with the window: tests/test_lifter_onnx.py)


def test_train_lifter_with_a_window(tmp_path: Path) -> None:
    for i in range(2):
        _synth_json(tmp_path / f"v{i}.json", 30, i)
    path = train_lifter(load_sequences([tmp_path]), tmp_path / "run", LifterTrainConfig(steps=30, batch=16),
                        CFG, log_every=10)  # fmt: skip
    lifter = load_lifter(path)
    assert isinstance(lifter, TemporalLifter) and lifter.cfg.window == W
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(np.isfinite(r["loss"]) for r in rows) and "prior" in rows[-1]
    sup_cfg = LifterTrainConfig(steps=60, batch=16, supervised=True, noise=0.0, lr=2e-3)  # the temporal upper bound
    sup = train_lifter(load_sequences([tmp_path]), tmp_path / "sup", sup_cfg, CFG, log_every=10)
    sup_rows = [json.loads(r) for r in (tmp_path / "sup" / "metrics.jsonl").read_text().splitlines()]
    assert isinstance(load_lifter(sup), TemporalLifter) and sup_rows[-1]["sup"] < 0.7 * sup_rows[0]["sup"]
    result = CliRunner().invoke(app, ["train-lifter", str(tmp_path), "--out", str(tmp_path / "cli"), "--steps", "2",
                                      "--window", "3", "--hidden", "16", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_lifter(tmp_path / "cli" / "lifter.safetensors").cfg.window == 3
    result = CliRunner().invoke(app, ["train-lifter", str(tmp_path), "--out", str(tmp_path / "up"), "--steps", "1",
                                      "--views", "upright", "--batch", "4", "--hidden", "16", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_lifter(tmp_path / "up" / "lifter.safetensors").cfg.window == UPRIGHT_WINDOW == 9  # upright default


def test_tracker_starts_each_source_with_a_fresh_window(tmp_path: Path) -> None:
    from track_helpers import write_video

    from tpt_live.track.pipeline import TrackConfig, Tracker
    from tpt_live.track.sources import VideoSource, resolve_sources

    video = write_video(tmp_path / "v.mp4", 12, 96, 48)
    lifter = _random_lifter()
    backend = TorchBackend(tiny_model(), device="cpu", lifter=lifter)  # keypoints that move with the video
    runs = []
    for _ in range(2):  # the same backend for two sources, as `tpt-live track` with several inputs
        source = VideoSource(resolve_sources([str(video)])[0], 32)
        runs.append(list(Tracker(source, backend, TrackConfig(batch=5)).results()))
    first, second = (np.stack([r.kp3d_raw for r in run]) for run in runs)
    np.testing.assert_allclose(second, first, atol=1e-6)  # without the reset the window would hold run 1
    # each frame normalised by itself: the lift of the source-pixel keypoints, as one sequence, is the same
    kp2d = np.stack([r.kp2d_raw[:, :2] for r in runs[0]])
    np.testing.assert_allclose(first, lift_metric(lifter, kp2d, [len(kp2d)]), atol=1e-4)
    stale = LiftStream(lifter)  # what the second run's first frame would be without the reset
    with torch.no_grad():
        stale(torch.as_tensor(kp2d, dtype=torch.float32))
        carried = stale(torch.as_tensor(kp2d[:1], dtype=torch.float32)).numpy()
    assert np.abs(carried - first[:1]).max() > 1e-4
