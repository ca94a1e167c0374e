import numpy as np
import pytest
import torch

from tpt_live.checkpoint import load_model, read_metadata, save_model
from tpt_live.errors import InputError, ModelError
from tpt_live.model import ModelConfig, TptModel, move_points, warp_template
from tpt_live.template import load_template, part_ellipses

CFG = ModelConfig(input_size=32, widths=(8, 16, 16), hidden=16, template="infant")


def tiny(seed: int = 0) -> TptModel:
    torch.manual_seed(seed)
    return TptModel(CFG, load_template("infant")).eval()


def test_identity_at_initialisation():
    m = tiny()
    out = m.poses(torch.rand(2, 3, 32, 32))
    assert out.affines.shape == (2, 18, 2, 3)
    assert torch.allclose(out.affines, torch.eye(2, 3).expand(2, 18, 2, 3))
    pts, _ = m.template.anchor_array(32)
    expected = m.template.readout_matrix() @ pts.reshape(-1, 2)
    assert torch.allclose(out.keypoints[0], torch.from_numpy(expected), atol=1e-5)
    assert torch.allclose(out.consistency, torch.ones(2, 16), atol=1e-3)


def test_uint8_and_float_inputs_agree():
    m = tiny()
    torch.nn.init.normal_(m.regressor.head.weight, std=0.01)
    img = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    a = m.poses(img).keypoints
    b = m.poses(img.float() / 255).keypoints
    assert torch.allclose(a, b, atol=1e-4)


def test_gradients_reach_affines_through_the_warp():
    m = tiny()
    affines = torch.eye(2, 3).repeat(1, 18, 1, 1).requires_grad_()
    target = torch.roll(m.render(affines.detach()), 2, dims=-1)
    loss = (m.render(affines) - target).abs().mean()
    loss.backward()
    assert affines.grad is not None
    assert affines.grad[..., 2].abs().sum() > 0  # translations get a signal
    # and through the regressor into the network weights
    m.train()
    m.regressor.head.weight.data.normal_(std=1e-3)
    warped = m.render(m.poses(torch.rand(2, 3, 32, 32)).affines)
    warped.mean().backward()
    assert m.regressor.head.weight.grad.abs().sum() > 0


def test_known_affine_moves_peak_with_centre_anchor():
    """A rotation+scale+shift moves the warped Gaussian's peak where it moves the part centre."""
    m = tiny()
    k = 0  # core
    a = torch.eye(2, 3).repeat(1, 18, 1, 1)
    th = 0.3
    a[0, k] = torch.tensor([[0.9 * np.cos(th), -0.9 * np.sin(th), 4.0], [0.9 * np.sin(th), 0.9 * np.cos(th), -2.5]])
    warped = m.render(a)[0, k]
    moved = move_points(a, m.anchors)[0, k, 3]  # slot 3 = Gaussian centre
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    w = warped.clamp_min(0) ** 8  # sharpen: the weighted mean of a peaked map is its peak
    peak = torch.stack([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    assert torch.linalg.norm(peak - moved) < 0.5


def test_warp_convention_pure_translation():
    maps = torch.zeros(1, 8, 8)
    maps[0, 2, 3] = 1.0  # row 2, col 3
    a = torch.tensor([[[[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]]])  # x += 2, y += 1
    out = warp_template(maps, a)[0, 0]
    assert out[3, 5] == pytest.approx(1.0)


def test_part_ellipses_follow_the_affine():
    t = load_template("tpose")
    a = np.tile(np.eye(2, 3), (18, 1, 1))
    e0 = part_ellipses(t, a, 256)
    assert e0[0, :2] == pytest.approx((128, 120))  # core centre x=col, y=row
    assert e0[0, 2] == pytest.approx(25.6) and e0[0, 3] == pytest.approx(15.36)
    assert abs(abs(e0[0, 4]) - 90) < 1e-3  # long axis vertical (the table rounds pi/2 to 1.5708)
    a[0] = [[2, 0, 0], [0, 2, 0]]
    e1 = part_ellipses(t, a, 256)
    assert e1[0, :4] == pytest.approx((256, 240, 51.2, 30.72))


def test_checkpoint_round_trip(tmp_path):
    m = tiny(1)
    torch.nn.init.normal_(m.regressor.head.weight, std=0.01)
    path = save_model(m, tmp_path / "m.safetensors", metrics={"mean_error_pct": 4.2})
    assert read_metadata(path)["metrics"]["mean_error_pct"] == 4.2
    m2 = load_model(path)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(m.poses(x).keypoints, m2.poses(x).keypoints)
    assert m2.cfg == CFG and m2.template == m.template
    save_model(m2, path)  # overwriting goes through a whole temporary file, then a rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_bad_model_files(tmp_path):
    with pytest.raises(InputError):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        load_model(junk)


def test_config_validation():
    with pytest.raises(InputError):
        ModelConfig(input_size=30, widths=(8, 16))


def test_one_model_resolver_names_the_fix(tmp_path):
    from tpt_live.checkpoint import default_model_path, model_label, resolve_model_file
    from tpt_live.errors import InputError

    assert resolve_model_file(None) == default_model_path() == resolve_model_file("default")
    assert model_label(default_model_path()) == "default"
    with pytest.raises(InputError, match="does not exist; pass a .safetensors"):
        resolve_model_file(tmp_path / "nope.safetensors")
    real = tmp_path / "m.safetensors"
    real.write_bytes(b"x")
    assert resolve_model_file(str(real)) == real and model_label(real) == "m.safetensors"
