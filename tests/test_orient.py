import numpy as np
import pytest
import torch

from tpt_live.model import ModelConfig, TptModel
from tpt_live.template import load_template
from trainer.orient import rotate_model, rotation

TINY = ModelConfig(input_size=32, widths=(8, 16, 16), hidden=16, template="infant")


def test_rotation_convention_literals():
    g = rotation(90, 33)  # centre (16, 16)
    up = np.array([16.0, 6.0, 1.0])  # 10 px above the centre
    assert g @ up == pytest.approx([6.0, 16.0])  # +90 (counterclockwise on screen): head up -> head left
    assert rotation(-90, 33) @ up == pytest.approx([26.0, 16.0])


@pytest.mark.parametrize("degrees", [90, -90, 180, 30])
def test_rotated_model_predicts_the_rotated_pose_for_any_frame(degrees):
    torch.manual_seed(0)
    model = TptModel(TINY, load_template("infant")).eval()
    with torch.no_grad():  # a model that is not the identity: random last layer
        model.regressor.head.weight.normal_(0, 0.05)
        model.regressor.head.bias.normal_(0, 0.02)
    frames = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    before = model.poses(frames).keypoints.detach().numpy()
    rotate_model(model, degrees)
    after = model.poses(frames).keypoints.detach().numpy()
    g = rotation(degrees, 32)
    expected = before @ g[:, :2].T + g[:, 2]
    assert after == pytest.approx(expected, abs=1e-3)


def test_a_spatial_head_is_refused_with_a_clear_error():
    from tpt_live.errors import InputError

    cfg = ModelConfig(input_size=64, backbone="effnet", head="spatial", framing="located")
    model = TptModel(cfg, load_template("infant"))
    with pytest.raises(InputError, match="dense head"):
        rotate_model(model, 90)
    rotate_model(model, 360)  # no turn: nothing to fold, nothing refused
