"""Find every person in a photo: a small whole-photo network learned from the renders' own label masks.

One pass over the photo shrunk to about 160 px wide gives, at a quarter of that
resolution, the probability of person (any non-background label) and of head
(face, hair, eyes, mouth, glasses), each head pixel's roll as (cos, sin) and,
in the shipped locator, the probability of a head's centre. Heads are the parts
of the head map that hold a centre peak (touching heads cut between peaks); each
gives a centre and size by its probability moments and a roll by its mean
direction. The depth crop is framed around it by the median framing constants
below and turned upright. The person map, upsampled to the photo, marks where the depth is valid: head, hair,
neck and shoulders, not the wall behind. No external weights: the network is trained by
`facedepth locator-train` on scenes composed from renders (facedepth.scenes)
and ships in facedepth/weights/locator.pt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from facedepth.crops import Crop, cut, reframed
from facedepth.data import image_tensor

LOCATOR = Path(__file__).resolve().parent / "weights" / "locator.pt"
WIDTH = 160  # the photo's long side on the network's input (a 640x480 frame is seen at 160x120)
STRIDE = 16  # input sides are padded to a multiple of this
OUT_STRIDE = 4  # the maps come out at a quarter of the input
# A training render is FRAME x sqrt(head pixels) on a side, its centre DOWN x sqrt(head pixels) below the
# head's centroid (medians over the default renders' label masks, `framing` measures them: 2.22 and 0.165;
# the reference renders give 2.20 and 0.171).
FRAME, DOWN = 2.2, 0.17


def framing(masks: np.ndarray) -> tuple[float, float]:
    """(FRAME, DOWN) measured on (N, H, W) render label maps: median width / sqrt(head pixels), and the
    median of (frame centre - head centroid) / sqrt(head pixels) downwards."""
    from fdcore.labels import HEAD_LABELS

    n, h, w = masks.shape
    head = np.isin(masks, HEAD_LABELS)
    area = head.sum((1, 2)).astype(np.float64)
    ok = area > 0
    cy = (head * (np.arange(h)[:, None] + 0.5)).sum((1, 2))[ok] / area[ok]
    r = np.sqrt(area[ok])
    return float(np.median(w / r)), float(np.median((h / 2 - cy) / r))


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LocatorNet(nn.Module):
    """Encoder to 1/16 with a dilated context block and a global-pool branch, decoder back to 1/4.

    Outputs (B, 4, H/4, W/4): person logit, head logit, cos and sin of the head's roll; with `centres` a fifth,
    the logit of a head's centre (a peak per head: tells touching heads apart where the head map is one blob).
    """

    def __init__(self, base: int = 16, centres: bool = False):
        super().__init__()
        c1, c2, c3, c4 = base, 2 * base, 4 * base, 6 * base
        self.s1 = _block(3, c1, 2)
        self.s2 = nn.Sequential(_block(c1, c2, 2), _block(c2, c2))
        self.s3 = nn.Sequential(_block(c2, c3, 2), _block(c3, c3))
        self.s4 = nn.Sequential(_block(c3, c4, 2), _block(c4, c4), _block(c4, c4, dilation=2))
        self.pool = nn.Sequential(nn.Conv2d(c4, c4, 1), nn.ReLU(inplace=True))
        self.up3 = _block(c4 + c3, c3)
        self.up2 = _block(c3 + c2, c2)
        self.out = nn.Conv2d(c2, 5 if centres else 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f2 = self.s2(self.s1(x))
        f3 = self.s3(f2)
        f4 = self.s4(f3)
        f4 = f4 + self.pool(f4.mean((2, 3), keepdim=True))
        y = self.up3(torch.cat([F.interpolate(f4, size=f3.shape[2:], mode="bilinear", align_corners=False), f3], 1))
        y = self.up2(torch.cat([F.interpolate(y, size=f2.shape[2:], mode="bilinear", align_corners=False), f2], 1))
        return self.out(y)


@dataclass
class Head:
    """One located person: head centre (x, y) and size sqrt(head pixels) in photo pixels, roll in degrees
    counter-clockwise on screen, and the mean head probability (a confidence)."""

    x: float
    y: float
    size: float
    roll: float
    score: float

    def region(self, aspect: float = 1.0) -> Crop:
        """The depth crop framed like a training render (aspect = width / height), upright in the network's view."""
        w = FRAME * self.size
        a = math.radians(self.roll)
        down = DOWN * self.size  # "down" along the head's own axis: turned with it
        return Crop(self.x + down * math.sin(a), self.y + down * math.cos(a), w, w / aspect, self.roll)


