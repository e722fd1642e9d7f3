"""Depth as a colour image, one look for every command that shows depth (predict, demo, statistics, previews)."""

from __future__ import annotations

import functools

import numpy as np


def colourise(
    depth: np.ndarray, valid: np.ndarray, lo: float | None = None, hi: float | None = None, cmap: str = "turbo_r"
) -> np.ndarray:
    """uint8 RGB of depth over `valid` pixels (near = warm), black elsewhere; lo/hi fix the scale."""
    d = depth[valid & np.isfinite(depth)]
    lo = float(d.min()) if lo is None and d.size else (lo or 0.0)
    hi = float(d.max()) if hi is None and d.size else (hi or 1.0)
    t = np.clip((np.nan_to_num(depth) - lo) / max(hi - lo, 1e-6), 0, 1)
    lut = _table(cmap)
    rgb = lut[np.minimum((t * len(lut)).astype(np.intp), len(lut) - 1)]  # matplotlib's own binning, 3x faster
    rgb[~(valid & np.isfinite(depth))] = 0
    return rgb


@functools.cache
def _table(cmap: str) -> np.ndarray:
    """The colour map's entries as uint8 RGB (turbo has 256)."""
    from matplotlib import colormaps

    cm = colormaps[cmap]
    return (cm(np.arange(cm.N))[:, :3] * 255).astype(np.uint8)
