"""The image posture classifier's training data (located windows of labelled renders) and its training run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tpt_live.errors import InputError
from tpt_live.monitor.posture import IMAGE_CLASSES, POSTURES
from tpt_live.synth import SynthConfig, render_clip
from trainer.part_pretrain import ASPECTS
from trainer.posture_train import WORLDS, PostureTrainConfig, accuracy, scene_config, train_posture, windows


def test_windows_carry_the_scenes_posture_and_alternate_worlds() -> None:
    cfg = PostureTrainConfig(frames=2, input_size=64, propped=1.0, seats=0.0, sitting=1.0)
    x, y, worlds, propped = windows(3, 6, cfg)
    assert x.shape == (12, 64, 64, 3) and x.dtype == np.uint8 and x.std() > 5  # a picture, not a blank
    assert worlds.tolist() == ["wide", "wide", "room", "room"] * 3
    for i in range(6):  # each scene's two frames carry that scene's own label; every supine baby sits up
        w, h = ASPECTS[(i // 4) % len(ASPECTS)]
        gt = render_clip(SynthConfig(w, h, frames=1, seed=3, index=i, pose="mixed", world=worlds[2 * i])).gt
        want = "sitting" if gt["pose"] == "supine" else gt["pose"]
        assert y[2 * i] == y[2 * i + 1] == IMAGE_CLASSES.index(want)
    assert {"sitting", "prone"} <= {IMAGE_CLASSES[k] for k in y}  # both kinds drawn in these six scenes
    assert (propped == (y == POSTURES.index("prone"))).all()  # every prone baby is in tummy time at propped=1


def test_every_frame_shape_comes_in_both_worlds_and_every_look_in_both_worlds() -> None:
    cfg = PostureTrainConfig()
    seen = [((c := scene_config(0, i, cfg)).width, c.height, c.world, c.look) for i in range(24)]
    assert {(w, h, world) for w, h, world, _ in seen} == {(w, h, world) for w, h in ASPECTS for world in WORLDS}
    looks = ("plain", "varied", "random")
    assert {(world, look) for *_, world, look in seen} == {(w, k) for w in WORLDS for k in looks}
    assert [scene_config(0, i, cfg).look for i in range(6)] == [k for k in looks for _ in range(2)]  # one per pair
    plain = PostureTrainConfig(look="mixed")  # stop 55's looks
    assert {scene_config(0, i, plain).look for i in range(24)} == {"plain", "varied"}
    with pytest.raises(InputError, match="--look"):
        PostureTrainConfig(look="photo")


def test_accuracy_per_world_tummy_time_and_sitting() -> None:
    y = np.array([0, 2, 2, 1, 3, 3])
    data = (np.zeros((6, 8, 8, 3), np.uint8), y, np.array(["wide", "wide", "room", "room", "room", "room"]),
            np.array([False, True, True, False, False, False]))  # fmt: skip
    logits = np.eye(4)[[0, 2, 0, 1, 2, 3]]
    got = accuracy(logits, data)
    assert got["accuracy"] == pytest.approx(4 / 6, abs=1e-4) and got["frames"] == 6
    assert got["wide_supine"] == 1.0 and got["wide_prone"] == 1.0 and got["room_prone"] == 0.0
    assert got["room_side"] == 1.0 and "room_supine" not in got and "wide_sitting" not in got
    assert got["wide_tummy_time_prone"] == 1.0 and got["room_tummy_time_prone"] == 0.0
    assert got["room_sitting"] == 0.5 and got["room_sitting_prone"] == 0.5


def test_a_short_training_run_keeps_imagenets_first_blocks_and_repeats() -> None:
    """The stem and blocks 0-2 keep ImageNet's weights and batch-norm statistics, later blocks train, the
    file records its recipe, and the same settings give the same weights."""
    from tpt_live.monitor.posture_net import WindowClassifier

    torch.set_num_threads(1)
    cfg = PostureTrainConfig(clips=4, frames=1, steps=3, batch=4, calibration_clips=4, input_size=64)
    logged: list[dict] = []
    net = train_posture(cfg, on_log=logged.append)
    imagenet = WindowClassifier()
    imagenet.trunk.load_imagenet()
    trained, start = net.net.state_dict(), imagenet.state_dict()
    for key in ("_conv_stem.weight", "_bn0.running_mean", "_bn0.running_var", "_blocks.2._bn2.running_var"):
        assert torch.equal(trained[f"trunk.{key}"], start[f"trunk.{key}"]), key  # frozen, statistics included
    for key in ("_blocks.5._project_conv.weight", "_blocks.5._bn2.running_mean"):
        assert not torch.equal(trained[f"trunk.{key}"], start[f"trunk.{key}"]), key  # trained
    assert [r["step"] for r in logged] == [1, 3]
    assert net.input_size == 64 and net.metrics["recipe"]["steps"] == 3 and net.metrics["recipe"]["clips"] == 4
    assert net.metrics["held_out"]["frames"] == 4 and net.metrics["train_frames"] == 4
    again = train_posture(cfg)
    assert again.temperature == net.temperature
    assert all(torch.equal(v, again.net.state_dict()[k]) for k, v in trained.items())
    p = net.probabilities(np.zeros((64, 64, 3), np.uint8))
    assert p.shape == (4,) and abs(p.sum() - 1.0) < 1e-6


def test_an_ensemble_is_its_members_trained_on_their_own_seeds_and_averages_them() -> None:
    """`train_ensemble`: member i is `train_posture` on seed + i, and the ensemble's probabilities are the mean of
    the members' (their own temperatures applied)."""
    from dataclasses import replace

    from trainer.posture_train import train_ensemble

    torch.set_num_threads(1)
    cfg = PostureTrainConfig(clips=4, frames=1, steps=2, batch=4, calibration_clips=4, input_size=64, members=2)
    ens = train_ensemble(cfg)
    alone = train_posture(replace(cfg, seed=1))
    assert len(ens.members) == 2 and ens.input_size == 64 and ens.metrics["recipe"]["members"] == 2
    assert [m.metrics["recipe"]["seed"] for m in ens.members] == [0, 1] and ens.metrics["held_out"]["frames"] == 4
    second = ens.members[1].net.state_dict()
    assert all(torch.equal(v, second[k]) for k, v in alone.net.state_dict().items())
    assert not torch.equal(ens.members[0].net.head.weight, ens.members[1].net.head.weight)
    rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mean = (ens.members[0].probabilities(rgb) + alone.probabilities(rgb)) / 2
    np.testing.assert_allclose(ens.probabilities(rgb), mean, atol=1e-9)
    with pytest.raises(InputError, match="members 0"):
        PostureTrainConfig(members=0)


