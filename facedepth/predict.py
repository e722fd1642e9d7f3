"""Inference on arbitrary photos with a trained checkpoint.

A photo of any size is resized to the network's training input size, the
half-resolution prediction is upsampled back to the photo's size and
converted to metric depth with the checkpoint's normalisation range.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from facedepth.data import image_tensor
from facedepth.depthnorm import denormalize
from facedepth.train import load_checkpoint


class Predictor:
    def __init__(self, checkpoint: str | Path, device: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.cfg, state = load_checkpoint(Path(checkpoint), self.device)
        self.input_hw = tuple(state.get("input_size", (128, 128)))

    @torch.no_grad()
    def normalized(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) network-ready images -> (B, 1, H/2, W/2) normalised depth."""
        return self.model(batch.to(self.device)).float()

    def to_metric(self, n):
        return denormalize(n, self.cfg.near_m, self.cfg.far_m)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB (or (H, W) grey) -> (H, W) float32 metric depth."""
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        rgb = rgb[..., :3]
        h, w = rgb.shape[:2]
        ih, iw = self.input_hw
        x = image_tensor(cv2.resize(rgb, (iw, ih), interpolation=cv2.INTER_AREA))[None]
        n = self.normalized(x)[0, 0].cpu().numpy()
        depth = self.to_metric(cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float64))
        return depth.astype(np.float32)


def default_intrinsics(width: int, height: int, fov_deg: float = 50.0) -> np.ndarray:
    """K for a photo without calibration: a typical portrait horizontal field of view."""
    f = width / 2 / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def point_cloud(depth: np.ndarray, K: np.ndarray, rgb: np.ndarray | None = None, step: int = 1):
    """Back-project pixel centres to camera-frame points (N, 3) and their colours (N, 3) uint8."""
    h, w = depth.shape
    v, u = np.mgrid[0:h:step, 0:w:step]
    z = depth[v, u]
    keep = np.isfinite(z) & (z > 0)
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
    points = np.stack([x[keep], y[keep], z[keep]], 1).astype(np.float32)
    colours = rgb[v, u][keep][:, :3].astype(np.uint8) if rgb is not None else np.full((len(points), 3), 200, np.uint8)
    return points, colours


def write_ply(path: Path, points: np.ndarray, colours: np.ndarray) -> None:
    """Binary little-endian PLY with float xyz and uchar rgb."""
    vertex = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                          ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vertex["x"], vertex["y"], vertex["z"] = points.T
    vertex["red"], vertex["green"], vertex["blue"] = colours.T
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(vertex.tobytes())
