"""The spatial head's softmax target (`trainer.part_targets`, `tpt-live pretrain --heatmap`)."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from tpt_live.errors import InputError
from tpt_live.model import PRETRAINED, EffnetRegressor, TptModel
from tpt_live.skeleton import FLIP_INDEX, JOINT_NAMES
from tpt_live.template import load_template
from trainer.part_pretrain import PretrainConfig, pretrain_loss
from trainer.part_targets import heatmap_loss, part_centre_map, part_centres

SIZE = 128


def _model() -> TptModel:
    torch.manual_seed(0)
    return TptModel(dataclasses.replace(PRETRAINED, peak_radius=0.0), load_template("infant"))


def test_the_labelled_template_puts_every_part_centre_where_the_template_has_it() -> None:
    template = load_template("infant")
    centre_map = part_centre_map(template, SIZE)
    assert centre_map.shape == (2, template.num_parts, len(JOINT_NAMES))
    joints = torch.from_numpy(template.joints(SIZE)).float()[None]
    centres = torch.from_numpy(template.anchor_array(SIZE)[0][:, 3]).float()
    torch.testing.assert_close(part_centres(joints, centre_map)[0], centres, atol=1e-3, rtol=0)
    # each part's weights sum to 1 (a shift of every label shifts every centre by as much) with no imaginary part
    torch.testing.assert_close(centre_map[0].sum(-1), torch.ones(template.num_parts), atol=1e-5, rtol=0)
    torch.testing.assert_close(centre_map[1].sum(-1), torch.zeros(template.num_parts), atol=1e-5, rtol=0)


def test_part_centres_turn_scale_and_shift_with_the_labels() -> None:
    template = load_template("infant")
    centre_map = part_centre_map(template, SIZE)
    joints = torch.from_numpy(template.joints(SIZE)).float()
    centres = torch.from_numpy(template.anchor_array(SIZE)[0][:, 3]).float()
    a = math.radians(130.0)
    turn = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def move(p: torch.Tensor) -> torch.Tensor:
        return (p - 64.0) @ turn.T * 0.6 + torch.tensor([70.0, 50.0])

    torch.testing.assert_close(part_centres(move(joints)[None], centre_map)[0], move(centres), atol=1e-3, rtol=0)


def test_a_hand_borrows_its_forearm_to_place_its_centre() -> None:
    """A hand reads out one joint (the wrist): its centre follows the forearm's turn, so moving the elbow about the
    wrist moves the hand's centre, the wrist kept."""
    template = load_template("infant")
    wrist, elbow = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("left_elbow")
    readers = [part for part, _ in template.joint_copies[wrist]]  # the forearm and the hand
    (hand,) = [k for k in readers if sum(k in (p for p, _ in c) for c in template.joint_copies) == 1]
    centre_map = part_centre_map(template, SIZE)
    used = np.flatnonzero(centre_map[0, hand].abs().numpy() + centre_map[1, hand].abs().numpy() > 1e-9)
    assert sorted(used) == sorted([wrist, elbow])
    joints = torch.from_numpy(template.joints(SIZE)).float()[None]
    start = part_centres(joints, centre_map)[0, hand]
    bent = joints.clone()
    forearm = joints[0, wrist] - joints[0, elbow]
    bent[0, elbow] = joints[0, wrist] - torch.stack([-forearm[1], forearm[0]])  # the forearm turned 90 degrees
    moved = part_centres(bent, centre_map)[0, hand]
    offset, turned = start - joints[0, wrist], moved - joints[0, wrist]
    torch.testing.assert_close(turned, torch.stack([-offset[1], offset[0]]), atol=1e-3, rtol=0)  # turned with it


def _target_logits(regressor: EffnetRegressor, centres: torch.Tensor, sigma_cells: float) -> torch.Tensor:
    d2 = ((regressor.grid[None, None] - centres.unsqueeze(2)) ** 2).sum(-1)
    return -d2 / (2 * (sigma_cells * 8.0) ** 2)


