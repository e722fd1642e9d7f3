"""The documented, invertible depth normalisation used for training.

Two encodings of depth d in [near, far] as n in [0, 1] (the sigmoid's range):

    log:      n = log(d / near) / log(far / near)        (default)
    inverse:  n = (far / d - 1) / (far / near - 1)       (DenseDepth's DepthNorm = far / d, rescaled)

Log depth spreads a face's few centimetres of relief evenly whatever the
camera distance; inverse depth is the reference training's choice (with
far = 5 m) and gives near pixels more of the range.

Metric depth from one image is ambiguous between a near wide-angle and a far
telephoto shot; the camera's focal length resolves it. With a canonical focal
c (focal length / image width), the network learns the depth the same image
would have through a camera of focal c, d x c / (fx / W), and a prediction is
turned back into metres with the photo's own fx / W. Both functions accept
numpy arrays and torch tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("log", "inverse")


def _log(x):
    return x.log() if hasattr(x, "log") else np.log(x)


def _exp(x):
    return x.exp() if hasattr(x, "exp") else np.exp(x)


def normalize(depth, near: float, far: float, kind: str = "log"):
    """Metric depth (m) -> [0, 1] for depth in [near, far]."""
    if kind == "inverse":
        return (far / depth - 1) / (far / near - 1)
    return (_log(depth) - math.log(near)) / math.log(far / near)


def denormalize(n, near: float, far: float, kind: str = "log"):
    """[0, 1] -> metric depth (m); exact inverse of normalize."""
    if kind == "inverse":
        return far / (1 + n * (far / near - 1))
    return _exp(n * math.log(far / near) + math.log(near))


@dataclass(frozen=True)
class DepthNorm:
    """A checkpoint's depth encoding: range, kind, and the canonical focal (0 = raw metric depth)."""

    near: float = 0.15
    far: float = 3.0
    kind: str = "log"
    canonical_focal: float = 0.0

    def __post_init__(self):
        if not 0 < self.near < self.far:
            raise ValueError(f"depth normalisation: need 0 < near_m < far_m, got {self.near}, {self.far}")
        if self.kind not in KINDS:
            raise ValueError(f"train.depth_norm: {self.kind!r} is not one of {', '.join(KINDS)}")
        if isinstance(self.canonical_focal, bool) or not 0 <= self.canonical_focal < math.inf:
            raise ValueError(
                f"train.canonical_focal: need a number >= 0 (focal length / image width; 0 = off), "
                f"got {self.canonical_focal!r}"
            )

    def scale(self, fx, width):
        """Factor from metric depth to the trained (canonical-camera) depth; fx in pixels of an image `width` wide."""
        fx = np.asarray(fx, np.float64)
        s = self.canonical_focal * width / fx if self.canonical_focal else np.ones_like(fx)
        return s if s.ndim else float(s)

    def encode(self, depth, scale=1.0):
        return normalize(depth * scale, self.near, self.far, self.kind)

    def decode(self, n, scale=1.0):
        """Network output -> metric depth (m), given the frame's scale."""
        return denormalize(n, self.near, self.far, self.kind) / scale
