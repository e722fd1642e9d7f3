"""Sim-to-real augmentation: what a camera and a photographer do to a render.

Geometric changes (zoom, shift, flip) move image, depth and mask together:
the image is resampled bilinearly, depth and mask by nearest neighbour, so no
depth value mixes the face with what lies behind it; pixels brought in from
outside the render are background without depth (left out of the loss), and a
zoom by s multiplies the focal length by s (the canonical-focal target
follows). Photometric effects touch RGB only, in the order a camera applies
them: colour jitter, exposure curve (gamma), white balance, lens or motion
blur, shot and read noise, lateral chromatic shift, greyscale, JPEG.

Each effect has a probability `p_*` and a range in params.yaml
(`train.augment`); all draws come from the caller's generator, seeded per
sample, so an augmented sample is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class Augment:
    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.2  # colour jitter amplitudes, always applied
    contrast: float = 0.2
    saturation: float = 0.2
    p_zoom: float = 0.0
    zoom: Range = (0.7, 1.3)  # > 1 zooms in: the head fills ~22-76% of the width at the default framing
    shift: float = 0.08  # translation with a zoom, fraction of the image size
    p_gamma: float = 0.0
    gamma: Range = (0.75, 1.35)
    p_white_balance: float = 0.0
    white_balance: float = 0.15  # per-channel gain in 1 +- this
    p_blur: float = 0.0
    blur_sigma: Range = (0.3, 1.2)  # Gaussian, pixels
    p_motion_blur: float = 0.0
    motion_px: Range = (3, 7)  # streak length
    p_noise: float = 0.0
    shot_noise: Range = (0.0, 0.03)  # std at full scale grows with sqrt(intensity)
    read_noise: Range = (0.0, 0.015)
    p_chroma: float = 0.0
    chroma_px: float = 1.0  # red and blue planes shifted apart by up to this
    p_grey: float = 0.0
    p_jpeg: float = 0.0
    jpeg_quality: Range = (30, 95)

    @classmethod
    def from_params(cls, section: dict) -> Augment:
        """Typed, range-checked; an unknown key or a bad value names itself."""
        allowed = {f.name: f for f in dataclasses.fields(cls)}
        if not isinstance(section, dict) or set(section) - set(allowed):
            bad = sorted(set(section) - set(allowed)) if isinstance(section, dict) else section
            raise ValueError(f"train.augment: unknown key(s) {bad}; allowed: {sorted(allowed)}")
        out = {}
        for key, value in section.items():
            default = allowed[key].default
            if isinstance(default, tuple):
                ok = (isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) for v in value)
                      and 0 <= value[0] <= value[1])
                if not ok:
                    raise ValueError(f"train.augment.{key}: need [low, high] with 0 <= low <= high, got {value!r}")
                out[key] = (float(value[0]), float(value[1]))
            else:
                if not _number(value) or (key == "flip" or key.startswith("p_")) and value > 1:
                    raise ValueError(f"train.augment.{key}: need a number >= 0"
                                     f"{' and <= 1 (a probability)' if key == 'flip' or key.startswith('p_') else ''}, "
                                     f"got {value!r}")
                out[key] = float(value)
        return cls(**out)


def _number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and 0 <= v < math.inf


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def geometric(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, rng: np.random.Generator, aug: Augment):
    """Random zoom about the centre plus shift; returns (rgb, depth, mask, zoom factor)."""
    if not rng.uniform() < aug.p_zoom:
        return rgb, depth, mask, 1.0
    h, w = mask.shape
    s = _u(rng, aug.zoom)
    tx, ty = rng.uniform(-aug.shift, aug.shift, 2) * (w, h)
    # pixel centres at integer coordinates (OpenCV): the centre (w-1)/2 stays put before the shift
    M = np.array([[s, 0, (1 - s) * (w - 1) / 2 + tx], [0, s, (1 - s) * (h - 1) / 2 + ty]])
    rgb = cv2.warpAffine(np.ascontiguousarray(rgb), M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    depth = cv2.warpAffine(np.ascontiguousarray(depth, np.float32), M, (w, h), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    mask = cv2.warpAffine(np.ascontiguousarray(mask), M, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rgb, depth, mask, s


def jitter(x: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Brightness, contrast and saturation on float RGB in [0, 1]."""
    x = x * rng.uniform(1 - aug.brightness, 1 + aug.brightness)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + mean
    grey = x.mean(axis=2, keepdims=True)
    return (x - grey) * rng.uniform(1 - aug.saturation, 1 + aug.saturation) + grey


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = max(int(round(length)) | 1, 3)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(angle), math.sin(angle)
    for t in np.linspace(-c, c, 4 * n):
        k[int(round(c + t * dy)), int(round(c + t * dx))] = 1
    return k / k.sum()


