import pytest
import torch

from tpt_live.errors import InputError
from trainer.losses import Vgg19Relu32, anchor_loss, boundary_loss, reconstruction_loss


def test_anchor_loss_literal():
    anchors = torch.zeros(2, 2, 4, 2)
    anchors[:, 1, 0] = torch.tensor([3.0, 4.0])  # 5 px from part 0 anchor 0
    links = torch.tensor([[0, 4]])  # part 0 anchor 0 <-> part 1 anchor 0
    assert anchor_loss(anchors, links, 10) == pytest.approx(0.25)  # (5/10)^2


def test_boundary_loss_penalises_every_anchor_outside():
    size = 11  # pixel 0 -> -1, pixel 10 -> +1
    anchors = torch.full((1, 2, 4, 2), 5.0)
    mask = torch.tensor([[True, True, False, False], [True, False, False, False]])
    assert boundary_loss(anchors, mask, size) == 0
    anchors[0, 1, 0, 0] = 15.0  # a non-core part: c = 2, penalty 1
    anchors[0, 0, 3, 1] = 99.0  # padding slot, masked out
    assert boundary_loss(anchors, mask, size) == pytest.approx(1.0)


def test_reconstruction_loss_zero_for_identical_images():
    x = torch.rand(2, 3, 16, 16)
    assert reconstruction_loss(x, x) == pytest.approx(0.0, abs=1e-5)
    assert reconstruction_loss(x, 1 - x) > 0.1


def test_vgg_loads_torchvision_format_weights(tmp_path):
    net = Vgg19Relu32.__new__(Vgg19Relu32)
    torch.nn.Module.__init__(net)
    # build a torchvision-style state dict by hand: features.{0,2,5,7,10,12}
    state = {}
    shapes = ((3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256))
    for idx, (cin, cout) in zip((0, 2, 5, 7, 10, 12), shapes, strict=True):
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3) * 0.01
        state[f"features.{idx}.bias"] = torch.zeros(cout)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    vgg = Vgg19Relu32(path)
    out = vgg(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 256, 8, 8)
    assert not any(p.requires_grad for p in vgg.parameters())
    with pytest.raises(InputError):
        Vgg19Relu32(tmp_path / "missing.pth")


def test_weighted_reconstruction_ignores_pixels_of_weight_zero():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    weight = torch.zeros(2, 1, 16, 16)
    weight[..., 4:12, 5:12] = 1.0
    off = x.clone()
    off[..., :, :2] = 1 - off[..., :, :2]  # differs only where the weight is 0, beyond the SSIM window's reach
    assert reconstruction_loss(x, off, weight=weight) == pytest.approx(0.0, abs=1e-5)
    assert reconstruction_loss(x, off) > 0.02  # the unweighted loss sees it
    on = x.clone()
    on[..., 6:10, 6:10] = 1 - on[..., 6:10, 6:10]
    assert reconstruction_loss(x, on, weight=weight) > reconstruction_loss(x, on)  # a quarter of the weighted area


def test_effnet_perceptual_loss_loads_packaged_weights_and_respects_the_weight():
    from trainer.perceptual import EffNetLite0Early

    net = EffNetLite0Early()
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    feats = net(x)
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 16), (2, 24, 8, 8)]
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training  # BN keeps ImageNet statistics
    assert reconstruction_loss(x, x, net) == pytest.approx(0.0, abs=1e-5)
    y = (x + 0.3).clamp(0, 1)
    plain = reconstruction_loss(x, y)
    assert reconstruction_loss(x, y, net) > plain + 0.01  # the feature term adds


def test_effnet_rejects_a_foreign_state_dict(tmp_path):
    from trainer.perceptual import EffNetLite0Early

    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="EfficientNet-Lite0"):
        EffNetLite0Early(path)
