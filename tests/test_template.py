import math

import numpy as np
import pytest

from tpt_live.errors import InputError
from tpt_live.skeleton import JOINT_INDEX
from tpt_live.template import BUILTIN, Template, load_template


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_templates_load_and_round_trip(name):
    t = load_template(name)
    assert t.num_parts == 18
    assert len(t.links) == 17
    again = Template.from_dict(t.to_dict())
    assert again == t
    assert again.digest() == t.digest()


def test_tpose_readout_matches_method_table():
    t = load_template("tpose")
    _, mask = t.anchor_array(256)
    joints = t.joints(256)
    # canvas 256 -> 256 keeps coordinates; image-left parts are the subject's right
    assert joints[JOINT_INDEX["pelvis"]] == pytest.approx((128, 144))
    assert joints[JOINT_INDEX["thorax"]] == pytest.approx((128, 80))
    assert joints[JOINT_INDEX["neck"]] == pytest.approx((128, 68))
    assert joints[JOINT_INDEX["head"]] == pytest.approx((128, 52))
    assert joints[JOINT_INDEX["right_hip"]] == pytest.approx((116, 144))
    assert joints[JOINT_INDEX["left_knee"]] == pytest.approx((156, 184))
    assert joints[JOINT_INDEX["right_wrist"]] == pytest.approx((68, 80))
    assert mask.sum() == 3 + 2 * 12 + 4 + 1  # core 3, 12 two-anchor parts, feet+hands 1 each, head 1


def test_render_peak_and_scaling_convention():
    t = load_template("tpose")
    maps = t.render(128)
    # core centre (row 120, col 128) on the 256 canvas -> (120.5 * 0.5 - 0.5, 128.5 * 0.5 - 0.5) at 128
    r, c = np.unravel_index(maps[0].argmax(), maps[0].shape)
    assert (r, c) == (60, 64)
    assert maps.max() <= 1.0 and maps.min() >= 0.0
    wide = t.render(128, sigma_scale=2.0)
    assert wide[0].sum() == pytest.approx(4 * maps[0].sum(), rel=0.02)


def test_rotated_gaussian_orientation():
    # left thigh: angle -1.1 rad; its long axis points down-left (x decreasing as y increases)
    t = load_template("tpose")
    k = [p.name for p in t.parts].index("left thigh")
    m = t.render(256)[k]
    r0, c0 = t.gaussian_params(256)[k][:2]
    d = 12
    along = m[int(round(r0 + d * math.sin(2.04))), int(round(c0 + d * math.cos(2.04)))]
    across = m[int(round(r0 + d * math.sin(2.04 + math.pi / 2))), int(round(c0 + d * math.cos(2.04 + math.pi / 2)))]
    assert along > 2 * across


def test_unknown_template_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        load_template("nope")
    bad = tmp_path / "t.json"
    bad.write_text("{not json")
    with pytest.raises(InputError):
        load_template(bad)
