"""Trivial depth predictors that every model must beat to claim it learned face shape.

Each maps one test frame (its head mask, eye centre and focal length at the
evaluation grid) to a depth map, knowing nothing of the image's pixels:
- constant: the training split's median head depth everywhere;
- dome: a spherical cap over the silhouette, as tall as the head is wide
  (the head's radius in pixels back-projected at that depth), so it knows
  only the outline;
- mean_face: the training faces' average relief, aligned to the test frame
  by the eye centre and the head's size, mirrored so it is symmetric.
All three sit at the training median depth: no test depth leaks in, and the
scale-invariant metrics rescale them exactly as they rescale a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facedepth.data import HEAD_LABELS

GRID = 64  # mean-face resolution in head-size units
EXTENT = 1.8  # canonical coordinates span [-EXTENT, EXTENT] head radii around the eye centre
NAMES = ("constant", "dome", "mean_face")


@dataclass(frozen=True)
class Known:
    """What a baseline may know of a test frame, on the evaluation grid (index coordinates)."""

    head: np.ndarray  # bool (H, W)
    eye_xy: tuple[float, float]  # eye centre, x right, y down; pixel j's centre is at j
    fx: float  # focal length in evaluation-grid pixels

    @property
    def radius(self) -> float:
        """Head radius in pixels of a disc with the head's area."""
        return float(np.sqrt(max(self.head.sum(), 1) / np.pi))


def head_mask(mask: np.ndarray, depth: np.ndarray) -> np.ndarray:
    return np.isin(mask, HEAD_LABELS) & np.isfinite(depth) & (depth > 0)


def _canonical(frame: Known, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean-face grid coordinates (float32 maps for cv2.remap) of every pixel of `shape`."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    cx = (x - frame.eye_xy[0]) / frame.radius
    cy = (y - frame.eye_xy[1]) / frame.radius
    to_grid = lambda c: ((c + EXTENT) / (2 * EXTENT) * (GRID - 1)).astype(np.float32)  # noqa: E731
    return to_grid(cx), to_grid(cy)


class MeanFace:
    """Average relief (depth minus the head's median, metres) in eye-centred, head-size units."""

    def __init__(self, relief: np.ndarray):
        self.relief = relief.astype(np.float32)

    @classmethod
    def fit(cls, frames: list[Known], depths: list[np.ndarray]) -> MeanFace:
        total = np.zeros((GRID, GRID))
        count = np.zeros((GRID, GRID))
        g = np.linspace(-EXTENT, EXTENT, GRID)
        gy, gx = np.meshgrid(g, g, indexing="ij")
        for f, d in zip(frames, depths):
            relief = np.where(f.head, d - np.median(d[f.head]), 0.0)
            for sign in (1, -1):  # the face and its mirror image
                x = np.rint(f.eye_xy[0] + sign * gx * f.radius).astype(int)
                y = np.rint(f.eye_xy[1] + gy * f.radius).astype(int)
                inside = (x >= 0) & (x < d.shape[1]) & (y >= 0) & (y < d.shape[0])
                hit = np.zeros_like(inside)
                hit[inside] = f.head[y[inside], x[inside]]
                total[hit] += relief[y[hit], x[hit]]
                count[hit] += 1
        if not count.any():
            raise ValueError("mean face: no training head pixels to average")
        return cls(np.where(count > 0, total / np.maximum(count, 1), 0.0))

    def __call__(self, frame: Known, level: float) -> np.ndarray:
        mx, my = _canonical(frame, frame.head.shape)
        relief = cv2.remap(self.relief, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return (level + relief).astype(np.float32)


def constant(frame: Known, level: float) -> np.ndarray:
    return np.full(frame.head.shape, level, np.float32)


def dome(frame: Known, level: float) -> np.ndarray:
    """Spherical cap on the silhouette: height R*sqrt(1-(1-t)^2), t = distance to the edge / its maximum."""
    # distance to the nearest background pixel centre, minus half a pixel: to the silhouette's edge
    dist = np.clip(cv2.distanceTransform(frame.head.astype(np.uint8), cv2.DIST_L2, 5) - 0.5, 0, None)
    t = dist / max(float(dist.max()), 1e-6)
    height = frame.radius * level / frame.fx * np.sqrt(1 - (1 - t) ** 2)
    return np.where(frame.head, level - height, level).astype(np.float32)


class Baselines:
    """The three baselines, fitted on a training split (level and mean face)."""

    def __init__(self, level: float, mean_face: MeanFace):
        self.level, self.mean_face = level, mean_face

    @classmethod
    def fit(cls, frames: list[Known], depths: list[np.ndarray]) -> Baselines:
        level = float(np.median(np.concatenate([d[f.head] for f, d in zip(frames, depths)])))
        return cls(level, MeanFace.fit(frames, depths))

    def predict(self, name: str, frame: Known) -> np.ndarray:
        if name == "mean_face":
            return self.mean_face(frame, self.level)
        return {"constant": constant, "dome": dome}[name](frame, self.level)