def network_input(rgb: np.ndarray, width: int = WIDTH) -> tuple[np.ndarray, float]:
    """The photo area-shrunk so its long side is `width`, edge-padded to a multiple of STRIDE; and the scale."""
    h, w = rgb.shape[:2]
    s = width / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    ph, pw = -sh % STRIDE, -sw % STRIDE
    if ph or pw:
        small = cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return small, s


MIN_SCORE = 0.65  # a head region's mean probability: keeps 97.6% of true heads, drops ~40% of false ones (scenes)


def heads_from_maps(
    head: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
    scale: float,
    threshold: float = 0.5,
    min_px: float = 1.5,
    min_score: float = MIN_SCORE,
    centre: np.ndarray | None = None,
) -> list[Head]:
    """Connected head regions of a quarter-resolution head probability map -> Heads in photo pixels, largest
    first. `scale` maps map pixels to photo pixels; regions under `min_px` map pixels of probability, or whose
    mean probability is under `min_score`, are noise. `centre`: a head-centre probability map, whose peaks
    tell touching heads apart (`head_regions`); a region without one is no head."""
    count, labels = head_regions(head > threshold, centre)
    found = []
    ys, xs = np.mgrid[0 : head.shape[0], 0 : head.shape[1]]
    for k in range(1, count):
        own = labels == k
        region = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        p = np.where(region, head, 0.0)
        area = float(p.sum())
        if area < min_px:
            continue
        cx = float((p * (xs + 0.5)).sum() / area)
        cy = float((p * (ys + 0.5)).sum() / area)
        roll = math.degrees(math.atan2(float((p * sin).sum()), float((p * cos).sum())))
        score = float(head[own].mean())
        if score < min_score or (centre is not None and float(centre[own].max()) < CENTRE_PEAK):
            continue
        found.append(Head(cx * scale, cy * scale, math.sqrt(area) * scale, roll, score))
    return sorted(found, key=lambda hd: -hd.size)


