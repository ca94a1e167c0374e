"""Presence calibration and hysteresis, the hard training data (textures, crops, augmentation), posture votes."""

from __future__ import annotations

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.monitor.posture import UNKNOWN, PostureConfig, PostureVote, posture_with_margin
from tpt_live.monitor.presence import (
    PresenceConfig,
    PresenceDetector,
    PresenceNet,
    load_presence,
    presence_input,
    save_presence,
)
from tpt_live.synth import SynthConfig
from tpt_live.synth.scenarios import render_scenario
from trainer.presence_data import TEXTURES, camera_augment, crop_box, model_input, texture
from trainer.presence_train import fit_temperature

CFG = SynthConfig(width=64, height=48, frames=6, fps=10.0, seed=21, pose="supine")


def test_hysteresis_holds_the_state_inside_the_band() -> None:
    det = PresenceDetector(load_presence(), PresenceConfig(threshold=0.5, band=0.2))
    seq = [0.3, 0.58, 0.61, 0.45, 0.41, 0.39, 0.55]  # on at >= 0.6, off below 0.4
    assert [det.present(p) for p in seq] == [False, False, True, True, True, False, False]
    det.reset()
    assert det.present(0.55) is True  # the first frame is decided by the threshold alone
    with pytest.raises(InputError):
        PresenceConfig(threshold=0.5, band=1.2)


def test_temperature_is_stored_and_divides_the_logit(tmp_path) -> None:
    net = load_presence().members[0]
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    hot = load_presence(save_presence(PresenceNet(net.weights, {}, temperature=2.5), tmp_path / "t.safetensors"))
    assert hot.members[0].temperature == 2.5
    z = float(net.logits(presence_input(rgb)[None])[0])  # the raw logit
    assert hot.probability(rgb) == pytest.approx(1 / (1 + np.exp(-z / 2.5)), abs=1e-4)


