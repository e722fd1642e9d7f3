"""Crops of a photo as the depth network sees them: centred, sized, turned upright, and their maps put back.

A `Crop` is a rotated rectangle in photo pixels; `cut` resamples it upright at the
network's input size (area-shrinking first, edges replicated where it leaves the
photo), `paste` warps a map of the crop back onto the photo bilinearly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Crop:
    """A region of a photo the network sees: centre (x, y) and size (w, h) in photo pixels (pixel edges at
    integers), turned `roll` degrees counter-clockwise on screen; the network sees it upright."""

    x: float
    y: float
    w: float
    h: float
    roll: float = 0.0

    def box(self) -> tuple[int, int, int, int]:
        """The axis-aligned (x, y, w, h) holding the turned crop."""
        a = math.radians(self.roll)
        bw = abs(self.w * math.cos(a)) + abs(self.h * math.sin(a))
        bh = abs(self.w * math.sin(a)) + abs(self.h * math.cos(a))
        x0, y0 = math.floor(self.x - bw / 2), math.floor(self.y - bh / 2)
        return x0, y0, math.ceil(self.x + bw / 2) - x0, math.ceil(self.y + bh / 2) - y0

    def matrix(self, size: tuple[int, int]) -> np.ndarray:
        """2x3 affine from photo pixel coordinates to the (w, h) = size network view (OpenCV centres)."""
        s = size[0] / self.w
        m = cv2.getRotationMatrix2D((self.x - 0.5, self.y - 0.5), -self.roll, s)
        m[:, 2] += np.array([size[0] / 2 - 0.5, size[1] / 2 - 0.5]) - np.array([self.x - 0.5, self.y - 0.5])
        return m


def whole_region(width: int, height: int, aspect: float) -> Crop:
    """The photo letterboxed to `aspect`: the smallest region of that aspect holding all of it, centred."""
    cw, ch = (width, width / aspect) if width / height >= aspect else (height * aspect, height)
    return Crop(width / 2, height / 2, cw, ch)


CUT_MAX_FACTOR = 2  # a region is area-shrunk to at most 2x the network input before the bilinear warp


def cut(rgb: np.ndarray, crop: Crop, size: tuple[int, int]) -> np.ndarray:
    """The crop of the photo upright at size (w, h), edges replicated where it leaves the photo.

    Only the crop's bounding box is touched, area-shrunk first when the crop is much larger than the
    network input (no aliasing; a 60000 x 1 photo stays cheap)."""
    H, W = rgb.shape[:2]
    bx, by, bw, bh = crop.box()
    x0, y0, x1, y1 = max(0, bx), max(0, by), min(W, bx + bw), min(H, by + bh)
    if x1 <= x0 or y1 <= y0:  # wholly outside: the nearest edge pixels, replicated
        x0, y0 = min(max(0, bx), W - 1), min(max(0, by), H - 1)
        x1, y1 = x0 + 1, y0 + 1
    part = rgb[y0:y1, x0:x1]
    f = min(1.0, CUT_MAX_FACTOR * size[0] / max(crop.w, 1e-6))
    shrunk = Crop(crop.x - x0, crop.y - y0, crop.w, crop.h, crop.roll)
    if f < 1.0:
        part = cv2.resize(part, _scaled(part, f), interpolation=cv2.INTER_AREA)
        fx, fy = part.shape[1] / (x1 - x0), part.shape[0] / (y1 - y0)
        shrunk = Crop(shrunk.x * fx, shrunk.y * fy, crop.w * fx, crop.h * fy, crop.roll)
    return cv2.warpAffine(
        np.ascontiguousarray(part), shrunk.matrix(size), size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def paste(
    depth: np.ndarray, valid: np.ndarray, crop: Crop, d: np.ndarray, keep: np.ndarray | None = None, combine=None
) -> None:
    """Warp a crop's prediction back into the photo (bilinear, no blocks) and write it where `keep` holds
    (the located person; None: the whole crop); `combine` (e.g. np.fmax) merges it with what is there instead
    of replacing it. Only the crop's box is touched."""
    H, W = depth.shape
    bx, by, bw, bh = crop.box()
    x0, y0, x1, y1 = max(0, bx), max(0, by), min(W, bx + bw), min(H, by + bh)
    if x1 <= x0 or y1 <= y0:
        return
    dh, dw = d.shape
    local = Crop(crop.x - x0, crop.y - y0, crop.w, crop.h, crop.roll)
    m, size = local.matrix((dw, dh)), (x1 - x0, y1 - y0)
    inverse = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    up = cv2.warpAffine(d.astype(np.float32), m, size, flags=inverse, borderMode=cv2.BORDER_REPLICATE)
    # inside the crop: pixel centres that land on the map (its edges replicated, never blended with NaN)
    ones = np.ones((dh, dw), np.uint8)
    inside = cv2.warpAffine(ones, m, size, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0) > 0
    inside &= np.isfinite(up)
    if keep is not None:
        inside &= keep[y0:y1, x0:x1]
    region = depth[y0:y1, x0:x1]
    region[inside] = up[inside] if combine is None else combine(region[inside], up[inside])
    valid[y0:y1, x0:x1] |= inside


def reframed(crop: Crop, zoom: float, dx: float = 0.0, dy: float = 0.0) -> Crop:
    """The crop `zoom` times closer (> 1: smaller), its centre moved (dx, dy) of its width along its own axes."""
    a = math.radians(crop.roll)
    ox, oy = dx * crop.w, dy * crop.w
    return Crop(
        crop.x + ox * math.cos(a) + oy * math.sin(a),
        crop.y - ox * math.sin(a) + oy * math.cos(a),
        crop.w / zoom,
        crop.h / zoom,
        crop.roll,
    )


def moved(d: np.ndarray, src: Crop, dst: Crop) -> np.ndarray:
    """A (h, w) map of crop `src`'s view resampled into crop `dst`'s view of the same size (bilinear), NaN where
    `src` does not reach."""
    dh, dw = d.shape
    to_src = np.vstack([src.matrix((dw, dh)), [0, 0, 1]])
    from_dst = np.vstack([cv2.invertAffineTransform(dst.matrix((dw, dh))), [0, 0, 1]])
    m = (to_src @ from_dst)[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(d.astype(np.float32), m, (dw, dh), flags=flags, borderValue=np.nan)


def rolled(normal: np.ndarray, roll: float) -> np.ndarray:
    """(3, h, w) normals of an upright crop in the axes of the photo it was turned `roll` degrees from
    (counter-clockwise on screen, y down): x and y turn with the crop, z stays. Also: the normals of an image
    turned `roll` degrees counter-clockwise (augment.geometric)."""
    a = np.radians(roll)
    x, y, z = normal
    return np.stack([x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a), z])


def _scaled(rgb: np.ndarray, f: float) -> tuple[int, int]:
    return max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))
