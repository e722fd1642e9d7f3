"""Inference on arbitrary photos with a trained checkpoint, aspect-true and person-centred.

A photo is never squeezed into the network's input shape. The person locator
(facedepth.locate, a small network shipped with the package) finds every head
and the person pixels; each head gets a crop framed like the training renders
and turned upright, which is predicted, converted to metres with the
checkpoint's depth encoding and the photo's focal length, and warped back into
a full-size depth map (bilinear: no blocks). Depth is kept on the located
person (head, hair, neck, shoulders) and marked invalid elsewhere: the network
was trained on people only. Without a person (or with `crop=False`) the whole
photo is letterboxed to the input's aspect ratio and every pixel is predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from facedepth.checkpoint import input_hw as checkpoint_input_hw
from facedepth.checkpoint import load_checkpoint, resolve
from facedepth.crops import CUT_MAX_FACTOR, Crop, cut, moved, paste, reframed, rolled, whole_region  # noqa: F401
from facedepth.data import image_tensor
from facedepth.locate import Head, Locator, held, with_heads
from facedepth.models.heads import tasks_of
from fdcore.files import atomic_path


@dataclass
class Prediction:
    depth: np.ndarray  # (H, W) float32 metres, NaN where nothing was predicted
    valid: np.ndarray  # (H, W) bool: located person pixels with depth (the whole photo when nobody was found)
    regions: list[Crop] = field(default_factory=list)  # what the network saw, in photo pixels
    faces: int = 0  # people located (0 with crop=False, or when nobody was found and the whole photo was used)
    person: np.ndarray | None = None  # (H, W) float32 person probability of the locator (None with crop=False)
    heads: list[Head] = field(default_factory=list)  # the located heads, in the order of `regions`
    # a multi-task model's extra maps (None otherwise): (H, W, 3) unit camera-frame normals (OpenCV axes) where
    # valid, NaN elsewhere; (H, W) person coverage 0..1 over its crops, NaN outside them
    normal: np.ndarray | None = None
    matte: np.ndarray | None = None


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
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image: shape {image.shape}; pass (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey")
    if min(image.shape[:2]) < 2:
        raise ValueError(
            f"image: {image.shape[1]}x{image.shape[0]} pixels, a line not a photo; pass an image at least 2 px "
            f"on each side"
        )
    image = image[..., :3]
    return np.ascontiguousarray(image[..., ::-1] if bgr else image)


def check_device(device: str | None) -> None:
    """A ValueError naming the fix for a device this machine cannot run (None: the default)."""
    if device and not (device in ("cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"--device {device}: choose cpu, cuda or cuda:N")
    if device and device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


# The other framings `facedepth predict` averages with each located crop (zoom, dx, dy; crops.reframed): on 400
# pasted val scenes (benchmarks/localise.py --split val --cases 400) within 0.05 of direct 80.5 -> 83.0% (heads
# wholly in the photo 88.4 -> 93.2%), a located crop's framing being as uncertain as a render's own; two more
# views shifted sideways by 0.05 gave no more (82.0%).
VIEWS = ((1.15, 0.0, 0.0), (0.87, 0.0, 0.0))


class Predictor:
    """Depth for photos from one checkpoint (default: the shipped reference model); see `predict`."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | None = None,
        batch: int = 8,
        runtime: str = "torch",
        mirror: bool = False,
        views: tuple[tuple[float, float, float], ...] = (),
    ):
        """`runtime="onnx"` runs both networks through ONNX Runtime on the CPU (the live demo's 2-3x); `mirror`
        also predicts each crop's mirror image and averages the two (steadier, twice the network's time); `views`
        also predicts each crop reframed (zoom, dx, dy; see VIEWS) and averages them all in the crop's frame."""
        check_device(device)
        if runtime not in ("torch", "onnx") or (runtime == "onnx" and device not in (None, "cpu")):
            raise ValueError(f"runtime {runtime!r} on {device or 'the default device'}: use torch, or onnx on the cpu")
        self.device = torch.device(
            "cpu" if runtime == "onnx" else device or ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.checkpoint = resolve(checkpoint)
        self.model, self.cfg, state = load_checkpoint(self.checkpoint, self.device)
        self.input_hw = checkpoint_input_hw(state)
        self.batch = max(1, batch)
        self.runtime = runtime
        self.mirror = mirror
        self.views = tuple(views)  # (zoom, dx, dy): other framings of each crop, averaged
        self.tasks = tasks_of(self.model)  # a multi-task model's extra maps
        if runtime == "onnx":
            from facedepth.runtime import as_onnx

            self.model = as_onnx(self.model, torch.zeros(1, 3, *self.input_hw), tasks=self.tasks)
        self._locator = None

    @torch.no_grad()
    def normalized(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) network-ready images -> (B, 1, H/2, W/2) normalised depth."""
        return self.model(batch.to(self.device)).float()

    @torch.no_grad()
    def outputs(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """normalized() as {"depth": ...} plus a multi-task model's extra maps (normal, matte) at its resolution;
        with `mirror`, the mean of the batch's and its mirror images' maps (flipped back, normals' x negated)."""
        if not self.mirror:
            return self._outputs(batch)
        n = len(batch)
        both = self._outputs(torch.cat([batch, batch.flip(-1)]))
        out = {}
        for k, v in both.items():
            back = v[n:].flip(-1)
            if k == "normal":
                back = torch.cat([-back[:, :1], back[:, 1:]], 1)
            out[k] = (v[:n] + back) / 2
        return out

    def _outputs(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.tasks:
            return {"depth": self.normalized(batch)}
        return {k: v.float() for k, v in self.model(batch.to(self.device), every=True).items()}

    def to_metric(self, n, scale=1.0):
        """Network output -> metres; `scale` from `self.cfg.norm.scale(fx, width)` (1 for raw metric training)."""
        return self.cfg.norm.decode(n, scale)

    def locate(self, rgb: np.ndarray, crop: bool = True) -> tuple[list[Crop], list[Head], np.ndarray | None]:
        """Person-framed crops (largest person last: it wins overlaps), their heads and the person probability
        map; or the letterboxed photo, no heads (and no map with crop=False)."""
        h, w = rgb.shape[:2]
        aspect = self.input_hw[1] / self.input_hw[0]
        if not crop:
            return [whole_region(w, h, aspect)], [], None
        self._locator = self._locator or Locator(device=self.device, runtime=self.runtime)
        heads, person = self._locator(rgb)
        if not heads:
            return [whole_region(w, h, aspect)], [], person
        heads = heads[::-1]
        return [hd.region(aspect) for hd in heads], heads, person

    def predict(self, image, fx: float | None = None, crop: bool = True, bgr: bool = False, extras=None) -> Prediction:
        """A photo (RGB uint8 array, PIL image or path; see `as_rgb`) -> full-size metric depth and validity.

        `fx`: the photo's focal length in its pixels; without it, a DEFAULT_FOV_DEG horizontal field of view.
        `crop=False` predicts the whole photo letterboxed (for photos already framed like the training data).
        `extras`: which of a multi-task model's maps to make at the photo's size (None: all; the live demo
        asks only for the matte, which sharpens the person's outline, since pasting normals costs time).
        """
        rgb = as_rgb(image, bgr)
        if fx is not None and not (np.isfinite(fx) and fx > 0):
            raise ValueError(f"fx {fx}: need a finite focal length in pixels > 0")
        h, w = rgb.shape[:2]
        fx = fx or default_intrinsics(w, h)[0, 0]
        regions, heads, person = self.locate(rgb, crop)
        depth, valid, extra = self.maps_in(rgb, regions, fx, extras=extras)
        if heads:  # depth only on the located people
            keep = kept(person, heads, extra.get("matte"))
            depth[~keep], valid[~keep] = np.nan, False
            if "normal" in extra:
                extra["normal"][~keep] = np.nan
        return Prediction(depth, valid, regions, len(heads), person, heads, extra.get("normal"), extra.get("matte"))

    def depth_in(self, rgb: np.ndarray, regions: list[Crop], fx: float, keep: np.ndarray | None = None):
        """Photo-sized metric depth (NaN elsewhere) and validity from these crops (see maps_in)."""
        return self.maps_in(rgb, regions, fx, keep)[:2]

    def maps_in(self, rgb: np.ndarray, regions: list[Crop], fx: float, keep: np.ndarray | None = None, extras=None):
        """(depth, valid, extra maps) from these crops, predicted in batches and warped back where `keep` holds
        (None: wherever a crop lies; a matte wherever its crop lies, the highest where crops overlap, so a crop on
        a false head never cuts a hole in the person); later crops win overlaps. Normals are turned with their
        crop's roll back into the photo's axes. `extras`: the tasks wanted (None: all the model has)."""
        h, w = rgb.shape[:2]
        ih, iw = self.input_hw
        depth, valid = np.full((h, w), np.nan, np.float32), np.zeros((h, w), bool)
        tasks = [t for t in self.tasks if extras is None or t in extras]
        extra = {t: np.full((h, w, 3) if t == "normal" else (h, w), np.nan, np.float32) for t in tasks}
        scratch = np.zeros((h, w), bool)
        k = 1 + len(self.views)
        for start in range(0, len(regions), self.batch):
            chunk = regions[start : start + self.batch]
            seen = [v for r in chunk for v in [r] + [reframed(r, *view) for view in self.views]]
            x = torch.stack([image_tensor(cut(rgb, r, (iw, ih))) for r in seen])
            out = {t: v.cpu().numpy().astype(np.float64) for t, v in self.outputs(x).items()}
            scales = [self.cfg.norm.scale(fx, r.w) for r in seen]
            out["depth"] = np.stack([self.to_metric(d, s) for d, s in zip(out["depth"], scales)])
            for i, r in enumerate(chunk):
                maps = {t: averaged(v[i * k : (i + 1) * k], seen[i * k : (i + 1) * k]) for t, v in out.items()}
                paste(depth, valid, r, maps["depth"][0], keep)
                if "normal" in extra:
                    for c, plane in enumerate(rolled(maps["normal"], r.roll)):
                        paste(extra["normal"][..., c], scratch, r, plane, keep)
                if "matte" in extra:  # coverage: a pixel is the person's if any crop says so
                    paste(extra["matte"], scratch, r, maps["matte"][0], combine=np.fmax)
        if "normal" in extra:  # bilinear warping shortens vectors; invalid pixels stay NaN
            n = extra["normal"]
            n[valid] /= np.maximum(np.linalg.norm(n[valid], axis=-1, keepdims=True), 1e-6)
            n[~valid] = np.nan
        return depth, valid, extra

    __call__ = predict  # one call path: predictor(image) is predictor.predict(image)


def averaged(maps: np.ndarray, crops: list[Crop]) -> np.ndarray:
    """(C, h, w) maps of crops[0]: the mean of its own (maps[0]) and the other views' (maps[1:], each moved into
    crops[0]'s frame) where they reach."""
    if len(crops) == 1:
        return maps[0]
    stack = [maps[0]] + [np.stack([moved(c, src, crops[0]) for c in m]) for m, src in zip(maps[1:], crops[1:])]
    total, count = np.zeros_like(maps[0]), np.zeros_like(maps[0])
    for m in stack:
        ok = np.isfinite(m)
        total[ok] += m[ok]
        count += ok
    return total / count  # the crop's own view reaches everywhere: count >= 1


def kept(person: np.ndarray, heads: list[Head], matte: np.ndarray | None = None) -> np.ndarray:
    """Where depth is kept on the located people: the locator's person map over 0.5 plus an ellipse on each head
    (a face is never left out where the map is unsure, as on real clothes); with a network's matte, the
    matte's parts that hold a located head (sharp, at the crop's resolution, and right on real clothes where
    the locator's coarse map is not) joined with the person map, an ellipse only for a head the matte missed.
    benchmarks/localise.py measures both: coverage of the person and depth on the backdrop
    (docs/localise_benchmark.txt)."""
    mask = person > 0.5
    if matte is None:
        return with_heads(mask, heads)
    with np.errstate(invalid="ignore"):  # NaN (outside every crop) is not the person
        own = held(matte > 0.5, heads)
    h, w = own.shape
    missed = [hd for hd in heads if not own[min(max(int(hd.y), 0), h - 1), min(max(int(hd.x), 0), w - 1)]]
    return with_heads(own | mask, missed)


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
        "ply\nformat binary_little_endian 1.0\ncomment facedepth predict\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a full disk never leaves a header over part of the data
        fh.write(header.encode("ascii"))
        fh.write(vertex.tobytes())
