"""Depth metrics on valid pixels only.

`depth_metrics` gives the standard set (Eigen et al. 2014) in metric depth;
with `median_scale=True` the prediction is first scaled by
median(gt)/median(pred) per image, the scale-invariant form used when
absolute scale is not observable. On a head those are dominated by the
silhouette (any smooth blob at the right distance scores well), so
`relief_mae_mm` and `spearman` measure the face's shape itself.
"""

from __future__ import annotations

import numpy as np

METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3")
SHAPE_METRICS = ("relief_mm", "spearman")


def depth_metrics(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, median_scale: bool = False) -> dict[str, float]:
    """Metrics of one image (or any set of pixels); `valid` selects pixels, both depths > 0."""
    p = np.asarray(pred, np.float64)[valid]
    g = np.asarray(gt, np.float64)[valid]
    if p.size == 0:
        raise ValueError("no valid pixels to evaluate")
    if median_scale:
        p = p * (np.median(g) / np.median(p))
    p = np.clip(p, 1e-6, None)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def scale_shift_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """pred x a + b with (a, b) the least-squares fit to gt on `valid` pixels: the relative-depth standard."""
    p, g = np.asarray(pred, np.float64)[valid], np.asarray(gt, np.float64)[valid]
    if p.size < 2 or np.ptp(p) == 0:
        return np.asarray(pred, np.float64) * (np.median(g) / np.median(p)) if p.size else np.asarray(pred, np.float64)
    a, b = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), g, rcond=None)[0]
    return np.asarray(pred, np.float64) * a + b


def relief_mae_mm(pred: np.ndarray, gt: np.ndarray, face: np.ndarray) -> float:
    """Mean |relief error| in mm on `face` pixels, each depth minus its own median there.

    Removing the medians leaves only the shape (nose out, eyes in), so a flat
    or constant prediction scores the face's mean relief, never zero.
    """
    p = np.asarray(pred, np.float64)[face]
    g = np.asarray(gt, np.float64)[face]
    if p.size == 0:
        raise ValueError("no face pixels to measure relief on")
    return float(np.mean(np.abs((p - np.median(p)) - (g - np.median(g)))) * 1000)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their average rank (as in Spearman's definition)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, ranks) / counts)[inverse]


def spearman(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """Spearman rank correlation on `valid` pixels; 0 when either side is constant."""
    p, g = _ranks(np.asarray(pred)[valid].ravel()), _ranks(np.asarray(gt)[valid].ravel())
    p, g = p - p.mean(), g - g.mean()
    denom = np.sqrt((p * p).sum() * (g * g).sum())
    return float((p * g).sum() / denom) if denom > 0 else 0.0