def head_regions(mask: np.ndarray, centre: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """(count, labels) like cv2.connectedComponents, with touching heads told apart: two people side by side
    make one blob on a 40 x 30 map (one head found for both: a fifth of the people in crowded scenes missed).
    A blob holding several heads' peaks is cut between them, each pixel going to the head whose rim is nearest.
    The peaks are the centre map's (`centre`, a locator trained with centres), else those of the blob's
    distance to the background with narrows between them; peaks with no narrows between them (a ridge along
    long hair, a plateau) are one head."""
    m = mask.astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    count, labels = cv2.connectedComponents(m, connectivity=8)
    if centre is not None:
        ys, xs = np.nonzero(mask & (centre >= CENTRE_PEAK) & (centre == cv2.dilate(centre, np.ones((3, 3), np.uint8))))
        blob, peak = labels[ys, xs], dist[ys, xs]
        tops = list(np.argsort(-centre[ys, xs], kind="stable"))
    else:
        ys, xs = np.nonzero((dist >= 1.5) & (dist == cv2.dilate(dist, np.ones((3, 3), np.uint8))))  # not the rims
        blob, peak = labels[ys, xs], dist[ys, xs]
        tops = []  # each head's highest peak: a peak (strongest first) starts a head unless one is joined
        for i in np.argsort(-peak, kind="stable"):
            ways = [_saddle(dist, (xs[i], ys[i]), (xs[t], ys[t])) for t in tops if blob[t] == blob[i]]
            if max(ways, default=-1.0) < NARROWS * peak[i]:
                tops.append(i)
    out = labels.copy()
    for b in {blob[t] for t in tops}:
        centres = [t for t in tops if blob[t] == b]
        if len(centres) < 2:
            continue
        py, px = np.nonzero(labels == b)  # each pixel to the head whose rim is nearest (a weighted Voronoi)
        nearest = np.argmin([np.hypot(px - xs[t], py - ys[t]) - peak[t] for t in centres], axis=0)
        for k in range(1, len(centres)):
            out[py[nearest == k], px[nearest == k]] = count
            count += 1
    return count, out


NARROWS = 0.6  # a blob is two heads where the way between two peaks narrows below this share of the lower one
# A centre map's local maximum at least this probable is a head's peak, and a head region needs one (a dark blob
# or a lock of hair gets none). Chosen on 400 + 300 pasted val frames (0.2-0.4): 0.25 found 95.0% of people two
# or three to a frame, 0.050 false heads per frame, 1.07 heads per one-person frame.
CENTRE_PEAK = 0.25


def _saddle(dist: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    """The least distance-to-background on the straight way from pixel a to pixel b."""
    n = 2 * int(math.hypot(b[0] - a[0], b[1] - a[1])) + 2
    t = np.linspace(0.0, 1.0, n)
    x = np.rint(a[0] + t * (b[0] - a[0])).astype(int)
    y = np.rint(a[1] + t * (b[1] - a[1])).astype(int)
    return float(dist[y, x].min())


def heads_of(maps: np.ndarray, scale: float, threshold: float = 0.5, min_score: float = MIN_SCORE) -> list[Head]:
    """heads_from_maps on a locator's (4 or 5, h, w) probability maps."""
    centre = maps[4] if len(maps) > 4 else None
    return heads_from_maps(maps[1], maps[2], maps[3], scale, threshold, min_score=min_score, centre=centre)


class Locator:
    """People in photos with the shipped (or a given) locator checkpoint; see `__call__`."""

    def __init__(
        self, checkpoint: str | Path | None = None, device: str | torch.device = "cpu", runtime="torch", refine=True
    ):
        self.checkpoint = Path(checkpoint) if checkpoint else LOCATOR
        self.refine = refine
        self.model, self.config = load_locator(self.checkpoint, device)
        self.device = torch.device(device)
        if runtime == "onnx":
            from facedepth.runtime import as_onnx

            self.model = as_onnx(self.model, torch.zeros(1, 3, 128, 160), dynamic_hw=True)

    @torch.no_grad()
    def maps(self, rgb: np.ndarray) -> tuple[np.ndarray, float, tuple[int, int]]:
        """(4 or 5, h, w) person and head probabilities, cos and sin (head centre) at 1/4 input; map-to-photo
        scale; photo size."""
        small, s = network_input(rgb, self.config.get("width", WIDTH))
        y = self.model(image_tensor(small)[None].to(self.device))[0].float().cpu().numpy()
        return probabilities(y), OUT_STRIDE / s, rgb.shape[:2]

    def __call__(self, rgb: np.ndarray, threshold: float = 0.5) -> tuple[list[Head], np.ndarray]:
        """Heads (largest first) and the person probability at photo resolution (float32 0..1), kept on the
        people whose heads were found (`people_only`; the whole map when none was)."""
        y, scale, (h, w) = self.maps(rgb)
        # a head centred in the input's padding (the photo's last rows or columns replicated) is not in the photo
        heads = [hd for hd in heads_of(y, scale, threshold) if 0 <= hd.x < w and 0 <= hd.y < h and has_detail(rgb, hd)]
        if self.refine:
            heads = sorted(self.refined(rgb, heads, threshold), key=lambda hd: -hd.size)
        person = people_only(y[0], heads, scale) if heads else y[0]
        return heads, person_map(person, scale, (h, w))

    @torch.no_grad()
    def refined(self, rgb: np.ndarray, heads: list[Head], threshold: float = 0.5) -> list[Head]:
        """Each head measured again in a close view of it (REFINE head sizes on a side, upright by its roll, at
        REFINE_PX; one batch): the whole-photo maps see a 100 px head as 6 x 6 map pixels, the close view as about
        11 x 11. The close view's head nearest its centre wins; a head stays as it was when it may be cut by the
        photo's edge (its NEAR_EDGE square leaves the photo: the view's replicated border misleads it), when its
        view finds no head, or only one outside the photo or more than half a head size away (another head)."""
        h, w = rgb.shape[:2]
        views = {i: Crop(hd.x, hd.y, REFINE * hd.size, REFINE * hd.size, hd.roll) for i, hd in enumerate(heads)}
        views = {i: v for i, v in views.items() if inside(reframed(v, REFINE / NEAR_EDGE), w, h)}
        if not views:
            return heads
        x = torch.stack([image_tensor(cut(rgb, v, (REFINE_PX, REFINE_PX))) for v in views.values()])
        maps = dict(zip(views, self.model(x.to(self.device)).float().cpu().numpy()))
        return [
            self._remeasured(rgb, hd, views[i], probabilities(maps[i]), threshold) if i in views else hd
            for i, hd in enumerate(heads)
        ]

    @staticmethod
    def _remeasured(rgb: np.ndarray, hd: Head, view: Crop, y: np.ndarray, threshold: float) -> Head:
        near = heads_of(y, OUT_STRIDE, threshold, min_score=0.0)
        if not near:
            return hd
        c = REFINE_PX / 2
        best = min(near, key=lambda k: math.hypot(k.x - c, k.y - c))
        back = cv2.invertAffineTransform(view.matrix((REFINE_PX, REFINE_PX)))
        x, y_ = back @ np.array([best.x - 0.5, best.y - 0.5, 1.0]) + 0.5
        h, w = rgb.shape[:2]
        if not (0 <= x < w and 0 <= y_ < h) or math.hypot(x - hd.x, y_ - hd.y) > 0.5 * hd.size:
            return hd
        f = view.w / REFINE_PX
        return Head(float(x), float(y_), best.size * f, hd.roll + best.roll, hd.score)


def inside(crop: Crop, width: int, height: int) -> bool:
    """Whether the turned crop lies wholly within a width x height photo."""
    x, y, w, h = crop.box()
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height


REFINE, REFINE_PX = 3.0, 128  # the close view of each head: its side in head sizes and in network pixels
NEAR_EDGE = 1.5  # a head whose square of this many head sizes leaves the photo may be cut by its edge

MIN_DETAIL = 2.0  # grey levels: the least standard deviation a head's square can have (a face has features)


def has_detail(rgb: np.ndarray, head: Head) -> bool:
    """Whether the photo varies at all over the head's square (sampled on a 16 x 16 grid, cheap at any size): a
    uniform patch, such as a black video frame, which one network fires on as a whole-frame head, is no one."""
    h, w = rgb.shape[:2]
    r = head.size / 2
    xs = np.clip(np.linspace(head.x - r, head.x + r, 16), 0, w - 1).astype(int)
    ys = np.clip(np.linspace(head.y - r, head.y + r, 16), 0, h - 1).astype(int)
    patch = rgb[np.ix_(ys, xs)].astype(np.float32)
    return float(patch.mean(-1).std()) >= MIN_DETAIL if patch.ndim == 3 else float(patch.std()) >= MIN_DETAIL


def probabilities(raw: np.ndarray) -> np.ndarray:
    """The network's raw (4 or 5, h, w) output with its person, head (and centre) logits turned into
    probabilities."""
    y = np.array(raw, dtype=np.float32)
    y[:2] = 1 / (1 + np.exp(-y[:2]))
    y[4:] = 1 / (1 + np.exp(-y[4:]))
    return y


def people_only(p: np.ndarray, heads: list[Head], scale: float) -> np.ndarray:
    """The locator's person probability map (`scale` photo pixels per map pixel) kept on the located people only
    (see `held`); 1 in the holes it fills, elsewhere 0."""
    on = p > 0.5
    return np.where(held(on, heads, scale), np.where(on, p, 1.0), 0.0).astype(np.float32)


def held(on: np.ndarray, heads: list[Head], scale: float = 1.0) -> np.ndarray:
    """The connected parts of a person mask (the locator's map, or a depth model's matte at the photo's size;
    `scale` photo pixels per mask pixel) that hold a located head's centre, holes filled (a smile or a hand
    inside the face is still the person; a stray blob on a flag is not)."""
    h, w = on.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = on
    cv2.floodFill(outside, None, (0, 0), 2)  # everything reachable from the border without crossing the person
    count, labels = cv2.connectedComponents((outside[1:-1, 1:-1] != 2).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    for hd in heads:  # the parts under a disc of 0.35 head sizes at the head's centre, looked up in its box only
        cx, cy, r = hd.x / scale, hd.y / scale, max(0.35 * hd.size / scale, 1.0)
        x0, x1 = max(0, math.floor(cx - r)), min(w, math.ceil(cx + r))
        y0, y1 = max(0, math.floor(cy - r)), min(h, math.ceil(cy + r))
        if x1 <= x0 or y1 <= y0:  # the disc lies wholly off the mask
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        keep[np.unique(labels[y0:y1, x0:x1][(xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 < r * r])] = True
    keep[0] = False
    return keep[labels]


def with_heads(mask: np.ndarray, heads: list[Head]) -> np.ndarray:
    """A photo-sized person mask with each head's ellipse added (about 0.55 x 0.6 head sizes in half-axes,
    turned with it): a face is never left out where the person map is unsure, as on real clothes."""
    out = mask.astype(np.uint8)
    for hd in heads:
        axes = (max(1, round(0.55 * hd.size)), max(1, round(0.6 * hd.size)))
        cv2.ellipse(out, (round(hd.x - 0.5), round(hd.y - 0.5)), axes, -hd.roll, 0, 360, 1, -1)
    return out.astype(bool)


def person_map(p: np.ndarray, scale: float, hw: tuple[int, int]) -> np.ndarray:
    """A quarter-input probability map resampled to the photo (bilinear: smooth edges, no blocks)."""
    h, w = hw
    m = np.float32([[1 / scale, 0, 0.5 / scale - 0.5], [0, 1 / scale, 0.5 / scale - 0.5]])
    return cv2.warpAffine(
        p.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def load_locator(path: Path, device="cpu") -> tuple[LocatorNet, dict]:
    """A locator checkpoint ({"kind": "locator", "model", "config"}), read without running code."""
    from facedepth.checkpoint import read_state

    state = read_state(path, device, kind="locator")
    config = dict(state["config"])
    model = LocatorNet(config.get("base", 16), config.get("centres", False)).to(device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: locator weights do not match this version ({str(exc)[:160]}); retrain it") from None
    return model.eval(), config
