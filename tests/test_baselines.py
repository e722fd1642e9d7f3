"""Shape metrics and trivial baselines against analytic surfaces."""

import numpy as np
import pytest

from facedepth import baselines
from facedepth.metrics import relief_mae_mm, spearman
from facedepth.scoring import score


def sphere(shape, centre, radius_px, level, fx):
    """Orthographic view of a sphere whose silhouette is a disc: depth, head mask, sphere radius (m)."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    rho2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2
    head = rho2 < radius_px**2
    R = radius_px * level / fx
    depth = np.where(head, level - np.sqrt(np.clip(R**2 - rho2 * (level / fx) ** 2, 0, None)), level)
    return depth, head, R


def test_relief_removes_the_median_and_measures_mm():
    gt = np.array([0.50, 0.52, 0.54, 0.56])
    face = np.ones(4, bool)
    assert relief_mae_mm(gt + 0.3, gt, face) == pytest.approx(0, abs=1e-9)  # a shift is not a shape error
    flat = np.full(4, 0.9)
    assert relief_mae_mm(flat, gt, face) == pytest.approx(np.mean(np.abs(gt - np.median(gt))) * 1000)
    with pytest.raises(ValueError, match="no face pixels"):
        relief_mae_mm(gt, gt, np.zeros(4, bool))


def test_spearman_is_rank_correlation_with_ties():
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    valid = np.ones(5, bool)
    assert spearman(np.exp(g), g, valid) == pytest.approx(1)  # any monotone map
    assert spearman(-g, g, valid) == pytest.approx(-1)
    assert spearman(np.ones(5), g, valid) == 0
    # ties: ranks (0.5, 0.5, 2, 3, 4) against 0..4 -> Pearson of those ranks
    r = np.array([0.5, 0.5, 2, 3, 4])
    assert spearman(np.array([1, 1, 2, 3, 4.0]), g, valid) == pytest.approx(np.corrcoef(r, np.arange(5))[0, 1])


def test_dome_is_the_sphere_its_silhouette_implies():
    depth, head, R = sphere((96, 96), (47.5, 47.5), 30, 0.6, 300.0)
    frame = baselines.Known(head, (47.5, 47.5), 300.0)
    dome = baselines.dome(frame, 0.6)
    error = np.abs(dome - depth)[head]
    assert error.mean() < 0.02 * R and np.percentile(error, 95) < 0.05 * R  # steep rim pixels are discretised
    assert spearman(dome, depth, head) > 0.95
    flat = baselines.constant(frame, 0.6)
    assert relief_mae_mm(dome, depth, head) < 0.2 * relief_mae_mm(flat, depth, head)


def test_mean_face_recovers_a_shared_relief_at_any_position_and_size():
    frames, depths = [], []
    for centre, radius in (((30.0, 40.0), 18), ((60.0, 50.0), 25), ((45.0, 45.0), 12)):
        d, head, _ = sphere((96, 96), centre, radius, 0.5, 250.0)
        d = d * 0.5 / radius * 25  # same physical relief whatever the image size: rescale to radius 25
        frames.append(baselines.Known(head, centre, 250.0))
        depths.append(np.where(head, d, 0.5))
    model = baselines.Baselines.fit(frames, depths)
    d, head, _ = sphere((96, 96), (50.0, 44.0), 20, 0.5, 250.0)
    gt = np.where(head, d * 0.5 / 20 * 25, 0.5)
    pred = model.predict("mean_face", baselines.Known(head, (50.0, 44.0), 250.0))
    flat = model.predict("constant", baselines.Known(head, (50.0, 44.0), 250.0))
    assert relief_mae_mm(pred, gt, head) < 0.15 * relief_mae_mm(flat, gt, head)
    assert spearman(pred, gt, head) > 0.9


def test_score_uses_head_pixels_for_scale_and_face_skin_for_relief():
    depth, head, _ = sphere((40, 40), (19.5, 19.5), 12, 0.6, 200.0)
    mask = np.where(head, 1, 0).astype(np.uint8)
    mask[:5] = np.where(head[:5], 2, 0)  # hair on top: in the head metrics, not in relief
    row = score(depth * 1.7, depth, mask)
    assert row["abs_rel"] == pytest.approx(0.7) and row["si_abs_rel"] == pytest.approx(0, abs=1e-9)
    assert row["relief_mm"] == pytest.approx(0, abs=1e-6) and row["spearman"] == pytest.approx(1)
    assert score(depth, depth, np.zeros_like(mask)) is None
