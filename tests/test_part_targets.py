"""The spatial head's softmax target (`trainer.part_targets`, `tpt-live pretrain --heatmap`)."""

from __future__ import annotations

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
    """A hand reads out one joint (the wrist): its centre follows the forearm's turn, so bending the elbow turns it."""
    template = load_template("infant")
    wrist, elbow = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("left_elbow")
    readers = [part for part, _ in template.joint_copies[wrist]]  # the forearm and the hand
    (hand,) = [k for k in readers if sum(k in (p for p, _ in c) for c in template.joint_copies) == 1]
    centre_map = part_centre_map(template, SIZE)
    used = np.flatnonzero(centre_map[0, hand].abs().numpy() + centre_map[1, hand].abs().numpy() > 1e-9)
    assert sorted(used) == sorted([wrist, elbow])


def test_the_loss_is_least_where_each_part_softmax_sits_on_its_labelled_centre() -> None:
    model = _model().train()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    x = torch.rand(2, 3, SIZE, SIZE)
    model.poses(x)
    assert regressor.last_weights is not None and regressor.last_weights.shape == (2, 18, 256)
    template = model.template
    centre_map = part_centre_map(template, SIZE)
    labels = torch.from_numpy(template.joints(SIZE)).float()[None].repeat(2, 1, 1) + torch.tensor([16.0, -8.0])
    centres = part_centres(labels, centre_map)
    d2 = ((regressor.grid[None, None] - centres.unsqueeze(2)) ** 2).sum(-1)
    on_the_part = torch.softmax(-d2 / (2 * 8.0**2), -1)  # exactly the target: the loss is its entropy
    regressor.last_weights = on_the_part
    least = float(heatmap_loss(regressor, labels, centre_map, 1.0, swap_tolerant=False))
    entropy = float(-torch.special.xlogy(on_the_part, on_the_part).sum(-1).mean())
    assert least == pytest.approx(entropy, rel=1e-4)
    regressor.last_weights = torch.full_like(on_the_part, 1 / 256)  # spread over the grid
    assert float(heatmap_loss(regressor, labels, centre_map, 1.0, swap_tolerant=False)) == pytest.approx(math.log(256))
    regressor.last_weights = on_the_part.roll(3, dims=-1)  # three cells off
    assert float(heatmap_loss(regressor, labels, centre_map, 1.0, swap_tolerant=False)) > least + 1.0


def test_the_swap_tolerant_target_follows_the_labelling_the_softmax_is_nearer() -> None:
    model = _model().train()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    centre_map = part_centre_map(model.template, SIZE)
    labels = torch.from_numpy(model.template.joints(SIZE)).float()[None] + torch.tensor([20.0, 0.0])
    labels[:, JOINT_NAMES.index("left_wrist")] += torch.tensor([30.0, 10.0])  # left and right now differ
    swapped = labels[:, list(FLIP_INDEX)]
    d2 = ((regressor.grid[None, None] - part_centres(swapped, centre_map).unsqueeze(2)) ** 2).sum(-1)
    regressor.last_weights = torch.softmax(-d2 / (2 * 8.0**2), -1)  # on the swapped labelling's centres
    tolerant = float(heatmap_loss(regressor, labels, centre_map, 1.0, swap_tolerant=True))
    strict = float(heatmap_loss(regressor, labels, centre_map, 1.0, swap_tolerant=False))
    assert tolerant == pytest.approx(float(heatmap_loss(regressor, swapped, centre_map, 1.0, swap_tolerant=False)))
    assert strict > tolerant + 0.1


def test_pretrain_loss_adds_the_weighted_term_and_its_gradient_reaches_the_part_logits() -> None:
    model = _model().train()
    x = torch.rand(2, 3, SIZE, SIZE)
    kp = torch.from_numpy(model.template.joints(SIZE)).float()[None].repeat(2, 1, 1) + 12.0
    vis = torch.ones(2, len(JOINT_NAMES), dtype=torch.bool)
    base, parts0 = pretrain_loss(model, x, kp, vis, PretrainConfig(stability=0.0))
    assert "heat" not in parts0
    loss, parts = pretrain_loss(model, x, kp, vis, PretrainConfig(stability=0.0, heatmap=0.05))
    assert float(loss.detach()) == pytest.approx(float(base.detach()) + 0.05 * float(parts["heat"]), rel=1e-5)
    loss.backward()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    grad = regressor.logits.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_the_term_needs_a_training_pass_of_the_spatial_head_and_sane_settings() -> None:
    model = _model().eval()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor)
    with torch.no_grad():
        model.poses(torch.rand(1, 3, SIZE, SIZE))
    assert regressor.last_weights is None  # eval mode keeps nothing
    with pytest.raises(RuntimeError, match="training mode"):
        heatmap_loss(regressor, torch.zeros(1, 16, 2), part_centre_map(model.template, SIZE), 1.0, False)
    for bad in ({"heatmap": -0.1}, {"heatmap_sigma": 0.0}, {"heatmap": 0.05, "head": "dense"}):
        with pytest.raises(InputError, match="--heatmap"):
            PretrainConfig(**bad)  # type: ignore[arg-type]
