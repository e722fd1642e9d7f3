"""Photo-like scenes composed from renders, for training and measuring the person locator.

A render is a head-and-shoulders tile with a label map. A scene pastes zero to
three tiles into a background at random scale, position and in-plane rotation,
as a camera would frame people: often cut by the bottom edge (the body goes on
below the photo), sometimes small and anywhere, sometimes filling the frame.
A tile is pasted either cut out along its person labels (edges feathered, so no
hard matte edge gives the person away) or whole with its own rendered
background. Occluders (hand- or phone-like blobs) cover parts of heads. The
labels follow every step, so each scene knows its person, head and per-person
roll. Everything is drawn from the caller's generator: a scene is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from fdcore.labels import BACKGROUND, CLOTHES, HEAD_LABELS

HEAD_FRACTION = 0.47  # about sqrt(head pixels) over a render tile's height (1 / locate.FRAME): sizes heads


@dataclass
class Placed:
    """One pasted tile: photo-from-tile affine (2x3), roll in degrees (counter-clockwise on screen)."""

    matrix: np.ndarray
    roll: float
    index: int  # row of the source split
    flip: bool  # the tile was mirrored before the affine


@dataclass
class Scene:
    rgb: np.ndarray  # (H, W, 3) uint8
    person: np.ndarray  # (H, W) int16: 0 background, k>0 the k-th pasted person (visible pixels)
    head: np.ndarray  # (H, W) bool: visible head pixels
    placed: list[Placed] = field(default_factory=list)


def procedural_background(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """A cluttered indoor-ish backdrop: a colour gradient with random rectangles, ellipses and lines, blurred."""
    h, w = hw
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0, 1, h if rng.uniform() < 0.5 else w, dtype=np.float32)[:, None]
    grad = a + (b - a) * t
    img = np.ascontiguousarray(np.broadcast_to(grad[:, None] if grad.shape[0] == h else grad[None], (h, w, 3)))
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(0, 12))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(4, w)), y + int(rng.integers(4, h))), colour, -1)
        elif kind == 1:
            axes = (int(rng.integers(2, w // 2)), int(rng.integers(2, h // 2)))
            cv2.ellipse(img, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, (x, y), end, colour, int(rng.integers(1, 6)))
    sigma = rng.uniform(0.3, 3.0)
    return cv2.GaussianBlur(img, (0, 0), sigma)


def photo_background(rng: np.random.Generator, photo: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A random crop of a background photo (an HDRI tone-mapped, say), resized to hw, maybe mirrored."""
    h, w = hw
    H, W = photo.shape[:2]
    cw = int(rng.uniform(0.15, 0.6) * W)
    ch = min(H, max(8, int(cw * h / w)))
    cw = max(8, int(ch * w / h))
    x, y = int(rng.integers(0, max(1, W - cw))), int(rng.integers(0, max(1, H - ch)))
    crop = cv2.resize(photo[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop[:, ::-1]) if rng.uniform() < 0.5 else crop


def tile_matrix(tile_hw: tuple[int, int], centre: tuple[float, float], height: float, roll: float) -> np.ndarray:
    """2x3 affine taking tile pixels to photo pixels: the tile's centre to `centre`, scaled to `height`,
    turned `roll` degrees counter-clockwise on screen."""
    th, tw = tile_hw
    s = height / th
    m = cv2.getRotationMatrix2D((tw / 2, th / 2), roll, s)
    m[:, 2] += np.asarray(centre) - np.array([tw / 2, th / 2])
    return m


def occlude(rgb: np.ndarray, visible: np.ndarray, rng: np.random.Generator, centre, size: float) -> None:
    """A hand- or phone-like blob over part of a head; pixels under it stop being that person."""
    colour = rng.uniform(0, 255, 3) if rng.uniform() < 0.5 else np.array([224, 172, 140]) * rng.uniform(0.4, 1.1)
    occ = np.zeros(visible.shape, np.uint8)
    cx = int(centre[0] + rng.uniform(-0.6, 0.6) * size)
    cy = int(centre[1] + rng.uniform(-0.3, 0.9) * size)
    axes = (max(1, int(rng.uniform(0.15, 0.45) * size)), max(1, int(rng.uniform(0.2, 0.6) * size)))
    cv2.ellipse(occ, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    on = occ.astype(bool)
    rgb[on] = np.clip(colour, 0, 255).astype(np.uint8)
    visible[on] = False


def compose(
    rng: np.random.Generator,
    tiles_rgb: np.ndarray,
    tiles_mask: np.ndarray,
    hw: tuple[int, int],
    backgrounds: list[np.ndarray] = (),
    head_px: tuple[float, float] = (12.0, 110.0),
    max_people: int = 3,
    people: int | None = None,
    recolour: float = 0.0,
) -> Scene:
    """One scene of size hw from render tiles (N, h, w, 3) and labels (N, h, w); heads head_px tall (log-uniform).

    `people` fixes their number. Later tiles are pasted over earlier ones, as nearer people. `recolour`: the
    share of people whose clothes get another hue, saturation and brightness (`recoloured`).
    """
    h, w = hw
    n = len(tiles_rgb)
    if backgrounds and rng.uniform() < 0.6:
        rgb = photo_background(rng, backgrounds[int(rng.integers(0, len(backgrounds)))], hw)
    else:
        rgb = procedural_background(rng, hw)
    rgb = rgb.copy()
    person = np.zeros(hw, np.int16)
    head = np.zeros(hw, bool)
    if people is None:
        people = int(rng.choice(max_people + 1, p=_people_odds(max_people)))
    placed = []
    for k in range(1, people + 1):
        index = int(rng.integers(0, n))
        tile, labels = tiles_rgb[index], tiles_mask[index]
        th, tw = labels.shape
        flip = bool(rng.uniform() < 0.5)
        if flip:
            tile, labels = tile[:, ::-1], labels[:, ::-1]
        if recolour and rng.uniform() < recolour:  # drawn only when on: earlier scenes unchanged
            tile = recoloured(tile, labels, rng)
        head_h = math.exp(rng.uniform(math.log(head_px[0]), math.log(head_px[1])))
        height = head_h / HEAD_FRACTION
        roll = float(rng.uniform(-45, 45)) if rng.uniform() < 0.7 else float(rng.normal(0, 5))
        if rng.uniform() < 0.5:  # a portrait: the body runs out of the bottom of the photo
            cy = h - height / 2 + rng.uniform(0.0, 0.35) * height
        else:
            cy = rng.uniform(0.1, 0.9) * h
        cx = rng.uniform(0.05, 0.95) * w
        m = tile_matrix((th, tw), (cx, cy), height, roll)
        lab = cv2.warpAffine(np.ascontiguousarray(labels), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=BACKGROUND)
        inside = cv2.warpAffine(np.ones((th, tw), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        warped = cv2.warpAffine(
            np.ascontiguousarray(_shrink(tile, height / th)),
            _rescaled(m, tile, height / th),
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        is_person = lab != BACKGROUND
        if rng.uniform() < 0.75:  # cut out along the person, edges feathered over about one pixel
            alpha = cv2.GaussianBlur(is_person.astype(np.float32), (0, 0), rng.uniform(0.4, 1.2))
        else:  # the whole tile, its rendered background included
            alpha = inside.astype(np.float32)
        alpha = alpha[..., None]
        rgb = np.clip(rgb * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)
        covered = alpha[..., 0] > 0.5
        person[covered] = 0
        head[covered] = False
        visible = is_person.copy()
        is_head = np.isin(lab, HEAD_LABELS)
        if rng.uniform() < 0.25:
            occlude(rgb, visible, rng, (cx, cy - 0.2 * height), head_h)
        person[visible] = k
        head |= visible & is_head
        placed.append(Placed(m, roll, index, flip))
    return Scene(rgb, person, head, placed)


def recoloured(tile: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The tile with its clothes in any hue, saturation x0.5-2.5 and brightness x0.35-1.4, shading kept: rendered
    garments are pastel, real ones (an orange spacesuit, a navy uniform) are not."""
    clothes = labels == CLOTHES
    if not clothes.any():
        return tile
    hsv = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.where(clothes, rng.uniform(0, 180), hsv[..., 0])
    hsv[..., 1] = np.where(clothes, np.clip(np.maximum(hsv[..., 1], 40) * rng.uniform(0.5, 2.5), 0, 255), hsv[..., 1])
    hsv[..., 2] = np.where(clothes, np.clip(hsv[..., 2] * rng.uniform(0.35, 1.4), 0, 255), hsv[..., 2])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _people_odds(most: int) -> list[float]:
    """No person in 8% of scenes (a locator must also say 'nobody'), one in most, a few in the rest."""
    odds = np.array([0.08, 0.62] + [0.3 / max(1, most - 1)] * (most - 1))[: most + 1]
    return list(odds / odds.sum())


def _shrink(tile: np.ndarray, s: float) -> np.ndarray:
    """Area-shrink a tile before a strong downscale, as a camera's pixels average (no aliasing)."""
    if s >= 0.5:
        return tile
    th, tw = tile.shape[:2]
    return cv2.resize(tile, (max(1, round(tw * s * 2)), max(1, round(th * s * 2))), interpolation=cv2.INTER_AREA)


def _rescaled(m: np.ndarray, tile: np.ndarray, s: float) -> np.ndarray:
    """The photo-from-tile affine for the shrunk tile `_shrink` made."""
    if s >= 0.5:
        return m
    th, tw = tile.shape[:2]
    sh = max(1, round(th * s * 2)) / th
    sw = max(1, round(tw * s * 2)) / tw
    return m @ np.array([[1 / sw, 0, 0], [0, 1 / sh, 0], [0, 0, 1]])
