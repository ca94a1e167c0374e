"""The spatial head's decoding near each part's peak (`ModelConfig.peak_radius`): a part torn between two places is
put at the stronger one, only at inference, and the ONNX graph decodes as PyTorch does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.frames import random_frames
from engines.onnx_export import export_onnx
from engines.ort_backend import OrtBackend
from tpt_live.checkpoint import load_model, save_model
from tpt_live.errors import InputError
from tpt_live.model import PRETRAINED, ModelConfig, TptModel
from tpt_live.template import load_template

SPATIAL = replace(PRETRAINED, input_size=64)  # an 8 x 8 grid of cells 8 px apart


def spatial_model(peak_radius: float, seed: int = 0) -> TptModel:
    torch.manual_seed(seed)
    model = TptModel(replace(SPATIAL, peak_radius=peak_radius), load_template("infant"))
    torch.nn.init.normal_(model.regressor.logits.weight, std=0.5)  # parts that move with the picture
    torch.nn.init.normal_(model.regressor.linear, std=0.01)
    return model.eval()


def two_peaks(head) -> torch.Tensor:
    """(1, K, N) logits with every part's mass split between cells (1, 1) and (6, 6), the second a little stronger."""
    logits = torch.full((1, head.num_parts, head.grid.shape[0]), -30.0)
    logits[..., 1 * 8 + 1] = 0.0
    logits[..., 6 * 8 + 6] = 0.2
    return logits


def test_the_config_refuses_a_negative_radius_or_a_dense_head() -> None:
    with pytest.raises(InputError, match="peak_radius"):
        replace(SPATIAL, peak_radius=-1.0)
    with pytest.raises(InputError, match="peak_radius"):
        ModelConfig(peak_radius=1.5)  # the scratch backbone's dense head has no grid


def test_a_part_torn_between_two_places_is_put_at_the_stronger_one() -> None:
    whole, near = spatial_model(0.0).regressor, spatial_model(1.5).regressor
    logits = two_peaks(whole)
    between = (whole._weights(logits) @ whole.grid)[0, 0]
    peak = (near._weights(logits) @ near.grid)[0, 0]
    strong, weak = whole.grid[6 * 8 + 6], whole.grid[1 * 8 + 1]
    share = torch.sigmoid(torch.tensor(0.2))  # the stronger cell's share of the whole grid's mass
    assert torch.allclose(between, share * strong + (1 - share) * weak, atol=1e-4)  # on neither
    assert torch.allclose(peak, strong, atol=1e-4)


def test_the_radius_keeps_the_peak_cell_and_its_eight_neighbours() -> None:
    head = spatial_model(1.5).regressor
    logits = torch.zeros(1, head.num_parts, head.grid.shape[0])
    logits[..., 3 * 8 + 3] = 5.0  # the peak: cell (3, 3)
    weights = head._weights(logits)[0, 0].view(8, 8)
    kept = weights > 1e-6
    assert kept.sum() == 9 and kept[2:5, 2:5].all()
    head.train()  # training reads the whole grid, so every cell gets gradient
    assert (head._weights(logits)[0, 0] > 1e-6).all()


def test_decoding_near_the_peak_moves_points_only_where_the_softmax_is_spread() -> None:
    frames = torch.from_numpy(random_frames(3, 64, seed=4)).permute(0, 3, 1, 2)
    with torch.no_grad():
        whole, near = spatial_model(0.0).poses(frames), spatial_model(1.5).poses(frames)
    moved = (whole.keypoints - near.keypoints).norm(dim=-1)
    assert moved.max() > 0.5  # random logits spread over the grid: the masks change the read-out
    assert moved.max() < 64 / 2  # and keep it on the input


def test_onnx_decodes_near_the_peak_as_pytorch_does(tmp_path: Path) -> None:
    checkpoint = save_model(spatial_model(1.5, seed=2), tmp_path / "peak.safetensors")
    assert load_model(checkpoint).cfg.peak_radius == 1.5  # the file records its decoding
    frames = random_frames(4, 64, seed=9)
    with torch.no_grad():
        ref = load_model(checkpoint).eval().poses(torch.from_numpy(frames).permute(0, 3, 1, 2))
    out = OrtBackend(export_onnx(checkpoint, tmp_path / "peak.onnx")).infer(frames)
    assert np.sqrt(((out.keypoints - ref.keypoints.numpy()) ** 2).sum(-1)).max() < 0.05
