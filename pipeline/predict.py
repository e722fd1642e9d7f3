"""Photos in, depth files out: EXR (float32 m, NaN where not predicted), 16-bit PNG (mm, 0 there),
colourised PNG, validity mask PNG, optional PLY."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from fdcore.files import atomic_path
from generation import exr
from pipeline.colour import colourise

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
# photos this install cannot decode: named and skipped, never silently left out of a folder
UNDECODABLE = {".heic", ".heif", ".avif"}
OUTPUT_SUFFIXES = (
    ".depth.exr",
    ".depth16.png",
    ".depth.color.png",
    ".valid.png",
    ".ply",
    ".normal.exr",
    ".normal.png",
    ".matte.png",
)  # predict's outputs per image: depth always, the point cloud with --ply, normals and matte from multi-task models


def find_images(target: Path, suffixes=PHOTO_SUFFIXES) -> list[Path]:
    """Images under `target`, leaving out predict's own outputs (so --out may be the input folder)."""
    if target.is_dir():  # regular files only: a FIFO named *.jpg would block the reader forever
        return sorted(
            p
            for p in target.iterdir()
            if p.suffix.lower() in suffixes and not p.name.endswith(OUTPUT_SUFFIXES) and p.is_file()
        )
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such image or folder; check the path")
    if not target.is_file():
        raise FileNotFoundError(f"{target}: not a regular file (a pipe or device); pass an image file or a folder")
    return [target]


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """`photo` for photo.jpg, or `photo.jpg` when another input would get the same name (a.jpg, a.png and
    a.jpg.png become a.jpg, a.png and a.jpg.png), so no result overwrites another."""
    stems = {p: p.stem for p in paths}
    while True:  # ends: a file's full name is unique in its folder
        taken = Counter(stems.values())
        clash = [p for p, s in stems.items() if taken[s] > 1 and s != p.name]
        if not clash:
            return stems
        for p in clash:
            stems[p] = p.name


EXIF_IFD, FOCAL_35MM, FOCAL_MM = 0x8769, 0xA405, 0x920A
FOCAL_PLANE_XRES, FOCAL_PLANE_UNIT, EXIF_WIDTH, EXIF_HEIGHT = 0xA20E, 0xA210, 0xA002, 0xA003
UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF resolution units: inch, cm, mm, um
FULL_FRAME_DIAGONAL_MM = math.hypot(36, 24)


FOV_RANGE_DEG = (1.0, 170.0)  # horizontal fields of view a real camera has; outside: a wrong focal length


class FocalError(ValueError):
    """A focal length no camera has; the message names where it came from and the fix."""


def field_of_view(fx: float, width: int) -> float:
    return math.degrees(2 * math.atan(width / (2 * fx)))


def checked_focal(fx, width: int, source: str) -> float:
    """`fx` (pixels) as a float when it gives a horizontal field of view in FOV_RANGE_DEG, else FocalError."""
    if isinstance(fx, bool) or not isinstance(fx, (int, float)) or not math.isfinite(fx) or fx <= 0:
        raise FocalError(f"{source}: focal length {fx!r} is not a number of pixels > 0")
    fov = field_of_view(float(fx), width)
    lo, hi = FOV_RANGE_DEG
    if not lo <= fov <= hi:
        raise FocalError(
            f"{source}: focal length {fx:g} px gives a {fov:.3g} deg field of view on a {width} px wide photo "
            f"(cameras: {lo:g}-{hi:g} deg); give fx in pixels of this photo"
        )
    return float(fx)