def photometric(rgb: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """uint8 RGB -> uint8 RGB through the camera effects; depth is untouched."""
    x = np.clip(jitter(rgb.astype(np.float32) / 255.0, rng, aug), 0, 1)
    if rng.uniform() < aug.p_gamma:
        x = x ** _u(rng, aug.gamma)
    if rng.uniform() < aug.p_white_balance:
        x = np.clip(x * rng.uniform(1 - aug.white_balance, 1 + aug.white_balance, 3).astype(np.float32), 0, 1)
    if rng.uniform() < aug.p_blur:
        x = cv2.GaussianBlur(x, (0, 0), _u(rng, aug.blur_sigma), borderType=cv2.BORDER_REPLICATE)
    if rng.uniform() < aug.p_motion_blur:
        x = cv2.filter2D(x, -1, _motion_kernel(_u(rng, aug.motion_px), rng.uniform(0, math.pi)),
                         borderType=cv2.BORDER_REPLICATE)
    if rng.uniform() < aug.p_noise:
        std = np.sqrt(_u(rng, aug.shot_noise) ** 2 * x + _u(rng, aug.read_noise) ** 2)
        x = np.clip(x + std * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)
    if rng.uniform() < aug.p_chroma:
        k = rng.uniform(-aug.chroma_px, aug.chroma_px)
        h, w = x.shape[:2]
        for channel, dx in ((0, k), (2, -k)):
            x[..., channel] = cv2.warpAffine(np.ascontiguousarray(x[..., channel]), np.float32([[1, 0, dx], [0, 1, 0]]),
                                             (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.uniform() < aug.p_grey:
        x = np.repeat(x @ np.float32([0.299, 0.587, 0.114])[:, None], 3, axis=2)
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    if rng.uniform() < aug.p_jpeg:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(round(_u(rng, aug.jpeg_quality)))])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


# The default profile's training augmentation (params.yaml train.augment; tests/test_config.py keeps them equal).
SIM_TO_REAL = dict(flip=0.5, brightness=0.2, contrast=0.2, saturation=0.2, p_zoom=0.5, zoom=(0.7, 1.3), shift=0.08,
                   p_gamma=0.3, gamma=(0.75, 1.35), p_white_balance=0.3, white_balance=0.15, p_blur=0.2,
                   blur_sigma=(0.3, 1.2), p_motion_blur=0.1, motion_px=(3, 7), p_noise=0.4, shot_noise=(0.0, 0.03),
                   read_noise=(0.0, 0.015), p_chroma=0.1, chroma_px=1.0, p_grey=0.05, p_jpeg=0.4,
                   jpeg_quality=(30, 95))

# The fixed camera-effects pipeline of the robustness evaluation: every photometric effect but greyscale, no geometry.
CAMERA_EFFECTS = Augment(flip=0.0, brightness=0.1, contrast=0.1, saturation=0.1, p_gamma=1.0, p_white_balance=1.0,
                         p_blur=1.0, blur_sigma=(0.3, 0.8), p_motion_blur=0.0, p_noise=1.0, shot_noise=(0.01, 0.03),
                         read_noise=(0.005, 0.012), p_chroma=1.0, p_jpeg=1.0, jpeg_quality=(30, 70))
