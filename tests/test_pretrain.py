"""The pretrained part model: EfficientNet-Lite0 regressor, located training inputs, framing-driven tracking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.onnx_export import export_onnx, read_onnx_metadata
from engines.ort_backend import OrtBackend
from tpt_live.checkpoint import load_model, save_model
from tpt_live.crop import CropBox, to_source, unturn_points_by
from tpt_live.errors import InputError
from tpt_live.evaluation.evaluate2d import gt_framed
from tpt_live.localise import body_axis
from tpt_live.model import PRETRAINED, EffnetRegressor, ModelConfig, TptModel
from tpt_live.skeleton import FLIP_INDEX, JOINT_INDEX, JOINT_NAMES
from tpt_live.synth import SynthConfig, canonical_skeleton_2d, render_clip
from tpt_live.template import load_template
from tpt_live.track.pipeline import TrackConfig
from trainer.averaging import first_averaged_step, running_average
from trainer.localiser_train import erase
from trainer.part_pretrain import (
    PretrainConfig,
    batches,
    flip_batch,
    located_sample,
    pretrain,
    shape_penalty,
)

SMALL = ModelConfig(input_size=64, backbone="effnet", hidden=32, framing="located")


def test_effnet_regressor_starts_at_the_template_and_learns_through_the_trunk() -> None:
    torch.manual_seed(0)
    model = TptModel(SMALL, load_template("infant"))
    assert isinstance(model.regressor, EffnetRegressor)
    x = torch.rand(2, 3, 64, 64)
    out = model.poses(x)
    assert out.affines.shape == (2, model.template.num_parts, 2, 3)
    torch.testing.assert_close(out.keypoints, torch.from_numpy(model.template.joints(64)).expand(2, -1, -1))
    torch.nn.init.normal_(model.regressor.head.weight, std=0.01)
    model.poses(x).keypoints.sum().backward()
    grad = model.regressor.trunk._blocks[5]._depthwise_conv.weight.grad  # type: ignore[union-attr]
    assert grad is not None and float(grad.abs().sum()) > 0


SPATIAL = dataclasses.replace(SMALL, input_size=128, head="spatial")


def test_spatial_head_starts_near_the_template_and_moves_parts_with_the_image() -> None:
    torch.manual_seed(0)
    model = TptModel(SPATIAL, load_template("infant")).eval()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor) and regressor.spatial
    image = torch.full((1, 3, 128, 128), 0.5)
    image[..., 40:72, 40:72] = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        start = model.poses(image).keypoints[0]
    template = torch.from_numpy(model.template.joints(128))
    assert float((start - template).norm(dim=-1).max()) < 3.0  # the prior on a grid of 8-px cells: within 3 px
    regressor.trunk.load_imagenet()
    torch.nn.init.normal_(regressor.logits.weight, std=1.0)
    with torch.no_grad():
        regressor.prior.zero_()  # no pull to the template: only the image places the parts
        before = model.poses(image).anchors[0, :, 3]  # part centres
        after = model.poses(image.roll((16, 32), dims=(2, 3))).anchors[0, :, 3]
    shift = (after - before).median(0).values  # a few parts tie between cells; most follow the content
    torch.testing.assert_close(shift, torch.tensor([32.0, 16.0]), atol=0.5, rtol=0)


def test_spatial_head_learns_through_the_trunk_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = TptModel(SPATIAL, load_template("infant"))
    torch.nn.init.normal_(model.regressor.linear, std=0.01)
    torch.nn.init.normal_(model.regressor.logits.weight, std=0.1)
    x = torch.rand(2, 3, 128, 128)
    model.poses(x).keypoints.sum().backward()
    for name in ("trunk._blocks.5._depthwise_conv.weight", "logits.weight", "linear", "prior"):
        grad = dict(model.regressor.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    model.eval()
    loaded = load_model(save_model(model, tmp_path / "m.safetensors"))
    assert loaded.cfg.head == "spatial"
    with torch.no_grad():
        torch.testing.assert_close(loaded.poses(x).keypoints, model.poses(x).keypoints)


def test_config_checks() -> None:
    with pytest.raises(InputError, match="head"):
        ModelConfig(head="spatial")  # the scratch backbone has only the dense head
    with pytest.raises(InputError, match="head"):
        PretrainConfig(head="heatmap")
    with pytest.raises(InputError, match="backbone"):
        ModelConfig(backbone="vgg")
    with pytest.raises(InputError, match="multiple of 32"):
        ModelConfig(input_size=80, backbone="effnet")
    with pytest.raises(InputError, match="multiple of 32"):
        PretrainConfig(input_size=150)
    with pytest.raises(InputError, match="backbone"):
        PretrainConfig(backbone="effnet-lite2")
    wide = PretrainConfig(input_size=160, backbone="effnet-lite1").model
    assert (wide.input_size, wide.backbone, wide.head, wide.framing) == (160, "effnet-lite1", "spatial", "located")
    with pytest.raises(InputError, match="framing"):
        ModelConfig(framing="cropped")
    assert PRETRAINED.input_size == 128 and PRETRAINED.framing == "located"


def test_located_sample_inverts_the_trackers_mapping() -> None:
    clip = render_clip(SynthConfig(160, 120, frames=1, seed=3, index=1, world="wide"))
    kp = np.asarray(clip.gt["frames"][0]["kp2d"], np.float64)
    axis = body_axis(kp) + np.array([3.0, -2.0, 4.0, 25.0])  # a located axis a little off
    image, target = located_sample(clip.frames[0], kp, axis, 64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    # what the tracker does with the model's points: unturn by the located angle, then back to the source
    from tpt_live.crop import turned_crop
    from tpt_live.localise import Location, crop_along

    box, degrees = crop_along(Location(*axis.tolist(), score=1.0))
    _, exact = turned_crop(clip.frames[0], box, degrees, 64)
    back = to_source(unturn_points_by(target.astype(np.float64), degrees, 64), exact, 64)
    np.testing.assert_allclose(back, kp, atol=1e-3)
    # upright: the head is above the pelvis in the input
    assert target[JOINT_INDEX["head"], 1] < target[JOINT_INDEX["pelvis"], 1]


def test_flip_swaps_sides_and_is_its_own_inverse() -> None:
    assert [JOINT_NAMES[i] for i in FLIP_INDEX][JOINT_INDEX["left_wrist"]] == "right_wrist"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    kp = rng.random((2, len(JOINT_NAMES), 2)) * 7
    vis = rng.random((2, len(JOINT_NAMES))) > 0.5
    fx, fkp, fvis = flip_batch(x, kp, vis)
    assert fkp[0, JOINT_INDEX["right_hip"], 0] == pytest.approx(7 - kp[0, JOINT_INDEX["left_hip"], 0])
    assert fkp[0, JOINT_INDEX["right_hip"], 1] == kp[0, JOINT_INDEX["left_hip"], 1]
    assert fvis[1, JOINT_INDEX["left_knee"]] == vis[1, JOINT_INDEX["right_knee"]]
    assert (fx[:, :, 0] == x[:, :, 7]).all()
    xx, kk, vv = flip_batch(fx, fkp, fvis)
    np.testing.assert_array_equal(xx, x)
    np.testing.assert_allclose(kk, kp)
    np.testing.assert_array_equal(vv, vis)


def test_shape_penalty_is_zero_for_similarities_only() -> None:
    a = torch.tensor([[[[0.8, -0.6, 3.0], [0.6, 0.8, 1.0]]]])  # rotation + translation
    assert float(shape_penalty(a)) == pytest.approx(0.0, abs=1e-7)
    b = torch.tensor([[[[1.5, 0.0, 0.0], [0.0, 1.0, 0.0]]]])  # stretched along x
    assert float(shape_penalty(b)) == pytest.approx(0.25)


def test_gt_framed_puts_the_canonical_axis_where_the_template_has_it() -> None:
    s = 256
    canon = canonical_skeleton_2d(s)
    # a body turned 90 degrees clockwise (head right), moved and shrunk: its framing brings it back
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    moved = (canon - 127.5) @ turn.T * 0.5 + np.array([300.0, 200.0])
    back = gt_framed(moved[None], moved[None], s)[0]
    for name in ("head", "pelvis"):
        np.testing.assert_allclose(back[JOINT_INDEX[name]], canon[JOINT_INDEX[name]], atol=1.5)


def test_track_config_follows_the_models_framing() -> None:
    auto = TrackConfig()
    assert auto.resolved("located").locate is True and auto.resolved("located").head == "auto"
    assert auto.resolved("frame").locate is False and auto.resolved("frame").head == "up"
    roi = TrackConfig(roi=CropBox(0, 0, 10, 10))  # a located model searches the region instead of reading it whole
    assert roi.resolved("located").locate is True and roi.resolved("located").head == "auto"
    assert roi.resolved("frame").locate is False and roi.resolved("frame").head == "up"
    off = TrackConfig(locate=False)
    assert off.resolved("located").locate is False
    fixed = TrackConfig(head="right")
    assert fixed.resolved("located").locate is True and fixed.resolved("located").head == "right"
    with pytest.raises(InputError, match="needs --locate"):
        TrackConfig(locate=False, head="auto")


@pytest.mark.parametrize("cfg", [SMALL, SPATIAL], ids=["dense", "spatial"])
def test_onnx_carries_the_framing_and_matches_pytorch(tmp_path: Path, cfg: ModelConfig) -> None:
    torch.manual_seed(2)
    model = TptModel(cfg, load_template("infant"))
    if cfg.head == "dense":
        torch.nn.init.normal_(model.regressor.head.weight, std=0.01)
    else:
        torch.nn.init.normal_(model.regressor.linear, std=0.01)
        torch.nn.init.normal_(model.regressor.logits.weight, std=0.1)
    size = cfg.input_size
    checkpoint = save_model(model, tmp_path / "m.safetensors")
    onnx_path = export_onnx(checkpoint, tmp_path / "m.onnx")
    assert read_onnx_metadata(onnx_path)["framing"] == "located"
    ort = OrtBackend(onnx_path)
    assert ort.framing == "located"
    frames = np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = load_model(checkpoint).poses(torch.from_numpy(frames).permute(0, 3, 1, 2)).keypoints.numpy()
    np.testing.assert_allclose(ort.infer(frames).keypoints, ref, atol=1e-3)


def test_pretrain_writes_a_located_effnet_model(tmp_path: Path) -> None:
    cfg = PretrainConfig(out=str(tmp_path / "run"), clips=2, frames=2, val_clips=1, steps=2, batch=4, threads=1)
    metrics = pretrain(cfg)
    assert metrics["train_inputs"] == 4 and np.isfinite(metrics["val_err_pct"])
    model = load_model(tmp_path / "run" / "model.safetensors")
    assert model.cfg.backbone == "effnet" and model.cfg.framing == "located" and model.cfg.input_size == 128
    with pytest.raises(InputError, match="already holds"):
        pretrain(cfg)


def test_init_from_a_located_model_keeps_its_architecture_and_framing(tmp_path: Path) -> None:
    from trainer.recipe import resolve_recipe

    checkpoint = save_model(TptModel(SMALL, load_template("infant")), tmp_path / "m.safetensors")
    model_cfg, _ = resolve_recipe(None, model={}, train={}, init=checkpoint)
    assert (model_cfg.backbone, model_cfg.framing, model_cfg.input_size) == ("effnet", "located", 64)
    assert resolve_recipe(None, model={}, train={})[0].framing == "frame"  # from scratch: the defaults
    spatial = save_model(TptModel(SPATIAL, load_template("infant")), tmp_path / "s.safetensors")
    assert resolve_recipe(None, model={}, train={}, init=spatial)[0] == SPATIAL  # the head too


def test_disturbed_axes_follow_the_noise_settings() -> None:
    from trainer.part_pretrain import disturb

    axis = np.array([100.0, 80.0, 40.0, 30.0])
    calm = np.stack([disturb(axis, PretrainConfig(wild_turns=0.0), np.random.default_rng(i)) for i in range(400)])
    turn = (calm[:, 3] - 30.0 + 180.0) % 360.0 - 180.0
    assert abs(turn).max() < 5 * 15.0 and 10.0 < turn.std() < 20.0
    assert 0.1 < np.std(np.log(calm[:, 2] / 40.0)) < 0.2
    wild = np.stack([disturb(axis, PretrainConfig(wild_turns=0.5), np.random.default_rng(i)) for i in range(400)])
    far = abs((wild[:, 3] - 30.0 + 180.0) % 360.0 - 180.0) > 90.0
    assert 0.15 < far.mean() < 0.35  # half drawn anywhere: about a quarter land more than 90 degrees off


def test_stability_term_is_zero_for_agreeing_views_and_pulls_them_together() -> None:
    from trainer.part_pretrain import pretrain_loss

    torch.manual_seed(3)
    model = TptModel(SMALL, load_template("infant"))
    torch.nn.init.normal_(model.regressor.head.weight, std=0.01)
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    kp = torch.from_numpy(model.template.joints(64)).expand(4, -1, -1)
    vis = torch.ones(4, len(JOINT_NAMES), dtype=torch.bool)
    cfg = PretrainConfig(stability=1.0)
    _, same = pretrain_loss(model, torch.cat([x, x]), kp, vis, cfg)
    assert float(same["stable"]) == pytest.approx(0.0, abs=1e-6)
    loss, differ = pretrain_loss(model, torch.cat([x, x + 0.2 * torch.randn_like(x)]), kp, vis, cfg)
    assert differ["stable"] > 0
    loss.backward()
    assert model.regressor.head.weight.grad is not None
    assert "stable" not in pretrain_loss(model, x, kp[:2], vis[:2], PretrainConfig(stability=0.0))[1]


MACHINE = ("out", "threads", "device", "workers", "minutes")  # where and how fast, not what is learnt
STRICT = {"swap_tolerant": False}  # files trained before the option, with the labels' own left and right
WHOLE_GRID = {"peak_radius": 0.0}  # files that decode over the whole grid (trained before the option, or told so)
# files trained before `--hands`, `--side-gravity`, `--propped` and `--sitting`: their defaults draw the renders those
# files were trained on, but for `sitting`, the default since stop 48 (SITTING_BEFORE: the renders before it)
PLAIN_POSES = {"hands": 0.0, "side_gravity": False, "propped": 0.0, "sitting": 0.0}
SITTING_BEFORE = {"sitting": 0.0}
LITE0_128 = {"input_size": 128, "backbone": "effnet"}  # network settings added at stop 43 (the files' configs say them)
HEATMAP_BEFORE = {"heatmap": 0.0, "heatmap_sigma": 1.0}  # the softmax target of stop 51: files before it have none
SEATS_BEFORE = {"seats": 0.0}  # babies in bouncers and car seats: none in files before stop 52 (the default since: 0.3)
STOP_54 = {"erase": 0.0, "average_from": 0.0}  # options of stop 54, off by default: every file before them trained so


def test_the_swap_tolerant_loss_takes_the_closer_labelling_per_input() -> None:
    from trainer.part_pretrain import pretrain_loss

    torch.manual_seed(3)
    model = TptModel(SMALL, load_template("infant"))
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        pred = model.poses(x).keypoints
    vis = torch.ones(2, len(JOINT_NAMES), dtype=torch.bool)
    labels = torch.stack([pred[0], pred[1][list(FLIP_INDEX)]])  # the second input labelled the other way round
    plain, tolerant = PretrainConfig(stability=0.0, swap_tolerant=False), PretrainConfig(stability=0.0)
    assert float(pretrain_loss(model, x, labels, vis, tolerant)[1]["joint"]) == pytest.approx(0.0, abs=1e-6)
    swapped_half = float(pretrain_loss(model, x, labels, vis, plain)[1]["joint"])
    assert swapped_half > 0.01  # strict: the swapped input counts in full
    assert float(pretrain_loss(model, x[:1], labels[:1], vis[:1], plain)[1]["joint"]) == pytest.approx(0.0, abs=1e-6)


def stored_recipe(name: str) -> tuple[dict, dict]:
    """(the pretraining settings a shipped model's file records, less MACHINE; the file's model config)."""
    from tpt_live.checkpoint import default_model_path, read_metadata

    meta = read_metadata(default_model_path(name))
    stored = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["metrics"]["pretrain"].items()}
    return {k: v for k, v in stored.items() if k not in MACHINE}, meta["config"]


def test_pretrain_defaults_are_the_shipped_models_recipe() -> None:
    """The shipped default (stop 52: `tpt-live pretrain --sitting 0.25 --seats 0.3`, seed 0) records every setting it
    was trained with; today's defaults are exactly those."""
    import dataclasses

    stored, config = stored_recipe("default")
    defaults = dataclasses.asdict(PretrainConfig())
    stored = {**STOP_54, **stored}
    assert stored == {k: v for k, v in defaults.items() if k not in MACHINE}
    assert (stored["sitting"], stored["seats"]) == (0.25, 0.3) and config["peak_radius"] == defaults["peak_radius"]
    assert (config["backbone"], config["framing"], config["input_size"], config["head"]) == (
        "effnet", "located", 128, PretrainConfig().head,
    )  # fmt: skip


