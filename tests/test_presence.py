"""Presence CNN (`tpt_live.monitor.presence`), monitoring scenarios (`tpt_live.synth.scenarios`), posture, movement."""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.monitor.movement import MovementConfig, MovementMeter, window_features
from tpt_live.monitor.posture import posture, signed_width_2d
from tpt_live.monitor.presence import (
    INPUT,
    PresenceConfig,
    PresenceDetector,
    PresenceEnsemble,
    PresenceNet,
    load_presence,
    presence_input,
    save_presence,
)
from tpt_live.synth import SynthConfig, render_clip
from tpt_live.synth.scenarios import MONITOR_SCENARIOS, render_scenario

CFG = SynthConfig(width=64, height=64, frames=40, fps=10.0, seed=11, pose="supine")


@pytest.fixture(scope="module")
def clips() -> dict:
    return {s: render_scenario(CFG, s) for s in MONITOR_SCENARIOS}


def test_numpy_forward_matches_torch(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from trainer.presence_train import _torch_net

    torch.manual_seed(0)
    net = _torch_net().eval()
    weights = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (3, INPUT, INPUT, 3)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(PresenceNet(weights, {}).logits(x), ref, atol=1e-4)
    loaded = load_presence(save_presence(PresenceNet(weights, {"a": 1}), tmp_path / "p.safetensors"))
    assert loaded.metrics == {"a": 1} and len(loaded.members) == 1  # one net: an ensemble of one
    np.testing.assert_allclose(loaded.members[0].logits(x), ref, atol=1e-4)


def _net(seed: int, temperature: float = 1.0) -> PresenceNet:
    rng = np.random.default_rng(seed)
    shapes = {"conv0": (4, 3), "conv1": (5, 4), "conv2": (6, 5)}
    weights = {f"{k}.weight": rng.normal(0, 0.3, (o, c, 3, 3)).astype(np.float32) for k, (o, c) in shapes.items()}
    weights |= {f"{k}.bias": rng.normal(0, 0.1, o).astype(np.float32) for k, (o, _) in shapes.items()}
    weights |= {"head.weight": rng.normal(0, 0.5, (1, 12)).astype(np.float32), "head.bias": np.zeros(1, np.float32)}
    return PresenceNet(weights, {}, temperature)


def test_ensemble_averages_the_members_calibrated_logits_and_round_trips(tmp_path) -> None:
    from tpt_live.checkpoint import write_weights
    from tpt_live.errors import ModelError

    a, b = _net(1, 0.5), _net(2, 2.0)
    rgb = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    x = presence_input(rgb)[None]
    za, zb = float(a.logits(x)[0]) / 0.5, float(b.logits(x)[0]) / 2.0
    assert abs(za - zb) > 0.1  # the members disagree, so the mean is not either one
    ens = load_presence(save_presence(PresenceEnsemble((a, b), {"k": 2}), tmp_path / "e.safetensors"))
    assert [m.temperature for m in ens.members] == [0.5, 2.0] and ens.metrics == {"k": 2}
    assert ens.calibrated(rgb) == pytest.approx((za + zb) / 2, abs=1e-5)
    assert ens.probability(rgb) == pytest.approx(1 / (1 + np.exp(-(za + zb) / 2)), abs=1e-6)
    # a version-1 file (one net, keys without a member prefix, one temperature) still loads
    meta = {"format": "tpt-live/presence", "format_version": 1, "config": {"input": INPUT},
            "calibration": {"temperature": 0.5}}  # fmt: skip
    old = load_presence(write_weights(tmp_path / "v1.safetensors", a.weights, meta))
    assert len(old.members) == 1 and old.calibrated(rgb) == pytest.approx(za, abs=1e-5)
    meta = {**meta, "format_version": 2, "calibration": {"temperatures": [1.0, 1.0, 1.0]}}  # three named, two held
    tensors = {f"member{i}.{k}": v for i, m in enumerate((a, b)) for k, v in m.weights.items()}
    with pytest.raises(ModelError, match="member temperatures"):
        load_presence(write_weights(tmp_path / "bad.safetensors", tensors, meta))


def test_combined_files_hold_every_member_in_order(tmp_path) -> None:
    from tpt_live.monitor.presence import combine_presence

    a, b, c = _net(1, 0.5), _net(2, 2.0), _net(3, 1.0)
    one = save_presence(PresenceEnsemble((a,), {"k": 1}), tmp_path / "one.safetensors")
    two = save_presence(PresenceEnsemble((b, c), {"k": 2}), tmp_path / "two.safetensors")
    both = load_presence(save_presence(combine_presence([one, two]), tmp_path / "both.safetensors"))
    assert [m.temperature for m in both.members] == [0.5, 2.0, 1.0]
    assert both.metrics == {"combined_from": ["one.safetensors", "two.safetensors"], "files": [{"k": 1}, {"k": 2}]}
    rgb = np.random.default_rng(1).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    x = presence_input(rgb)[None]
    expected = np.mean([float(m.logits(x)[0]) / t for m, t in ((a, 0.5), (b, 2.0), (c, 1.0))])
    assert both.calibrated(rgb) == pytest.approx(expected, abs=1e-5)


def test_scenario_labels(clips: dict) -> None:
    frames = {s: c.gt["frames"] for s, c in clips.items()}
    assert all(f["present"] for f in frames["active"]) and not any(f["present"] for f in frames["absent"])
    present = [f["present"] for f in frames["leave_return"]]
    assert present[0] and present[-1] and not all(present)
    moving = [f["moving"] for f in frames["still"]]
    assert not any(moving[9:31]) and any(moving[:8])  # frozen from 20% to 80% of the clip
    postures = [f["posture"] for f in frames["roll"]]
    assert postures[0] == "supine" and postures[-1] in ("side", "prone")


def test_plain_generator_unchanged_by_scenarios() -> None:
    plain = render_clip(CFG)
    active = render_scenario(CFG, "active")
    assert np.array_equal(plain.frames, active.frames)
    assert [f["kp2d"] for f in plain.gt["frames"]] == [f["kp2d"] for f in active.gt["frames"]]
    with pytest.raises(InputError, match="scenario"):
        render_scenario(CFG, "sleepwalk")


def test_shipped_presence_tells_absent_from_present(clips: dict) -> None:
    net = load_presence()
    for name, want in (("absent", False), ("active", True), ("still", True)):
        p = np.array([net.probability(f) for f in clips[name].frames])
        assert ((p >= 0.5) == want).mean() >= 0.9, (name, p.round(2))


def test_detector_averages_over_stream_time() -> None:
    net = PresenceEnsemble((PresenceNet({}, {}),), {})
    det = PresenceDetector(net)
    logits = iter([50.0, -50.0, -50.0])
    object.__setattr__(net, "calibrated_many", lambda rgbs: np.full(len(rgbs), next(logits)))  # one logit per frame
    assert det.update(np.zeros((8, 8, 3), np.uint8), 0.0) == (1.0, 1.0)
    _, avg = det.update(np.zeros((8, 8, 3), np.uint8), 0.5)  # one time constant later
    assert avg == pytest.approx(np.exp(-1.0))
    assert presence_input(np.zeros((64, 64, 3), np.uint8)).shape == (INPUT, INPUT, 3)


def test_detector_averages_the_logits_of_the_picture_and_the_subject_window() -> None:
    """`PresenceConfig.subject` (monitor --presence-view both): the calibrated logits of the two views are
    averaged; without a window, or with the view off, the picture alone decides."""
    net = PresenceEnsemble((PresenceNet({}, {}),), {})
    logit = lambda rgbs: np.array([float(rgb[0, 0, 0]) - 100.0 for rgb in rgbs])  # noqa: E731 (pixel value -> logit)
    object.__setattr__(net, "calibrated_many", logit)
    frame, window = np.full((8, 8, 3), 98, np.uint8), np.full((16, 16, 3), 106, np.uint8)  # logits -2 and +6
    both = PresenceDetector(net, PresenceConfig(tau=0, subject=True))
    assert both.update(frame, 0.0, window)[0] == pytest.approx(1 / (1 + np.exp(-2.0)))  # (-2 + 6) / 2
    assert both.update(frame, 0.1)[0] == pytest.approx(1 / (1 + np.exp(2.0)))  # no window
    off = PresenceDetector(net, PresenceConfig(subject=False))  # monitor --presence-view frame
    assert off.update(frame, 0.0, window)[0] == pytest.approx(1 / (1 + np.exp(2.0)))


def test_mirrored_views_make_presence_blind_to_handedness() -> None:
    """`PresenceConfig.mirror` (monitor --presence-mirror, the default): each view is also judged mirrored
    left-right and the calibrated logits are averaged, so a picture and its mirror image get the same answer;
    without it the shipped net answers the two differently."""
    net = load_presence()
    rgb = render_clip(SynthConfig(width=96, height=64, frames=1, seed=5, pose="side", world="wide")).frames[0]
    rgb = np.ascontiguousarray(rgb[:, :, ::-1])  # RGB
    window = np.ascontiguousarray(rgb[8:56, 20:68])
    on = PresenceDetector(net, PresenceConfig(tau=0))
    got = on.update(rgb, 0.0, window)[0]
    want = 1 / (1 + np.exp(-net.calibrated_many([rgb, window, rgb[:, ::-1], window[:, ::-1]]).mean()))
    assert got == pytest.approx(want, abs=1e-6)
    assert on.update(rgb[:, ::-1], 0.1, window[:, ::-1])[0] == pytest.approx(got, abs=1e-6)
    off = PresenceDetector(net, PresenceConfig(tau=0, mirror=False))
    plain, mirrored = off.update(rgb, 0.0, window)[0], off.update(rgb[:, ::-1], 0.1, window[:, ::-1])[0]
    assert abs(plain - mirrored) > 1e-4  # the net alone is not symmetric: the option is what makes it so


def test_presence_view_is_checked(monkeypatch, capsys) -> None:
    import sys

    from tpt_live.cli.app import main
    from tpt_live.monitor.setup import MonitorRequest

    assert MonitorRequest("a.mp4").presence_view == "both"
    with pytest.raises(InputError, match="--presence-view"):
        MonitorRequest("a.mp4", presence_view="crop")
    monkeypatch.setattr(sys, "argv", ["tpt-live", "monitor", "a.mp4", "--presence-view", "crop", "-q"])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len([line for line in err if "--presence-view" in line]) == 1


def test_missing_weights() -> None:
    with pytest.raises(InputError, match="not found"):  # a path the user gave: a bad argument (exit 2)
        load_presence("/nonexistent/presence.safetensors")


def test_posture_from_ground_truth(clips: dict) -> None:
    gt = clips["roll"].gt["frames"]
    first, last = gt[0], gt[-1]
    assert posture(np.array(first["kp2d"])) == "supine"
    assert posture(None, np.array(first["kp3d"])) == "supine"
    assert posture(None, np.array(last["kp3d"])) == last["posture"]
    assert posture(np.array(last["kp2d"])) == last["posture"]


def test_posture_2d_convention_literals() -> None:
    kp = np.zeros((16, 2))  # supine seen from above, head up: the infant's left on the image right
    kp[0], kp[1] = (10, 20), (10, 10)  # pelvis, thorax
    kp[10], kp[11], kp[4], kp[5] = (13, 10), (7, 10), (12, 20), (8, 20)  # l/r shoulder, l/r hip
    assert signed_width_2d(kp) == pytest.approx(-0.5)  # across (5, 0), up (0, -10): -50 / 100
    assert posture(kp) == "supine"
    kp[[10, 11, 4, 5]] = kp[[11, 10, 5, 4]]
    assert posture(kp) == "prone"


def test_movement_energy_is_trunk_normalised() -> None:
    meter = MovementMeter(MovementConfig(energy_window=1.0))
    kp = np.zeros((16, 2))
    kp[1] = (0, 10)  # trunk length 10 px
    assert meter.update(kp, 0.0) is None
    moved = kp + (5.0, 0.0)  # every joint 5 px in 0.1 s = 50 px/s = 5 trunk lengths/s
    assert meter.update(moved, 0.1) == pytest.approx(5.0)
    t = np.arange(30) / 10.0
    track = np.zeros((30, 16, 2))
    track[:, 1] = (0, 10)
    track[:, 14, 0] = track[:, 15, 0] = 10 * t  # wrists at 1 trunk length per second
    f = window_features(t, track, 10.0)
    assert f["left_wrist_speed_median"] == pytest.approx(1.0) and f["left_wrist_accel_median"] == pytest.approx(0.0)
    assert np.isnan(f["wrists_lr_corr"])  # constant speeds: no correlation defined


def test_train_presence_command_writes_a_loadable_self_describing_file(tmp_path):
    import json

    from typer.testing import CliRunner

    from tpt_live.cli import app

    out = tmp_path / "p.safetensors"
    args = ["train-presence", "--out", str(out), "--clips", "6", "--hard-clips", "4", "--epochs", "1", "--quiet",
            "--members", "2"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    net = load_presence(out)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["format"] == "tpt-live/presence" and meta["config"] == {"input": INPUT}
    shipped = load_presence().members[0].weights
    assert len(net.members) == 2 and all(set(m.weights) == set(shipped) for m in net.members)
    assert [m["train_seed"] for m in meta["metrics"]["members"]] == [1000, 2000]  # each member on its own draws
    assert meta["metrics"]["recipe"]["members"] == 2 and meta["metrics"]["recipe"]["seed"] == 1000
    assert not np.array_equal(net.members[0].weights["head.weight"], net.members[1].weights["head.weight"])