def test_fit_temperature_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(3)
    true_logit = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-true_logit))).astype(np.float32)
    assert fit_temperature(3.0 * true_logit, y) == pytest.approx(3.0, rel=0.1)  # logits 3x too sharp
    assert fit_temperature(true_logit, y) == pytest.approx(1.0, rel=0.1)
    three = rng.normal(0, 2, (20000, 3))  # softmax over three classes, labels drawn from the true probabilities
    p = np.exp(three) / np.exp(three).sum(axis=1, keepdims=True)
    k = (rng.random(20000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    assert fit_temperature(0.5 * three, k) == pytest.approx(0.5, rel=0.1)  # logits 2x too flat
    assert fit_temperature(three, k) == pytest.approx(1.0, rel=0.1)


def test_textures_are_valid_backgrounds_and_the_renderer_draws_on_them() -> None:
    rng = np.random.default_rng(0)
    for name, make in TEXTURES.items():
        img = make(48, 64, rng)
        assert img.shape == (48, 64, 3) and img.dtype == np.float32, name
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.005, name
    bg = texture(48, 64, rng)
    absent = render_scenario(CFG, "absent", bg)
    plain = render_scenario(CFG, "absent")
    # with nobody in view the frame is the texture (plus sensor noise), not the scene's mat
    err_tex = np.abs(absent.frames[0].astype(np.float32) / 255 - bg).mean()
    assert err_tex < 0.06 and err_tex < np.abs(plain.frames[0].astype(np.float32) / 255 - bg).mean()
    with pytest.raises(InputError, match="background"):
        render_scenario(CFG, "absent", bg[:10])


def test_crops_keep_the_infant_and_augmentation_keeps_the_shape() -> None:
    rng = np.random.default_rng(1)
    clip = render_scenario(CFG, "active")
    kp = np.asarray(clip.gt["frames"][0]["kp2d"])[:, :2]
    for _ in range(20):
        box = crop_box(64, 48, kp, True, rng)
        inside = (kp[:, 0] >= box.x) & (kp[:, 0] < box.x + box.w) & (kp[:, 1] >= box.y) & (kp[:, 1] < box.y + box.h)
        assert box.w == box.h and inside.mean() >= 0.5
        out = camera_augment(model_input(clip.frames[0], box, 64), rng)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8


def test_posture_vote_is_unknown_when_cues_disagree_or_are_weak() -> None:
    vote = PostureVote(PostureConfig(window=1.0, min_confidence=0.5))
    for i in range(10):
        got = vote.update(i * 0.1, "supine", 0.9)
    assert got == ("supine", 0.9)
    vote.reset()
    for i in range(10):  # flipping between supine and prone: a wrong answer half of the time
        got = vote.update(i * 0.1, "supine" if i % 2 else "prone", 0.9)
    assert got[0] == UNKNOWN and got[1] < 0.5
    vote.reset()
    for i in range(10):  # every frame near the supine/side boundary
        got = vote.update(i * 0.1, "supine", 0.2)
    assert got == (UNKNOWN, 0.2)
    for i in range(10, 40):  # the window forgets: 3 s of clear prone cues
        got = vote.update(i * 0.1, "prone", 1.0)
    assert got == ("prone", 1.0)


def test_posture_margin_literals() -> None:
    kp = np.zeros((16, 2))
    kp[0], kp[1] = (10, 20), (10, 10)  # pelvis, thorax; trunk length 10
    kp[10], kp[11], kp[4], kp[5] = (13, 10), (7, 10), (13, 20), (7, 20)  # shoulders and hips 6 px apart
    label, margin = posture_with_margin(kp)  # signed width -0.6: a flat supine torso
    assert label == "supine" and margin == pytest.approx(1.0)
    kp[[10, 4]] = (10.5, 10), (10.5, 20)  # left side 0.5 px right of the right side: the shoulders stacked
    kp[[11, 5]] = (9.5, 10), (9.5, 20)
    label, margin = posture_with_margin(kp)
    assert label == "side" and margin == pytest.approx(0.6)  # |s| = 0.1, (0.25 - 0.1) / 0.25


def test_fuse_agreeing_cues_add_and_contradicting_ones_cancel() -> None:
    from tpt_live.monitor.posture import fuse

    def p(supine: float, side: float, prone: float, sitting: float = 0.0) -> np.ndarray:
        return np.array([supine, side, prone, sitting])

    assert fuse(("supine", 0.8), None) == ("supine", 0.8)
    label, m = fuse(("supine", 0.8), p(0.9, 0.05, 0.05))  # margin (0.9 - 1/4) / (3/4)
    assert label == "supine" and m == pytest.approx(0.8666667)
    assert fuse(("supine", 0.8), p(0.4, 0.3, 0.3)) == ("supine", 0.8)
    label, m = fuse(("supine", 0.8), p(0.05, 0.05, 0.9))  # image says prone, as sure as the geometry
    assert label == "prone" and m == pytest.approx(0.0666667)
    label, m = fuse(("supine", 0.2), p(0.0, 0.0, 1.0))  # weak geometry, sure image
    assert label == "prone" and m == pytest.approx(0.8)
    assert fuse(("supine", 0.2), p(0.0, 1.0, 0.0)) == ("supine", 0.2)  # side is the geometry's call
    assert fuse(("side", 0.3), p(0.95, 0.03, 0.02)) == ("side", 0.3)  # both ways round
    label, m = fuse(("side", 0.3), p(0.02, 0.03, 0.95))  # the front against the geometry's side
    assert label == "prone" and m == pytest.approx(0.6333333)
    assert fuse((None, 0.0), p(0.1, 0.8, 0.1)) == (None, 0.0)
    label, m = fuse((None, 0.0), p(0.1, 0.1, 0.8))  # no geometry: the image's back or front
    assert label == "prone" and m == pytest.approx(0.7333333)


def test_fuse_sitting_up_takes_away_the_posture() -> None:
    """An image that says sitting weakens the geometry's posture by its margin and leaves none where it is surer."""
    from tpt_live.monitor.posture import fuse

    label, m = fuse(("prone", 0.9), np.array([0.1, 0.1, 0.1, 0.7]))  # image margin 0.6
    assert label == "prone" and m == pytest.approx(0.3)
    assert fuse(("prone", 0.5), np.array([0.1, 0.1, 0.1, 0.7])) == (None, 0.0)
    assert fuse(("side", 0.2), np.array([0.0, 0.0, 0.0, 1.0])) == (None, 0.0)
    assert fuse((None, 0.0), np.array([0.1, 0.1, 0.1, 0.7])) == (None, 0.0)
    assert fuse(("supine", 0.3), np.array([0.0, 0.0, 0.4, 0.6])) == (None, 0.0)  # sitting most likely, not prone
    sure = np.array([0.0, 0.0, 0.0, 1.0])  # where the head is not up in the picture, no sitting vote
    assert fuse(("supine", 0.2), sure, upright=False) == ("supine", 0.2)
    assert fuse((None, 0.0), sure, upright=False) == (None, 0.0)
    label, m = fuse(("supine", 0.2), np.array([0.0, 0.0, 1.0, 0.0]), upright=False)  # the other classes still vote
    assert label == "prone" and m == pytest.approx(0.8)


def test_head_up_within_45_degrees_of_the_pictures_up_either_way() -> None:
    from tpt_live.monitor.posture import head_up

    assert [head_up(t) for t in (0.0, 45.0, 315.0, -40.0, 405.0)] == [True] * 5
    assert [head_up(t) for t in (46.0, 90.0, 180.0, 270.0, 314.0, -50.0)] == [False] * 6


def test_posture_net_file_round_trip(tmp_path) -> None:
    """The window classifier's file gives back the same probabilities (temperature applied), each member's of an
    ensemble and their mean, reads a version-3 file (one net) as an ensemble of one, refuses a window of another
    size, a missing path (exit 2), a presence file, the 32-px CNN's version-1 file and the three-class version-2
    file (exit 4)."""
    import json

    import torch
    from safetensors.numpy import save_file

    from tpt_live.checkpoint import write_weights
    from tpt_live.errors import ModelError
    from tpt_live.monitor.posture_image import PostureEnsemble, PostureNet, load_posture, save_posture
    from tpt_live.monitor.posture_net import WindowClassifier, to_tensor

    torch.manual_seed(0)
    net = WindowClassifier().eval()
    torch.nn.init.normal_(net.head.bias, std=1.0)  # logits far enough apart for the temperature to show
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = torch.softmax(net(to_tensor(rgb[None])) / 2.0, 1).numpy()[0]
    loaded = load_posture(save_posture(PostureNet(net, 64, {"a": 1}, 2.0), tmp_path / "q.safetensors"))
    assert loaded is not None and loaded.metrics == {"a": 1, "members": [{"a": 1}]}
    assert loaded.members[0].metrics == {"a": 1} and [m.temperature for m in loaded.members] == [2.0]
    np.testing.assert_allclose(loaded.probabilities(rgb), ref, atol=1e-6)
    other = WindowClassifier().eval()
    torch.nn.init.normal_(other.head.bias, std=1.0)
    with torch.no_grad():
        ref2 = torch.softmax(other(to_tensor(rgb[None])) / 0.5, 1).numpy()[0]
    pair = PostureEnsemble((PostureNet(net, 64, {"m": 0}, 2.0), PostureNet(other, 64, {"m": 1}, 0.5)), {"b": 2})
    both = load_posture(save_posture(pair, tmp_path / "pair.safetensors"))
    assert both is not None and both.metrics == {"b": 2} and [m.temperature for m in both.members] == [2.0, 0.5]
    np.testing.assert_allclose(both.members[1].probabilities(rgb), ref2, atol=1e-6)
    np.testing.assert_allclose(both.probabilities(rgb), (ref + ref2) / 2, atol=1e-6)
    v3 = {"format": "tpt-live/posture-image", "format_version": 3, "metrics": {"c": 3},
          "config": {"input": 64, "view": "window", "classes": ["supine", "side", "prone", "sitting"]},
          "calibration": {"temperature": 2.0}}  # fmt: skip
    one = load_posture(write_weights(tmp_path / "v3.safetensors", dict(net.state_dict()), v3))
    assert one is not None and len(one.members) == 1 and one.members[0].metrics == {"c": 3}
    np.testing.assert_allclose(one.probabilities(rgb), ref, atol=1e-6)
    assert abs(ref.sum() - 1.0) < 1e-6 and ref.max() - ref.min() > 0.01
    assert ref.shape == (4,)
    said = ("supine", "side", "prone", "sitting")[int(ref.argmax())]
    assert loaded.classify(rgb) == (said, pytest.approx(float(ref.max())))
    with pytest.raises(InputError, match="64 x 64"):
        loaded.probabilities(rgb[:32])
    with pytest.raises(InputError, match="not found"):  # a missing path is a bad argument (exit code 2)
        load_posture(tmp_path / "missing.safetensors")
    with pytest.raises(ModelError):  # a presence file is not a posture file
        load_posture(save_presence(PresenceNet({"w": np.zeros(1, np.float32)}, {}), tmp_path / "p.safetensors"))
    old = {"format": "tpt-live/posture-image", "format_version": 1, "config": {"input": 32, "classes": []}}
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "old.safetensors"), {"tpt_live": json.dumps(old)})
    with pytest.raises(ModelError, match="version 1 .*retrain"):
        load_posture(tmp_path / "old.safetensors")
    three = {"format": "tpt-live/posture-image", "format_version": 2,
             "config": {"input": 64, "view": "window", "classes": ["supine", "side", "prone"]}}  # fmt: skip
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "three.safetensors"), {"tpt_live": json.dumps(three)})
    with pytest.raises(ModelError, match="version 2 .*without sitting.*retrain"):
        load_posture(tmp_path / "three.safetensors")
    meta = json.loads((tmp_path / "q.json").read_text())
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "w.safetensors"), {"tpt_live": json.dumps(meta)})
    with pytest.raises(ModelError, match="not the posture classifier's weights"):  # right header, wrong tensors
        load_posture(tmp_path / "w.safetensors")
    pair_meta = json.loads((tmp_path / "pair.json").read_text())
    doubled = {f"member{i}.{k}": v.clone() for i in (0, 1) for k, v in net.state_dict().items()}
    for calibration, members, match in [
        ({"temperatures": [2.0]}, 1, "not the posture classifier's weights"),  # the tensors of two, one member
        ({"temperatures": [2.0]}, 2, "2 posture members, 1 temperatures"),
        ({"temperatures": 2.0}, 1, "temperatures 2.0 must be"),
        ({"temperatures": ["x", 1.0]}, 2, "must be one or more numbers > 0"),
        ({"temperatures": [0.0, 1.0]}, 2, "must be one or more numbers > 0"),
        (None, 2, "temperatures None must be"),
    ]:
        pair_meta["calibration"], pair_meta["config"]["members"] = calibration, members
        write_weights(tmp_path / "x.safetensors", doubled, pair_meta)
        with pytest.raises(ModelError, match=match):
            load_posture(tmp_path / "x.safetensors")
    pair_meta["calibration"], pair_meta["metrics"] = {"temperatures": [2.0, 0.5]}, ["not", "a", "dict"]
    odd = load_posture(write_weights(tmp_path / "x.safetensors", doubled, pair_meta))  # metrics are only read
    assert odd is not None and odd.metrics == {} and [m.metrics for m in odd.members] == [{}, {}]
    meta["config"].pop("view")
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "v.safetensors"), {"tpt_live": json.dumps(meta)})
    with pytest.raises(ModelError, match="not a window posture classifier"):
        load_posture(tmp_path / "v.safetensors")