def test_members_trained_apart_combine_into_the_ensembles_own_file(tmp_path) -> None:
    """`ensemble_of` (scripts/combine_posture.py) on nets trained one by one on consecutive seeds gives the weights
    and metrics `train_ensemble` gives; members of another recipe or out of seed order are refused in one line."""
    from dataclasses import replace

    from tpt_live.monitor.posture_image import load_posture, save_posture
    from trainer.posture_train import ensemble_of, train_ensemble

    torch.set_num_threads(1)
    cfg = PostureTrainConfig(clips=4, frames=1, steps=2, batch=4, calibration_clips=4, input_size=64, members=2)
    whole = load_posture(save_posture(train_ensemble(cfg), tmp_path / "whole.safetensors"))
    nets = [train_posture(replace(cfg, seed=s, members=1)) for s in (0, 1)]
    files = [save_posture(net, tmp_path / f"m{s}.safetensors") for s, net in enumerate(nets)]
    apart = [load_posture(f).members[0] for f in files]  # type: ignore[union-attr]
    combined = load_posture(save_posture(ensemble_of(tuple(apart)), tmp_path / "combined.safetensors"))
    assert whole is not None and combined is not None and combined.metrics == whole.metrics
    assert whole.shared_front and combined.shared_front  # training keeps the front at ImageNet's in every member
    assert [m.metrics["recipe"]["members"] for m in whole.members] == [1, 1]  # a member is one net
    for a, b in zip(whole.members, combined.members, strict=True):
        assert a.temperature == b.temperature
        assert all(torch.equal(v, b.net.state_dict()[k]) for k, v in a.net.state_dict().items())
    with pytest.raises(InputError, match="member 1 was trained with"):
        ensemble_of((apart[1], apart[0]))  # seeds 1, 0: not consecutive from member 0's
    other = replace(apart[1], metrics={"recipe": dict(apart[1].metrics["recipe"], steps=3)})
    with pytest.raises(InputError, match="member 1 was trained with"):
        ensemble_of((apart[0], other))
    with pytest.raises(InputError, match="without a stored recipe"):
        ensemble_of((replace(apart[0], metrics={}),))
    old = {k: v for k, v in apart[0].metrics["recipe"].items() if k != "sitting"}  # before sitting was a class
    with pytest.raises(InputError, match="another version"):
        ensemble_of((replace(apart[0], metrics={"recipe": old}),))
    script = Path(__file__).parents[1] / "scripts" / "combine_posture.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "c.safetensors"), str(files[1]), str(files[0])],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 1 and run.stderr.strip().count("\n") == 0 and "member 1 was trained" in run.stderr