def _number(value) -> float:
    """An EXIF rational, int or float as a float; anything else (strings, tuples, junk) raises."""
    if isinstance(value, (bool, str, bytes, tuple, list)) or value is None:
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def exif_focal(path: Path, width: int, height: int) -> tuple[float, str] | None:
    """(fx in pixels, where it came from) from a photo's EXIF, or None when it holds no usable focal length.

    FocalLengthIn35mmFilm is defined on the diagonal (CIPA DC-008), so it converts without the sensor size;
    FocalLength (mm) needs FocalPlaneXResolution to know the sensor's pixels per mm. Malformed or implausible
    tags count as absent (one bad photo never stops a batch).
    """
    try:
        with Image.open(path) as im:
            exif = im.getexif().get_ifd(EXIF_IFD)
    except (OSError, ValueError, SyntaxError):
        return None
    try:
        f35 = exif.get(FOCAL_35MM)
        if f35 is not None and _number(f35) > 0:
            fx = _number(f35) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
            return checked_focal(fx, width, "EXIF"), f"EXIF FocalLengthIn35mmFilm {_number(f35):g} mm"
        f_mm, xres, unit = exif.get(FOCAL_MM), exif.get(FOCAL_PLANE_XRES), exif.get(FOCAL_PLANE_UNIT, 2)
        if f_mm is not None and xres is not None and _number(f_mm) > 0 and _number(xres) > 0 and unit in UNIT_MM:
            sensor_w = _number(exif.get(EXIF_WIDTH) or max(width, height))  # the full sensor image's pixels
            px_per_mm = (
                _number(xres) / UNIT_MM[unit] * max(width, height) / max(sensor_w, _number(exif.get(EXIF_HEIGHT) or 0))
            )
            fx = _number(f_mm) * px_per_mm
            return checked_focal(fx, width, "EXIF"), f"EXIF FocalLength {_number(f_mm):g} mm at {px_per_mm:.1f} px/mm"
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def photo_focal(path: Path, width: int, height: int, fx: float | None, fov: float | None) -> tuple[float, str]:
    """The focal length (px) to use for a photo and a note of its source: --fx, --fov, EXIF, else the default.

    A --fx no camera could have on this photo raises FocalError (the photo is skipped, the batch goes on)."""
    from facedepth.predict import DEFAULT_FOV_DEG, default_intrinsics

    if fx:
        return checked_focal(fx, width, f"{path}: --fx"), "--fx"
    if fov:
        return default_intrinsics(width, height, fov)[0, 0], f"--fov {fov:g} deg"
    found = exif_focal(path, width, height)
    if found:
        return found
    return default_intrinsics(width, height)[
        0, 0
    ], f"no usable EXIF focal length: assumed {DEFAULT_FOV_DEG:g} deg field of view"


SIGNATURE = ("facedepth", "predict")  # in every output's header: a file without it is the user's, never replaced