def test_the_shipped_handedness_model_is_todays_pretrain_defaults_with_strict_labels() -> None:
    """`tpt-live pretrain --out RUN --no-swap-tolerant`, every other setting the default (docs/MONITOR.md, "A
    second model for the back"): it must learn the infant's anatomical left and right, so never swap-tolerant."""
    import dataclasses

    stored, config = stored_recipe("handedness")
    # its signed width is read over the whole grid
    stored = {**STRICT, **WHOLE_GRID, **PLAIN_POSES, **LITE0_128, **HEATMAP_BEFORE, **SEATS_BEFORE, **STOP_54, **stored}
    defaults = {**dataclasses.asdict(PretrainConfig()), **STRICT, **WHOLE_GRID, **SITTING_BEFORE, **SEATS_BEFORE}
    assert stored == {k: v for k, v in defaults.items() if k not in MACHINE}
    assert reads_the_whole_grid_with_the_defaults_network(config)


def test_the_shipped_monitor_model_is_the_previous_default_recipe() -> None:
    """The monitor's 2D model (docs/MONITOR.md, "Two 2D models") is the default until stop 36: today's recipe with
    strict labels, trained before the flexion option, the same network as the default."""
    stored, config = stored_recipe("monitor")
    assert "swap_tolerant" not in stored and "flexion" not in stored
    expected = {**dataclasses.asdict(PretrainConfig()), **STRICT}
    assert stored == {k: expected[k] for k in stored}
    assert reads_the_whole_grid_with_the_defaults_network(config)


