"""Every model: output shape for odd sizes and a loss that falls on a fixed tiny batch."""

import pytest
import torch

from facedepth.losses import HybridLoss
from facedepth.models import MODELS, build

SMALL = {"facedepth": {}, "densedepth": {}, "bts": {"encoder": "resnet18", "width": 32}, "unet_simple": {"base": 8}}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("hw", [(64, 64), (72, 100)])
def test_output_is_half_resolution(name, hw):
    torch.manual_seed(0)
    model = build(name, **SMALL[name]).eval()
    with torch.no_grad():
        y = model(torch.rand(2, 3, *hw))
    assert y.shape == (2, 1, hw[0] // 2, hw[1] // 2)
    assert torch.all((y >= 0) & (y <= 1))


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build("resnet")


def test_missing_pretrained_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build("facedepth", pretrained=str(tmp_path / "nope.pth"))


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_loss_decreases_when_overfitting_a_tiny_batch(name):
    torch.manual_seed(0)
    model = build(name, **SMALL[name])
    x = torch.rand(2, 3, 64, 64)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    target = (0.5 + 0.3 * (xx**2 + yy**2)).expand(2, 1, 32, 32).clone()
    mask = (xx**2 + yy**2 < 0.8).expand(2, 1, 32, 32)
    loss_fn = HybridLoss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = loss_fn(model(x), target, mask)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