def test_an_ensemble_runs_its_members_on_one_torch_thread_and_restores_the_count() -> None:
    """Beside the monitor's decoder and pose model, a small window on several PyTorch threads only waits; the count
    is set back afterwards, also when a member fails."""
    from types import SimpleNamespace

    from tpt_live.monitor.posture_image import PostureEnsemble

    seen: list[int] = []

    def member(p: list[float]) -> SimpleNamespace:
        return SimpleNamespace(input_size=8, probabilities=lambda rgb: seen.append(torch.get_num_threads()) or p)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ens = PostureEnsemble((member([1.0, 0, 0, 0]), member([0, 0, 1.0, 0])))  # type: ignore[arg-type]
        assert ens.probabilities(np.zeros((8, 8, 3), np.uint8)).tolist() == [0.5, 0, 0.5, 0]
        assert seen == [1, 1] and torch.get_num_threads() == 2
        broken = SimpleNamespace(input_size=8, probabilities=lambda rgb: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            PostureEnsemble((broken,)).probabilities(np.zeros((8, 8, 3), np.uint8))  # type: ignore[arg-type]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="--steps 0"):
        PostureTrainConfig(steps=0)
    with pytest.raises(InputError, match="multiple of 32"):
        PostureTrainConfig(input_size=100)
    with pytest.raises(InputError, match="multiple of 32"):
        PostureTrainConfig(input_size=0)
    with pytest.raises(InputError):
        PostureTrainConfig(propped=1.5)


def test_the_shipped_classifier_is_the_default_recipes_file() -> None:
    """`tpt_live/weights/posture.safetensors` is what `tpt-live train-posture` writes with its defaults (its stored
    recipe), reads the shipped 2D models' 128-px windows and gives four probabilities."""
    from dataclasses import asdict

    from tpt_live.monitor.posture_image import load_posture

    net = load_posture()
    assert net is not None and net.input_size == 128 and len(net.members) == PostureTrainConfig().members == 3
    assert net.metrics["recipe"] == asdict(PostureTrainConfig())
    assert net.metrics["held_out"]["frames"] == 480 and net.metrics["held_out"]["accuracy"] > 0.6
    assert [m.metrics["recipe"]["seed"] for m in net.members] == [0, 1, 2]  # member i: the scenes of seed + i
    first = net.members[0].metrics["held_out"]  # the first member's calibration windows are the ensemble's
    assert first["frames"] == 480 and first["accuracy"] < net.metrics["held_out"]["accuracy"]
    p = net.probabilities(np.zeros((128, 128, 3), np.uint8))
    assert p.shape == (4,) and abs(p.sum() - 1.0) < 1e-6


def test_members_with_one_front_run_it_once_and_give_the_same_probabilities() -> None:
    """The shipped members share ImageNet's stem and blocks 0-2 (frozen in training): the ensemble runs them once
    per window and gets each member's own probabilities; a member whose front differs turns the sharing off."""
    import copy

    from tpt_live.monitor.posture_image import PostureEnsemble, load_posture

    net = load_posture()
    assert net is not None and net.shared_front
    rgb = np.random.default_rng(2).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    each = np.mean([m.probabilities(rgb) for m in net.members], axis=0)
    np.testing.assert_allclose(net.probabilities(rgb), each, atol=1e-6)
    stats = copy.deepcopy(net.members[1])
    stats.net.trunk.first(3)[-1]._bn1.running_var.mul_(1.5)  # block 2's batch-norm statistics only, no weight
    assert not PostureEnsemble((net.members[0], stats)).shared_front
    odd = copy.deepcopy(net.members[1])
    with torch.no_grad():
        odd.net.trunk.first(1)[0].weight[0, 0, 0, 0] += 0.5  # the stem's first weight
    mixed = PostureEnsemble((net.members[0], odd))
    assert not mixed.shared_front and PostureEnsemble((net.members[0],)).shared_front is False
    expected = (net.members[0].probabilities(rgb) + odd.probabilities(rgb)) / 2
    np.testing.assert_allclose(mixed.probabilities(rgb), expected, atol=1e-9)
    assert np.abs(odd.probabilities(rgb) - net.members[1].probabilities(rgb)).max() > 1e-6  # the change shows