def reads_the_whole_grid_with_the_defaults_network(config: dict) -> bool:
    """The default model's network (it reads the same crops), decoded over the whole grid (`peak_radius` 0 or not
    recorded: the file was trained before the option)."""
    network = {k: v for k, v in stored_recipe("default")[1].items() if k != "peak_radius"}
    return config.get("peak_radius", 0.0) == 0.0 and {k: v for k, v in config.items() if k != "peak_radius"} == network


def test_a_share_of_the_training_scenes_is_drawn_over_real_frames(tmp_path: Path) -> None:
    import cv2

    from trainer.localiser_train import LocaliserTrainConfig, render_set
    from trainer.part_pretrain import render_sets
    from trainer.real_frames import RealFrames, recipe_names

    folder = tmp_path / "real"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((60, 80, 3), (255, 0, 255), np.uint8))  # magenta: no synthetic mat
    real = RealFrames([str(folder)])

    def magenta(images: np.ndarray) -> float:
        r, g, b = (images[..., c].astype(int) for c in range(3))
        return float(((r > 180) & (g < 80) & (b > 180)).mean())

    cfg = PretrainConfig(look="plain", real_share=1.0)
    ((own, kp_own, vis_own),) = render_sets(2, 1, 5, 64, cfg)
    ((over, kp_over, vis_over),) = render_sets(2, 1, 5, 64, cfg, real=real)
    np.testing.assert_array_equal(kp_own, kp_over)  # the same scenes, crops and keypoints; only the backdrop
    np.testing.assert_array_equal(vis_own, vis_over)
    assert magenta(own) == 0.0 and magenta(over) > 0.3
    ((none_real, _, _),) = render_sets(2, 1, 5, 64, replace_share(cfg, 0.0), real=real)
    np.testing.assert_array_equal(none_real, own)
    frames, targets = render_set(2, 1, 5, 64, real=real, real_share=1.0)
    plain_frames, plain_targets = render_set(2, 1, 5, 64)
    np.testing.assert_array_equal(targets, plain_targets)
    assert magenta(plain_frames) == 0.0 and magenta(frames) > 0.3
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="real-share"):
            PretrainConfig(real_share=bad)
        with pytest.raises(InputError, match="real-share"):
            LocaliserTrainConfig(real_share=bad)
    with pytest.raises(InputError, match="background"):
        render_clip(SynthConfig(64, 48, frames=1), np.zeros((10, 10, 3), np.float32))
    named = recipe_names({"backgrounds": (str(folder / "a.png"), "/x/y/clip.mp4"), "seed": 3})
    assert named == {"backgrounds": ["a.png", "clip.mp4"], "seed": 3}
    assert recipe_names({"backgrounds": (), "seed": 3}) == {"backgrounds": (), "seed": 3}


