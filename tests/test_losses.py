"""Each loss term on hand-made depth maps with known answers."""

import pytest
import torch

from facedepth import losses
from facedepth.losses import HybridLoss


def _ramp(slope_x=0.0, slope_y=0.0, h=16, w=16, offset=0.5):
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return (offset + slope_x * xx + slope_y * yy).view(1, 1, h, w)


def test_identical_maps_give_zero_for_every_term():
    d = _ramp(0.01, -0.02)
    mask = torch.ones_like(d, dtype=torch.bool)
    for name, value in HybridLoss().terms(d, d, mask).items():
        assert value.item() == pytest.approx(0, abs=1e-12), name
    assert HybridLoss()(d, d, mask).item() == pytest.approx(0, abs=1e-12)


def test_l1_of_a_constant_offset():
    a, b = _ramp(offset=0.5), _ramp(offset=0.6)
    assert losses.l1(a, b, torch.ones_like(a, dtype=torch.bool)).item() == pytest.approx(0.1)


def test_known_slope_gives_known_gradient_term():
    # pred slopes 0.03/px in x, target is flat: |dx| = 0.03 on W-1 columns, |dy| = 0 on H-1 rows
    pred, target = _ramp(0.03), _ramp(0.0)
    mask = torch.ones_like(pred, dtype=torch.bool)
    h = w = 16
    expected = 0.03 * h * (w - 1) / (h * (w - 1) + (h - 1) * w)
    assert losses.gradient(pred, target, mask).item() == pytest.approx(expected)


def test_known_slope_gives_known_normal_term():
    pred, target = _ramp(1.0), _ramp(0.0)  # a 45 degree plane against a flat one
    mask = torch.ones_like(pred, dtype=torch.bool)
    assert losses.normal(pred, target, mask).item() == pytest.approx(1 - 2**-0.5)


def test_ssim_term_is_zero_for_equal_and_positive_for_different():
    a = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    mask = torch.ones_like(a, dtype=torch.bool)
    assert losses.ssim_term(a, a, mask).item() == pytest.approx(0, abs=1e-12)
    assert losses.ssim_term(a, 1 - a, mask).item() > 0.3


def test_invalid_pixels_are_ignored():
    pred, target = _ramp(offset=0.5), _ramp(offset=0.5)
    pred[..., :, :8] = 5.0  # garbage only where the mask is false
    mask = torch.zeros_like(pred, dtype=torch.bool)
    mask[..., :, 9:] = True
    for name, value in HybridLoss().terms(pred, target, mask).items():
        assert value.item() == pytest.approx(0, abs=1e-12), name


def test_weights_combine_terms():
    pred, target = _ramp(0.02, offset=0.4), _ramp(offset=0.5)
    mask = torch.ones_like(pred, dtype=torch.bool)
    loss = HybridLoss(1.0, 0.0, 0.0, 0.0)
    assert loss(pred, target, mask).item() == pytest.approx(loss.terms(pred, target, mask)["ssim"].item())