def test_no_posture_classifier_loads_without_torch() -> None:
    """Without a shipped classifier file the monitor's loader returns None and never imports torch."""
    import subprocess
    import sys

    code = (
        "import sys, pathlib; import tpt_live.monitor.posture_image as p; "
        "p.default_posture_path = lambda: pathlib.Path('/nonexistent/posture.safetensors'); "
        "assert p.load_posture() is None; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_shipped_classifier_beside_a_64px_model_is_skipped_without_building_it() -> None:
    """The window size comes from the file's metadata: beside a 64-px 2D model the shipped 128-px classifier is
    skipped before torch is imported or the network built."""
    import subprocess
    import sys

    code = (
        "import sys; from tpt_live.monitor.posture_image import open_posture; "
        "print(open_posture('shipped', 64), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None False"


def test_real_frames_from_videos_and_image_folders(tmp_path) -> None:
    import cv2

    from tpt_live.synth import write_clip
    from trainer.presence_train import dataset
    from trainer.real_frames import RealFrames

    clip = render_scenario(CFG, "absent")
    write_clip(clip, tmp_path)
    video = tmp_path / f"{clip.name}.mp4"
    folder = tmp_path / "stills"
    folder.mkdir()
    still = np.zeros((30, 90, 3), np.uint8)
    still[:, 45:] = (200, 40, 10)  # RGB
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    real = RealFrames([str(video), str(folder)], per_video=3, max_side=45)
    assert len(real.frames) == 4  # three evenly spaced video frames and the still
    assert real.frames[-1].shape == (15, 45, 3) and tuple(real.frames[-1][0, -1]) == (200, 40, 10)
    rng = np.random.default_rng(0)
    for _ in range(10):
        bg = real.background(32, 24, rng)
        assert bg.shape == (24, 32, 3) and bg.dtype == np.float32 and 0.0 <= bg.min() and bg.max() <= 1.0
    # real frames go behind half the hard clips and add real-only negatives: 0.5 x the hard frames
    x0, y0 = dataset(5, 0, 4, 64, hard_clips=6, textured=0.0, negatives=0.0)
    x1, y1 = dataset(5, 0, 4, 64, hard_clips=6, textured=0.0, negatives=0.0, real=real, real_share=0.5,
                     real_negatives=0.5)  # fmt: skip
    assert len(x1) == len(x0) + len(x0) // 2 and (y1[len(x0) :] == 0).all()
    assert not np.array_equal(x0, x1[: len(x0)])  # some clips were drawn over real frames
    with pytest.raises(InputError, match="does not exist"):
        RealFrames([str(tmp_path / "nope.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        RealFrames([str(tmp_path / "empty")])


def test_presence_sitting_share_is_checked_and_draws_sitting_babies() -> None:
    from trainer.presence_train import PresenceTrainConfig, scenario_frames

    with pytest.raises(InputError, match="sitting"):
        PresenceTrainConfig(sitting=1.5)
    # the same scene, lying and sat up: the trunk's pitch moves the keypoints (seed 3's clip 0 is drawn on its back)
    (_, lying), (_, sitting) = (next(scenario_frames(3, 1, 2, 64, sitting=s)) for s in (0.0, 1.0))
    assert np.abs(np.asarray(lying["kp2d"]) - np.asarray(sitting["kp2d"])).max() > 5.0


def test_shipped_presence_recipe_is_the_config_defaults() -> None:
    import dataclasses

    from tpt_live.monitor.presence import load_presence
    from trainer.presence_train import PresenceTrainConfig

    metrics = load_presence().metrics
    defaults = {k: v for k, v in dataclasses.asdict(PresenceTrainConfig()).items() if k != "backgrounds"}
    stored = {k: tuple(v) if isinstance(v, list) else v for k, v in metrics["recipe"].items()}
    stored.setdefault("members", 1)  # written before `members` existed: one net
    stored.setdefault("sitting", 0.0)  # written before `sitting` existed: no baby sat up
    assert stored == defaults
    assert metrics["backgrounds"] == ["demo.mp4", "cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4"]