def replace_share(cfg: PretrainConfig, share: float) -> PretrainConfig:
    import dataclasses

    return dataclasses.replace(cfg, real_share=share)


def test_scenes_rendered_by_worker_processes_are_the_ones_rendered_here() -> None:
    import dataclasses

    from trainer.part_pretrain import render_sets

    cfg = PretrainConfig(look="mixed")
    here = render_sets(3, 2, 11, 64, cfg, jitters=(True, False))
    pooled = render_sets(3, 2, 11, 64, dataclasses.replace(cfg, workers=2), jitters=(True, False))
    for a, b in zip(here, pooled, strict=True):
        assert a[0].shape == (6, 64, 64, 3) and a[1].shape == (6, len(JOINT_NAMES), 2)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(here[0][1], here[1][1])  # disturbed axes move the keypoints in the input


def test_loader_workers_give_batches_of_the_set_with_repeated_views() -> None:
    import dataclasses

    from trainer.part_pretrain import batch_source, flip_batch, render_sets

    cfg = PretrainConfig(batch=6, workers=2)
    (data,) = render_sets(2, 2, 3, 64, cfg)
    x, kp, vis = (np.asarray(a) for a in next(batch_source(data, cfg, np.random.default_rng(0))))
    assert x.shape == (6, 64, 64, 3) and x.dtype == np.uint8
    assert kp.shape == (6, len(JOINT_NAMES), 2) and vis.shape == (6, len(JOINT_NAMES))
    np.testing.assert_array_equal(kp[:3], kp[3:])  # the stability term's two views of the same crops
    assert not np.array_equal(x[:3], x[3:])  # under different augmentation
    assert any((k[None] == data[1]).all(axis=(1, 2)).any() for k in kp) or any(
        (k[None] == flip_batch(data[0][:1], data[1], data[2])[1]).all(axis=(1, 2)).any() for k in kp
    )  # keypoints of the set, as drawn or mirrored
    here = next(batch_source(data, dataclasses.replace(cfg, workers=0), np.random.default_rng(0)))
    assert here[0].shape == x.shape


