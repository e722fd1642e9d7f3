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

import cv2
import numpy as np

from facedepth.crops import rolled
from fdcore.schema import AugmentParams

Range = tuple[float, float]


Augment = AugmentParams  # fields and the default profile's values: fdcore.schema (params.yaml train.augment)
_OFF = {
    f.name: 0.0
    for f in dataclasses.fields(Augment)
    if f.name in ("flip", "brightness", "contrast", "saturation") or f.name.startswith("p_")
}


def only(**effects) -> Augment:
    """Every effect off (probabilities and jitter 0) but those given; amplitudes and ranges keep the profile's."""
    return Augment(**{**_OFF, **effects})


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def context(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, rng: np.random.Generator, aug: Augment, donor=None):
    """A render put in a photo's context: a new backdrop behind the silhouette (a cluttered procedural one, or
    `donor`, another frame, defocused), an occluder over the head, the photo's edge below the shoulders (rows
    replicated, as `predict` pads a crop). Hidden pixels become background in the mask: out of the loss."""
    from facedepth.scenes import occlude, procedural_background
    from fdcore.labels import BACKGROUND, HEAD_LABELS

    rgb, mask = rgb.copy(), mask.copy()
    h, w = mask.shape
    if rng.uniform() < aug.p_background:
        if donor is None or rng.uniform() < 0.5:
            back = procedural_background(rng, (h, w))
        else:
            back = cv2.GaussianBlur(np.asarray(donor), (0, 0), rng.uniform(2.0, 6.0))[:, ::-1]
        alpha = cv2.GaussianBlur((mask != BACKGROUND).astype(np.float32), (0, 0), rng.uniform(0.4, 1.0))[..., None]
        rgb = np.clip(np.rint(back * (1 - alpha) + rgb * alpha), 0, 255).astype(np.uint8)
    head = np.isin(mask, HEAD_LABELS)
    if rng.uniform() < aug.p_occluder and head.any():
        ys, xs = np.nonzero(head)
        visible = np.ones((h, w), bool)
        occlude(rgb, visible, rng, (xs.mean(), ys.mean()), float(np.sqrt(head.sum())))
        mask[~visible] = BACKGROUND
    if rng.uniform() < aug.p_edge:
        row = int(rng.uniform(0.6, 0.95) * h)
        rgb[row:] = rgb[row - 1]
        mask[row:] = BACKGROUND
    if aug.p_photo_edge and rng.uniform() < aug.p_photo_edge:  # drawn only when on: earlier streams unchanged
        rgb, beyond = photo_edge(rgb, rng)
        mask[beyond] = BACKGROUND
    return rgb, depth, mask