def test_the_loss_is_least_where_each_part_softmax_sits_on_its_labelled_centre() -> None:
    model = _model().train()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    regressor.keep_logits = True
    model.poses(torch.rand(2, 3, SIZE, SIZE))
    assert regressor.last_logits is not None and regressor.last_logits.shape == (2, 18, 256)
    template = model.template
    centre_map = part_centre_map(template, SIZE)
    labels = torch.from_numpy(template.joints(SIZE)).float()[None].repeat(2, 1, 1) + torch.tensor([16.0, -8.0])
    on_the_part = _target_logits(regressor, part_centres(labels, centre_map), 1.0)  # exactly the target
    regressor.last_logits = on_the_part
    least = float(heatmap_loss(regressor, labels, centre_map, 1.0))
    assert regressor.last_logits is None  # read once
    p = on_the_part.softmax(-1)
    assert least == pytest.approx(float(-torch.special.xlogy(p, p).sum(-1).mean()), rel=1e-4)  # the target's entropy
    regressor.last_logits = torch.zeros_like(on_the_part)  # spread over the grid
    assert float(heatmap_loss(regressor, labels, centre_map, 1.0)) == pytest.approx(math.log(256))
    regressor.last_logits = on_the_part.roll(3, dims=-1)  # three cells off
    assert float(heatmap_loss(regressor, labels, centre_map, 1.0)) > least + 1.0


def test_a_sharp_softmax_far_from_its_part_is_still_pulled_back() -> None:
    """The exact cross-entropy: a part sure of a place six cells off loses much and gets a full gradient (the
    softmax minus the target), not the flat floor a clamped probability would give."""
    model = _model().train()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    centre_map = part_centre_map(model.template, SIZE)
    labels = torch.from_numpy(model.template.joints(SIZE)).float()[None]
    off = _target_logits(regressor, part_centres(labels, centre_map) + torch.tensor([48.0, 0.0]), 0.25)
    logits = off.clone().requires_grad_(True)
    regressor.last_logits = logits
    loss = heatmap_loss(regressor, labels, centre_map, 1.0)
    assert float(loss.detach()) > 50.0
    loss.backward()
    assert logits.grad is not None
    wanted = _target_logits(regressor, part_centres(labels, centre_map), 1.0).softmax(-1)
    expected = (off.softmax(-1) - wanted) / (off.shape[0] * off.shape[1])
    torch.testing.assert_close(logits.grad, expected, atol=1e-6, rtol=1e-4)


def test_the_target_takes_the_labelling_the_joint_loss_took() -> None:
    """With swap-tolerant labels, an input labelled the other way round is scored against the swap by both terms."""
    model = _model().train()
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        pred = model.poses(x).keypoints
    vis = torch.ones(2, len(JOINT_NAMES), dtype=torch.bool)
    labels = torch.stack([pred[0], pred[1][list(FLIP_INDEX)]])  # the second input labelled the other way round
    heat = PretrainConfig(stability=0.0, heatmap=0.05)
    as_given = float(pretrain_loss(model, x, pred, vis, heat)[1]["heat"])
    assert float(pretrain_loss(model, x, labels, vis, heat)[1]["heat"]) == pytest.approx(as_given, rel=1e-5)
    strict = dataclasses.replace(heat, swap_tolerant=False)
    assert float(pretrain_loss(model, x, labels, vis, strict)[1]["heat"]) > as_given + 0.1


def test_pretrain_loss_adds_the_weighted_term_and_its_gradient_reaches_the_part_logits() -> None:
    model = _model().train()
    x = torch.rand(2, 3, SIZE, SIZE)  # two views of one crop, as `pretrain` batches them
    kp = torch.from_numpy(model.template.joints(SIZE)).float()[None].repeat(2, 1, 1) + 12.0
    vis = torch.ones(2, len(JOINT_NAMES), dtype=torch.bool)
    base, parts0 = pretrain_loss(model, x, kp, vis, PretrainConfig())
    assert "heat" not in parts0
    loss, parts = pretrain_loss(model, x, kp, vis, PretrainConfig(heatmap=0.05))
    assert float(loss.detach()) == pytest.approx(float(base.detach()) + 0.05 * float(parts["heat"]), rel=1e-5)
    loss.backward()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    grad = regressor.logits.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    assert regressor.last_logits is None and not regressor.keep_logits  # nothing of the step is kept
    copy.deepcopy(model)  # a snapshot (a teacher, an average) can still be taken


def test_the_term_needs_a_training_pass_that_keeps_the_logits_and_sane_settings() -> None:
    model = _model().train()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    model.poses(torch.rand(1, 3, SIZE, SIZE))
    assert regressor.last_logits is None  # kept only when asked for
    with pytest.raises(RuntimeError, match="keep_logits"):
        heatmap_loss(regressor, torch.zeros(1, 16, 2), part_centre_map(model.template, SIZE), 1.0)
    bad_settings = ({"heatmap": -0.1}, {"heatmap": math.nan}, {"heatmap": math.inf}, {"heatmap_sigma": 0.0},
                    {"heatmap_sigma": math.nan}, {"heatmap": 0.05, "head": "dense"})  # fmt: skip
    for bad in bad_settings:
        with pytest.raises(InputError, match="--heatmap"):
            PretrainConfig(**bad)  # type: ignore[arg-type]