def test_pretrain_refuses_a_device_this_machine_lacks(tmp_path: Path) -> None:
    from tpt_live.errors import BackendUnavailable

    with pytest.raises(InputError, match="not one of auto, cpu, cuda"):
        pretrain(PretrainConfig(out=str(tmp_path / "run"), device="gpu0"))
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA"):
            pretrain(PretrainConfig(out=str(tmp_path / "run"), device="cuda"))
    with pytest.raises(InputError, match="workers"):
        PretrainConfig(workers=-1)
    with pytest.raises(InputError, match="minutes"):
        PretrainConfig(minutes=-1.0)


def test_minutes_stop_the_optimiser_and_still_save(tmp_path: Path) -> None:
    cfg = PretrainConfig(out=str(tmp_path / "run"), clips=2, frames=2, val_clips=1, steps=50, batch=4, threads=1)
    metrics = pretrain(dataclasses.replace(cfg, minutes=1e-6))
    assert metrics["steps_done"] == 1  # the first step runs, then the deadline stops the loop
    assert load_model(tmp_path / "run" / "model.safetensors").cfg.backbone == "effnet"


def test_erasing_paints_rectangles_over_the_chosen_inputs_only() -> None:
    x = np.zeros((64, 128, 128, 3), np.uint8)
    which = np.arange(64) % 2 == 0
    erase(x, which, np.random.default_rng(0))
    painted = x.any(-1)  # (B, S, S): pixels a rectangle set (a painted pixel may be black by chance: rare)
    assert not painted[~which].any()
    share = painted[which].mean((1, 2))
    assert (share > 0.015).all() and (share <= 0.36).all()  # 1-3 rectangles of 2-12% of the area each
    with pytest.raises(InputError, match="erase"):
        PretrainConfig(erase=1.5)


