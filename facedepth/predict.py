"""Inference on arbitrary photos with a trained checkpoint, aspect-true and face-centred.

A photo is never squeezed into the network's input shape. Each face found by
OpenCV's bundled Haar cascade gets a crop framed like the training renders
(`FRAMING`, measured on the default renders), which is resized to the
network input, predicted, converted to metres with the checkpoint's depth
encoding and the photo's focal length, and pasted back into a full-size depth
map with a validity mask. Without a face (or with `crop=False`) the whole
photo is letterboxed to the input's aspect ratio, its edges replicated.
Depth is trained on people only: the background of a crop is not meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from facedepth.checkpoint import load_checkpoint, resolve
from facedepth.data import image_tensor
from fdcore.files import atomic_path

# A training render is ~2.37 face-detection boxes wide, its centre 0.16 box widths below the box centre
# (medians of haarcascade_frontalface_default on the 300 default renders).
FRAMING = {"width": 2.4, "down": 0.15}
CASCADE = "haarcascade_frontalface_default.xml"


@dataclass
class Prediction:
    depth: np.ndarray  # (H, W) float32 metres, NaN where nothing was predicted
    valid: np.ndarray  # (H, W) bool: pixels inside a predicted region
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)  # (x, y, w, h) in photo pixels
    faces: int = 0  # faces found (0 with crop=False, or when none was found and the whole photo was used)


class FaceFinder:
    """Frontal faces by OpenCV's bundled Haar cascade (no download), largest first."""

    def __init__(self, min_size: int = 24):
        path = Path(cv2.data.haarcascades) / CASCADE
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise FileNotFoundError(
                f"{path}: face detector not readable; reinstall opencv-python-headless or predict with --no-crop"
            )
        self.min_size = min_size

    def __call__(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes in photo pixels; photos over DETECT_MAX_SIDE are searched at that size (bounded work)."""
        f = min(1.0, DETECT_MAX_SIDE / max(rgb.shape[:2]))
        small = rgb if f == 1.0 else cv2.resize(rgb, _scaled(rgb, f), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        faces = self.cascade.detectMultiScale(grey, 1.1, 5, minSize=(self.min_size, self.min_size))
        boxes = (tuple(int(round(v / f)) for v in box) for box in faces)
        return distinct(sorted(boxes, key=lambda b: -b[2] * b[3]))


DETECT_MAX_SIDE = 1280  # a 12000 x 9000 photo is searched at 1280 x 960: same faces, 1/90 of the work
CUT_MAX_FACTOR = 8  # a region over 8x the network input is shrunk before padding: a 60000 x 1 photo stays small


def _scaled(rgb: np.ndarray, f: float) -> tuple[int, int]:
    return max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))


def distinct(faces: list[tuple[int, int, int, int]], overlap: float = 0.5) -> list[tuple[int, int, int, int]]:
    """Drop boxes (largest first) that mostly lie inside a larger kept one: the cascade can report one face
    twice at neighbouring scales, which would predict and paste the same person twice."""
    kept = []
    for x, y, w, h in faces:
        inside = [
            max(0, min(x + w, kx + kw) - max(x, kx)) * max(0, min(y + h, ky + kh) - max(y, ky))
            for kx, ky, kw, kh in kept
        ]
        if all(a < overlap * w * h for a in inside):
            kept.append((x, y, w, h))
    return kept


def face_region(face: tuple[int, int, int, int], aspect: float) -> tuple[int, int, int, int]:
    """The (x, y, w, h) crop framed like the training data around a face box; aspect = width / height."""
    x, y, w, h = face
    cw = FRAMING["width"] * w
    ch = cw / aspect
    cx, cy = x + w / 2, y + h / 2 + FRAMING["down"] * w
    return int(round(cx - cw / 2)), int(round(cy - ch / 2)), int(round(cw)), int(round(ch))


def whole_region(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The photo letterboxed to `aspect`: the smallest region of that aspect holding all of it, centred."""
    cw, ch = (width, width / aspect) if width / height >= aspect else (height * aspect, height)
    return int(round((width - cw) / 2)), int(round((height - ch) / 2)), int(round(cw)), int(round(ch))


def cut(rgb: np.ndarray, region: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The region of the photo, edges replicated where it leaves the photo, area-resized to size (w, h)."""
    x, y, w, h = region
    f = min(1.0, CUT_MAX_FACTOR * size[0] / max(w, 1), CUT_MAX_FACTOR * size[1] / max(h, 1))
    if f < 1.0:  # shrink first: padding a huge letterboxed region at full size can ask for gigabytes
        rgb = cv2.resize(rgb, _scaled(rgb, f), interpolation=cv2.INTER_AREA)
        x, y, w, h = (int(round(v * f)) for v in region)
    H, W = rgb.shape[:2]
    pads = (max(0, -y), max(0, y + h - H), max(0, -x), max(0, x + w - W))
    crop = rgb[max(0, y) : min(H, y + h), max(0, x) : min(W, x + w)]
    crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE) if any(pads) else crop
    return cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)


def paste(depth: np.ndarray, valid: np.ndarray, region: tuple[int, int, int, int], d: np.ndarray) -> None:
    """Resize a region's prediction to the region and write the part inside the photo."""
    x, y, w, h = region
    H, W = depth.shape
    up = cv2.resize(d.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    ys, xs = slice(max(0, y), min(H, y + h)), slice(max(0, x), min(W, x + w))
    depth[ys, xs] = up[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
    valid[ys, xs] = True


def _to_8bit(values: np.ndarray) -> np.ndarray:
    """One channel of any numeric range as uint8: 0..1 floats, 8-bit, 16-bit, else scaled by the maximum."""
    v = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = v.max(initial=0.0)
    scale = (
        255.0
        if values.dtype.kind == "f" and top <= 1.0
        else 1.0
        if top <= 255
        else 255.0 / 65535.0
        if top <= 65535
        else 255.0 / top
    )
    return np.clip(np.rint(v * scale), 0, 255).astype(np.uint8)


def read_rgb(path: Path) -> np.ndarray:
    """Any PIL-readable image as (H, W, 3) uint8, upright by its EXIF orientation.

    Greyscale, palette, 16-bit, 32-bit integer and float images become 8-bit RGB by their range
    (floats in 0..1 as such); transparency is dropped (the colour under it is kept).
    """
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # one wide channel: map its range to 0..255
            return np.repeat(_to_8bit(np.asarray(im))[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


def as_rgb(image, bgr: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an RGB uint8 array ((H, W) grey or RGBA too), a PIL image or an image path.

    OpenCV frames are BGR: pass bgr=True. Anything else is refused with what to pass instead, never guessed.
    """
    if isinstance(image, (str, Path)):
        return read_rgb(Path(image))
    if not isinstance(image, np.ndarray):
        if isinstance(image, Image.Image):
            return np.asarray(image.convert("RGB"))
        raise TypeError(f"image: got {type(image).__name__}; pass an (H, W, 3) uint8 RGB array, a PIL image or a path")
    if image.dtype != np.uint8:
        raise TypeError(
            f"image: dtype {image.dtype}; pass uint8 0..255 (for floats in 0..1: "
            f"(image * 255).round().astype(np.uint8))"
        )
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 2:
        raise ValueError(f"image: shape {image.shape}; pass (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey")
    image = image[..., :3]
    return np.ascontiguousarray(image[..., ::-1] if bgr else image)


def check_device(device: str | None) -> None:
    """A ValueError naming the fix for a device this machine cannot run (None: the default)."""
    if device and not (device in ("cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"--device {device}: choose cpu, cuda or cuda:N")
    if device and device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


class Predictor:
    """Depth for photos from one checkpoint (default: the shipped reference model); see `predict`."""

    def __init__(self, checkpoint: str | Path | None = None, device: str | None = None, batch: int = 8):
        check_device(device)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.checkpoint = resolve(checkpoint)
        self.model, self.cfg, state = load_checkpoint(self.checkpoint, self.device)
        self.input_hw = tuple(state.get("input_size", (128, 128)))
        self.batch = max(1, batch)
        self._faces = None

    @torch.no_grad()
    def normalized(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) network-ready images -> (B, 1, H/2, W/2) normalised depth."""
        return self.model(batch.to(self.device)).float()

    def to_metric(self, n, scale=1.0):
        """Network output -> metres; `scale` from `self.cfg.norm.scale(fx, width)` (1 for raw metric training)."""
        return self.cfg.norm.decode(n, scale)

    def regions(self, rgb: np.ndarray, crop: bool = True) -> tuple[list[tuple[int, int, int, int]], int]:
        """Face-framed regions (largest face last: it wins overlaps), or the letterboxed photo; and the face count."""
        h, w = rgb.shape[:2]
        aspect = self.input_hw[1] / self.input_hw[0]
        if crop:
            self._faces = self._faces or FaceFinder()
            faces = self._faces(rgb)
            if faces:
                return [face_region(f, aspect) for f in reversed(faces)], len(faces)
        return [whole_region(w, h, aspect)], 0

    def predict(self, image, fx: float | None = None, crop: bool = True, bgr: bool = False) -> Prediction:
        """A photo (RGB uint8 array, PIL image or path; see `as_rgb`) -> full-size metric depth and validity.

        `fx`: the photo's focal length in its pixels; without it, a DEFAULT_FOV_DEG horizontal field of view.
        `crop=False` predicts the whole photo letterboxed (for photos already framed like the training data).
        """
        rgb = as_rgb(image, bgr)
        if fx is not None and not (np.isfinite(fx) and fx > 0):
            raise ValueError(f"fx {fx}: need a finite focal length in pixels > 0")
        h, w = rgb.shape[:2]
        fx = fx or default_intrinsics(w, h)[0, 0]
        regions, faces = self.regions(rgb, crop)
        ih, iw = self.input_hw
        depth, valid = np.full((h, w), np.nan, np.float32), np.zeros((h, w), bool)
        for start in range(0, len(regions), self.batch):
            chunk = regions[start : start + self.batch]
            x = torch.stack([image_tensor(cut(rgb, r, (iw, ih))) for r in chunk])
            n = self.normalized(x)[:, 0].cpu().numpy().astype(np.float64)
            for r, ni in zip(chunk, n):
                paste(depth, valid, r, self.to_metric(ni, self.cfg.norm.scale(fx, r[2])))
        return Prediction(depth, valid, regions, faces)

    __call__ = predict  # one call path: predictor(image) is predictor.predict(image)


DEFAULT_FOV_DEG = 50.0  # a typical portrait photo's horizontal field of view


def intrinsics(width: int, height: int, fx: float) -> np.ndarray:
    """K with square pixels and the principal point at the image centre."""
    return np.array([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1.0]])


def default_intrinsics(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """K for a photo without calibration: a typical portrait horizontal field of view."""
    return intrinsics(width, height, width / 2 / np.tan(np.radians(fov_deg) / 2))


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
    vertex = np.empty(
        len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    )
    vertex["x"], vertex["y"], vertex["z"] = points.T
    vertex["red"], vertex["green"], vertex["blue"] = colours.T
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a full disk never leaves a header over part of the data
        fh.write(header.encode("ascii"))
        fh.write(vertex.tobytes())
