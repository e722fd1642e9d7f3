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
    loss = HybridLoss(w_ssim=1.0, w_l1=0.0, w_grad=0.0, w_normal=0.0)
    assert loss(pred, target, mask).item() == pytest.approx(loss.terms(pred, target, mask)["ssim"].item())


def test_relief_ignores_a_per_image_offset_but_not_a_shape_error():
    target = torch.cat([_ramp(0.01, offset=0.5), _ramp(-0.01, offset=0.3)])
    mask = torch.ones_like(target, dtype=torch.bool)
    shifted = target + torch.tensor([0.1, -0.2], dtype=target.dtype).view(2, 1, 1, 1)  # log depth: a scale per image
    assert losses.relief(shifted, target, mask).item() == pytest.approx(0, abs=1e-12)
    assert losses.l1(shifted, target, mask).item() == pytest.approx(0.15)
    tilted = target + _ramp(0.02, offset=0.0)  # 0.02/px in x on 16 columns: mean |x - 7.5| * 0.02 = 0.08
    assert losses.relief(tilted, target, mask).item() == pytest.approx(0.08)


def test_gain_lets_normals_and_ssim_see_a_small_relief():
    # a bump of 0.01 in normalised depth: about a nose on a face at typical range
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    bump = (0.5 + 0.01 * torch.exp(-((xx - 16) ** 2 + (yy - 16) ** 2) / 30)).view(1, 1, 32, 32).double()
    flat = torch.full_like(bump, 0.5)
    mask = torch.ones_like(bump, dtype=torch.bool)
    blind, seeing = HybridLoss().terms(flat, bump, mask), HybridLoss(gain=300).terms(flat, bump, mask)
    assert blind["normal"] < 1e-6 and seeing["normal"] > 1e4 * blind["normal"] and seeing["normal"] > 0.01
    assert blind["ssim"] < 0.01 and seeing["ssim"] > 0.2
    assert seeing["l1"] == pytest.approx(300 * blind["l1"].item())


def test_ssi_ignores_scale_and_shift_but_msgrad_only_shift():
    target = torch.cat([_ramp(0.01, 0.02, offset=0.5), _ramp(-0.01, offset=0.3)])
    mask = torch.ones_like(target, dtype=torch.bool)
    k = torch.tensor([2.0, 0.5], dtype=target.dtype).view(2, 1, 1, 1)
    scaled = k * target + torch.tensor([0.1, -0.2], dtype=target.dtype).view(2, 1, 1, 1)
    assert losses.ssi(scaled, target, mask).item() == pytest.approx(0, abs=1e-12)
    shifted = target + 0.3
    assert losses.multiscale_gradient(shifted, target, mask).item() == pytest.approx(0, abs=1e-12)
    # a doubled relief: the aligned error is the target's own ramp, whose slope each scale sees 2^k times
    err = losses.multiscale_gradient(2 * target - 0.5, target, mask).item()
    h = w = 16
    per_scale = []
    for s in (1, 2, 4, 8):
        n, m = h // s, w // s  # pixels at this scale; differences of 0.01*s in x (image 1 also 0.02*s in y)
        gx = [0.01 * s, 0.01 * s]
        gy = [0.02 * s, 0.0]
        per_scale.append(
            sum(n * (m - 1) * a + (n - 1) * m * b for a, b in zip(gx, gy)) / (2 * (n * (m - 1) + (n - 1) * m))
        )
    assert err == pytest.approx(sum(per_scale) / 4)


def test_msgrad_sees_a_nose_that_relief_barely_weighs():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    nose = (0.02 * torch.exp(-((xx - 16) ** 2 + (yy - 16) ** 2) / 4)).view(1, 1, 32, 32).double()
    flat = torch.zeros_like(nose)
    mask = torch.ones_like(nose, dtype=torch.bool)
    assert losses.multiscale_gradient(flat, nose, mask).item() > losses.relief(flat, nose, mask).item()