def test_batches_erase_only_with_the_option() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(100, 101, (8, 32, 32, 3), dtype=np.uint8)  # one grey level: erasing shows
    data = (images, np.zeros((8, 16, 2), np.float32), np.ones((8, 16), bool))
    cfg = PretrainConfig(batch=64, stability=0.0)
    import trainer.part_pretrain as part_pretrain

    calls: list[np.ndarray] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(part_pretrain, "erase", lambda x, which, rng: calls.append(which))
        next(batches(data, cfg, np.random.default_rng(1)))
        assert not calls  # off: never called
        next(batches(data, dataclasses.replace(cfg, erase=1.0), np.random.default_rng(1)))
        assert len(calls) == 1 and calls[0].all()  # on for every input at 1.0
    plain, _, _ = next(batches(data, cfg, np.random.default_rng(1)))
    erased, _, _ = next(batches(data, dataclasses.replace(cfg, erase=1.0), np.random.default_rng(1)))
    spread = lambda x: np.ptp(x.reshape(len(x), -1, 3).astype(int), axis=1).max(-1)  # noqa: E731
    assert (spread(erased) > spread(plain) + 60).mean() > 0.9  # nearly every input holds a painted rectangle


def test_running_average_is_the_uniform_mean_of_the_states_and_keeps_the_latest_counters() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    average: dict[str, torch.Tensor] = {}
    for n, value in enumerate((1.0, 2.0, 6.0), start=1):
        with torch.no_grad():
            net[0].weight.fill_(value)
            net[1].running_var.fill_(value * 10)
        net[1].num_batches_tracked.fill_(n * 7)
        running_average(average, net, n)
    assert torch.allclose(average["0.weight"], torch.full((2, 2), 3.0))  # (1 + 2 + 6) / 3
    assert torch.allclose(average["1.running_var"], torch.full((2,), 30.0))
    assert average["1.num_batches_tracked"].item() == 21  # an integer buffer: the latest, not a mean
    assert average["0.weight"].data_ptr() != net[0].weight.data_ptr()  # a copy, not the live tensor