def photo_edge(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The image as a crop that runs off a photo turned under it: one edge (or two, a corner) at any side, tilted
    up to 45 degrees, hiding 5-45% of the image along its normal (see `beyond_edges`)."""
    h, w = rgb.shape[:2]
    a = int(rng.integers(0, 4)) * math.pi / 2 + math.radians(rng.uniform(-45, 45))
    edges = []
    for k in range(1 + int(rng.uniform() < 0.3)):  # a corner: the second edge at right angles to the first
        n = (math.cos(a + k * math.pi / 2), math.sin(a + k * math.pi / 2))
        reach = abs(n[0]) * (w - 1) + abs(n[1]) * (h - 1)  # the image's extent along the normal
        start = min(0.0, n[0] * (w - 1)) + min(0.0, n[1] * (h - 1))
        edges.append((a + k * math.pi / 2, start + rng.uniform(0.05, 0.45) * reach))
    return beyond_edges(rgb, edges)


def beyond_edges(rgb: np.ndarray, edges: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Edges given as (inward normal angle in radians, offset): the photo is where x cos + y sin >= offset for
    each (pixel centres at integers); at most two, at right angles. Each pixel beyond copies the photo's border
    point straight across (bilinear), as `crops.cut` replicates a photo's border. Returns (rgb, pixels beyond)."""
    h, w = rgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = xs.copy(), ys.copy()
    beyond = np.zeros((h, w), bool)
    for angle, offset in edges:  # moving along one normal leaves the distance to the other edge as it was
        n = (math.cos(angle), math.sin(angle))
        u = np.minimum(n[0] * mx + n[1] * my - offset, 0)
        beyond |= u < 0
        mx, my = mx - u * n[0], my - u * n[1]
    out = cv2.remap(np.ascontiguousarray(rgb), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, beyond


def geometric(
    rgb: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    aug: Augment,
    aux=None,
    normals: bool = False,
):
    """Random zoom about the centre plus shift, and (p_roll) a turn about the centre; returns (rgb, depth, mask,
    zoom factor), and with `aux` (H, W, C) float maps moved as depth is (multi-task targets: camera-frame normals
    and matte keep their values, but with `normals` aux[..., :3] are normals, turned with the image) also those,
    NaN where brought in from outside."""
    zoomed = rng.uniform() < aug.p_zoom
    h, w = mask.shape
    s, tx, ty, roll = 1.0, 0.0, 0.0, 0.0
    if zoomed:
        s = _u(rng, aug.zoom)
        tx, ty = rng.uniform(-aug.shift, aug.shift, 2) * (w, h)
    if aug.p_roll and rng.uniform() < aug.p_roll:  # drawn only when on: earlier streams unchanged
        roll = float(rng.uniform(-aug.roll, aug.roll))
    if not zoomed and not roll:
        return (rgb, depth, mask, 1.0) if aux is None else (rgb, depth, mask, 1.0, aux)
    # pixel centres at integer coordinates (OpenCV): the centre (w-1)/2 stays put before the shift
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), roll, s) + np.array([[0, 0, tx], [0, 0, ty]])
    rgb = cv2.warpAffine(np.ascontiguousarray(rgb), M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def nearest(a: np.ndarray, border: float) -> np.ndarray:
        flags = dict(flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        return cv2.warpAffine(np.ascontiguousarray(a), M, (w, h), **flags)

    depth, mask = nearest(depth.astype(np.float32, copy=False), float("nan")), nearest(mask, 0)
    if aux is None:
        return rgb, depth, mask, s
    # channel by channel: OpenCV fills only the first channel of a multi-channel border with a scalar
    moved = np.stack([nearest(aux[..., c].astype(np.float32), float("nan")) for c in range(aux.shape[-1])], axis=-1)
    if normals and roll:
        moved[..., :3] = rolled(moved[..., :3].transpose(2, 0, 1), roll).transpose(1, 2, 0)
    return rgb, depth, mask, s, moved


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
        x = cv2.filter2D(
            x, -1, _motion_kernel(_u(rng, aug.motion_px), rng.uniform(0, math.pi)), borderType=cv2.BORDER_REPLICATE
        )
    if rng.uniform() < aug.p_noise:
        std = np.sqrt(_u(rng, aug.shot_noise) ** 2 * x + _u(rng, aug.read_noise) ** 2)
        x = np.clip(x + std * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)
    if rng.uniform() < aug.p_chroma:
        k = rng.uniform(-aug.chroma_px, aug.chroma_px)
        h, w = x.shape[:2]
        for channel, dx in ((0, k), (2, -k)):
            x[..., channel] = cv2.warpAffine(
                np.ascontiguousarray(x[..., channel]),
                np.float32([[1, 0, dx], [0, 1, 0]]),
                (w, h),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
    if rng.uniform() < aug.p_grey:
        x = np.repeat(x @ np.float32([0.299, 0.587, 0.114])[:, None], 3, axis=2)
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    if rng.uniform() < aug.p_jpeg:
        ok, buf = cv2.imencode(
            ".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(round(_u(rng, aug.jpeg_quality)))]
        )
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


# The fixed camera-effects pipeline of the robustness evaluation: every photometric effect but greyscale, no geometry.
CAMERA_EFFECTS = only(
    brightness=0.1,
    contrast=0.1,
    saturation=0.1,
    p_gamma=1.0,
    p_white_balance=1.0,
    p_blur=1.0,
    blur_sigma=(0.3, 0.8),
    p_noise=1.0,
    shot_noise=(0.01, 0.03),
    read_noise=(0.005, 0.012),
    p_chroma=1.0,
    p_jpeg=1.0,
    jpeg_quality=(30.0, 70.0),
)
