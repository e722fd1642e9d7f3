"""Standard monocular depth metrics (Eigen et al. 2014), on valid pixels only.

`depth_metrics` works in metric depth; with `median_scale=True` the
prediction is first scaled by median(gt)/median(pred) per image, giving the
scale-invariant form used when absolute scale is not observable.
"""

from __future__ import annotations

import numpy as np

METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3")


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


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average of per-image metrics (each image weighs the same)."""
    return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