def test_averaging_starts_at_its_share_of_the_steps_and_at_the_latest_on_the_last() -> None:
    assert [first_averaged_step(a, n) for a, n in ((0.5, 4000), (0.07, 100), (0.14, 50), (0.5, 1), (0.9, 4))] == [
        2000, 7, 7, 0, 3,  # 0.07 x 100 is 7.000000000000001 in floating point: still step 7
    ]  # fmt: skip


def test_minutes_that_stop_the_run_before_averaging_save_the_last_weights_and_say_so(tmp_path: Path, caplog) -> None:
    cfg = PretrainConfig(out=str(tmp_path / "run"), clips=2, frames=2, val_clips=1, steps=50, batch=4, threads=1)
    with caplog.at_level("WARNING", logger="trainer.part_pretrain"):
        metrics = pretrain(dataclasses.replace(cfg, minutes=1e-6, average_from=0.5))
    assert metrics["averaged_steps"] == 0 and not (tmp_path / "run" / "last.safetensors").exists()
    assert "before step 26" in caplog.text


def test_an_averaged_run_saves_the_average_and_the_last_steps_weights(tmp_path: Path) -> None:
    cfg = PretrainConfig(out=str(tmp_path / "run"), clips=2, frames=2, val_clips=1, steps=4, batch=4, threads=1)
    metrics = pretrain(dataclasses.replace(cfg, average_from=0.5))
    assert metrics["averaged_steps"] == 2  # steps 3 and 4 of 4
    averaged = load_model(tmp_path / "run" / "model.safetensors").state_dict()
    last = load_model(tmp_path / "run" / "last.safetensors").state_dict()
    moved = [k for k, v in averaged.items() if v.is_floating_point() and not torch.equal(v, last[k])]
    assert moved  # the average of steps 3 and 4 is not step 4's weights
    assert metrics["last_val_err_pct"] != metrics["val_err_pct"]
    plain = pretrain(dataclasses.replace(cfg, out=str(tmp_path / "plain")))
    assert "averaged_steps" not in plain and not (tmp_path / "plain" / "last.safetensors").exists()
    plain_state = load_model(tmp_path / "plain" / "model.safetensors").state_dict()
    assert all(torch.equal(last[k], plain_state[k]) for k in last)  # last.safetensors: the plain run's end
    for share in (-0.1, 1.0):
        with pytest.raises(InputError, match="average-from"):
            PretrainConfig(average_from=share)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pretrain_trains_on_the_gpu_and_writes_a_cpu_checkpoint(tmp_path: Path) -> None:
    cfg = PretrainConfig(
        out=str(tmp_path / "run"), clips=2, frames=2, val_clips=1, steps=3, batch=4, device="cuda", workers=2
    )
    metrics = pretrain(cfg)
    assert np.isfinite(metrics["val_err_pct"])
    assert load_model(tmp_path / "run" / "model.safetensors").cfg.backbone == "effnet"


def test_pretraining_scenes_take_the_flexion_share() -> None:
    """`flexion` reaches the rendered scenes (other poses, the same draws otherwise) and is checked up front."""
    from dataclasses import replace

    from trainer.part_pretrain import render_sets

    cfg = PretrainConfig(look="plain")
    ((plain, kp_plain, _),) = render_sets(4, 1, 5, 64, cfg, jitters=(False,))
    ((flexed, kp_flexed, _),) = render_sets(4, 1, 5, 64, replace(cfg, flexion=1.0), jitters=(False,))
    moved = np.abs(kp_flexed - kp_plain).max(axis=(1, 2))  # per scene, pixels of the 64-px input
    assert (moved > 2.0).sum() >= 2  # scenes on the back or side change pose (prone ones need not)
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="flexion"):
            PretrainConfig(flexion=bad)
