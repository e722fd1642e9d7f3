"""The documented, invertible depth normalisation used for training.

    n = log(d / near) / log(far / near)        d = near * (far / near) ** n

Log depth spreads a face's few centimetres of relief evenly whatever the
camera distance, maps [near, far] to [0, 1], and works on numpy arrays and
torch tensors alike (both have .log()/.exp() or numpy ufuncs).
"""

from __future__ import annotations

import math

import numpy as np


def _log(x):
    return x.log() if hasattr(x, "log") else np.log(x)


def _exp(x):
    return x.exp() if hasattr(x, "exp") else np.exp(x)


def normalize(depth, near: float, far: float):
    """Metric depth (m) -> [0, 1] for depth in [near, far]."""
    return (_log(depth) - math.log(near)) / math.log(far / near)


def denormalize(n, near: float, far: float):
    """[0, 1] -> metric depth (m); exact inverse of normalize."""
    return _exp(n * math.log(far / near) + math.log(near))