def has_alpha(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    except (OSError, ValueError):
        return False


def save_png(path: Path, array: np.ndarray) -> None:
    """A PNG written whole or not at all (a killed run leaves no 0-byte file; a link at `path` is replaced)."""
    info = PngImagePlugin.PngInfo()
    info.add_text(*SIGNATURE)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", pnginfo=info)


def written_by_predict(path: Path) -> bool:
    """Whether `path` holds an output of this command (its signature in the PNG, EXR or PLY header)."""
    if path.suffix == ".exr":
        return exr.header_attribute(path, SIGNATURE[0]) == SIGNATURE[1]
    if path.suffix == ".ply":
        with open(path, "rb") as fh:
            return f"comment {' '.join(SIGNATURE)}".encode() in fh.read(512)
    try:
        with Image.open(path) as im:
            return getattr(im, "text", {}).get(SIGNATURE[0]) == SIGNATURE[1]
    except (OSError, ValueError):
        return False


class ForeignFile(OSError):
    """An output name is taken by a file this command did not write."""


def write_outputs(out_dir: Path, stem: str, rgb: np.ndarray, pred, K: np.ndarray | None) -> list[Path]:
    from facedepth.predict import point_cloud, write_ply

    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [*OUTPUT_SUFFIXES[:4], *([".ply"] if K is not None else [])]
    wanted += [".normal.exr", ".normal.png"] * (pred.normal is not None) + [".matte.png"] * (pred.matte is not None)
    paths = [out_dir / f"{stem}{suffix}" for suffix in wanted]
    taken = [p.name for p in paths if p.exists() and not p.is_symlink() and not written_by_predict(p)]
    if taken:
        raise ForeignFile(
            f"{', '.join(taken)} exist(s) in {out_dir} and were not written by `facedepth predict`; nothing was "
            f"replaced: rename them or choose another --out"
        )
    paths = paths[:4]
    depth = pred.depth  # float32, NaN outside pred.valid
    exr.write_depth(paths[0], depth, dict([SIGNATURE]))
    save_png(paths[1], np.clip(np.rint(np.nan_to_num(depth, nan=0.0) * 1000), 0, 65535).astype(np.uint16))
    save_png(paths[2], colourise(depth, pred.valid))
    save_png(paths[3], pred.valid.astype(np.uint8) * 255)
    if K is not None:
        paths.append(out_dir / f"{stem}.ply")
        write_ply(paths[-1], *point_cloud(depth, K, rgb, step=1))
    if pred.normal is not None:  # camera-frame unit normals (OpenCV axes), and a picture of them
        paths += [out_dir / f"{stem}.normal.exr", out_dir / f"{stem}.normal.png"]
        exr.write_channels(
            paths[-2], {c: pred.normal[..., i] for i, c in enumerate(exr.NORMAL_CHANNELS)}, dict([SIGNATURE])
        )
        save_png(paths[-1], normal_picture(pred.normal))
    if pred.matte is not None:
        paths.append(out_dir / f"{stem}.matte.png")
        save_png(paths[-1], np.clip(np.rint(np.nan_to_num(pred.matte) * 255), 0, 255).astype(np.uint8))
    return paths


def normal_picture(normal: np.ndarray) -> np.ndarray:
    """Normals as the usual RGB picture: x right, y up and z towards the viewer mapped from -1..1 to 0..255
    (a face seen head-on is light blue); black where there is none."""
    n = np.nan_to_num(normal) * np.array([1.0, -1.0, -1.0])
    picture = np.clip(np.rint((n + 1) * 127.5), 0, 255).astype(np.uint8)
    picture[~np.isfinite(normal).all(-1)] = 0
    return picture


def predict_paths(
    checkpoint: Path,
    target: Path,
    out_dir: Path,
    ply: bool,
    fov_deg: float | None,
    fx: float | None,
    on_error,
    on_info=lambda path, note: None,
    crop: bool = True,
    device: str | None = None,
    batch: int = 8,
    mirror: bool = True,
    views: bool = True,
) -> list[Path]:
    """Predict every image under `target`; unreadable ones go to `on_error(path, reason)` and are skipped.
    `mirror`: average each crop's depth with its mirror image's; `views`: with the crop's VIEWS too (see Predictor).

    Each photo's focal length (for metric depth and the PLY) and people located are reported through
    `on_info(path, note)`.
    """
    from facedepth.predict import VIEWS, Predictor, intrinsics, read_rgb

    predictor = Predictor(checkpoint, device, batch, mirror=mirror, views=VIEWS if views else ())
    written = []
    paths = find_images(target)
    for path in find_images(target, UNDECODABLE) if target.is_dir() else []:
        on_error(path, f"{path.suffix} photos need a decoder this install lacks; convert it to JPEG or PNG")
    for path, stem in output_stems(paths).items():
        try:
            rgb = read_rgb(path)
        except (UnidentifiedImageError, OSError) as exc:
            on_error(path, f"unreadable image ({exc.__class__.__name__})")
            continue
        except Image.DecompressionBombError as exc:
            on_error(path, f"image too large to decode safely ({exc})")
            continue
        h, w = rgb.shape[:2]
        if has_alpha(path):
            on_info(path, "transparency dropped: the colour under it is predicted")
        try:
            focal, source = photo_focal(path, w, h, fx, fov_deg)
        except FocalError as exc:
            on_error(path, str(exc))
            continue
        pred = predictor.predict(rgb, focal, crop)
        framing = (
            f"{pred.faces} person(s) located, each from a crop framed like the training renders"
            if pred.faces
            else ("nobody found: the whole photo, letterboxed" if crop else "the whole photo, letterboxed (--no-crop)")
        )
        on_info(path, f"focal {focal:.0f} px ({source}); {framing}")
        K = intrinsics(w, h, focal) if ply else None
        try:
            written += write_outputs(out_dir, stem, rgb, pred, K)
        except ForeignFile as exc:
            on_error(path, str(exc))
    return written
