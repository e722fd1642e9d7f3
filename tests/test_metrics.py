"""Depth metrics against hand-computed values."""

import numpy as np
import pytest

from facedepth.metrics import depth_metrics


def test_exact_match():
    gt = np.array([[0.5, 1.0], [2.0, 4.0]])
    m = depth_metrics(gt, gt, np.ones_like(gt, bool))
    assert m["abs_rel"] == m["sq_rel"] == m["rmse"] == m["rmse_log"] == m["log10"] == 0
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1


def test_known_constant_scale_error():
    gt = np.array([0.5, 1.0, 2.0, 4.0])
    pred = 1.5 * gt
    valid = np.ones(4, bool)
    m = depth_metrics(pred, gt, valid)
    assert m["abs_rel"] == pytest.approx(0.5)
    assert m["sq_rel"] == pytest.approx(np.mean(0.25 * gt))  # (0.5 g)^2 / g
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((0.5 * gt) ** 2)))
    assert m["rmse_log"] == pytest.approx(np.log(1.5))
    assert m["log10"] == pytest.approx(np.log10(1.5))
    assert m["delta1"] == 0 and m["delta2"] == 1 and m["delta3"] == 1  # 1.25 < 1.5 < 1.5625
    si = depth_metrics(pred, gt, valid, median_scale=True)
    assert si["abs_rel"] == pytest.approx(0, abs=1e-12) and si["delta1"] == 1


def test_hand_computed_mixed_errors_and_mask():
    gt = np.array([1.0, 2.0, 4.0, 99.0])
    pred = np.array([1.1, 1.0, 4.0, -5.0])
    valid = np.array([True, True, True, False])  # the last pixel is ignored
    m = depth_metrics(pred, gt, valid)
    assert m["abs_rel"] == pytest.approx((0.1 + 0.5 + 0) / 3)
    assert m["sq_rel"] == pytest.approx((0.01 / 1 + 1 / 2 + 0) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0.01 + 1 + 0) / 3))
    # ratios 1.1, 2.0, 1.0: 2.0 exceeds even 1.25^3 = 1.953
    assert m["delta1"] == m["delta2"] == m["delta3"] == pytest.approx(2 / 3)


def test_empty_mask_is_an_error():
    with pytest.raises(ValueError, match="no valid pixels"):
        depth_metrics(np.ones(3), np.ones(3), np.zeros(3, bool))
