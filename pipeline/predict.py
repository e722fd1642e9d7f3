"""Photos in, depth files out: EXR (float32 m), 16-bit PNG (mm), colourised PNG, optional PLY."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from generation import exr
from pipeline.preview import colourise

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
OUTPUT_SUFFIXES = (".depth.exr", ".depth16.png", ".depth.color.png", ".ply")  # what predict writes per image


def find_images(target: Path) -> list[Path]:
    """Images under `target`, leaving out predict's own outputs (so --out may be the input folder)."""
    if target.is_dir():
        return sorted(p for p in target.iterdir()
                      if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.endswith(OUTPUT_SUFFIXES))
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such image or folder; check the path")
    return [target]


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """`photo` for photo.jpg, or `photo.jpg` when another input shares the stem, so no result overwrites another."""
    stems = [p.stem for p in paths]
    return {p: p.name if stems.count(p.stem) > 1 else p.stem for p in paths}


def read_rgb(path: Path) -> np.ndarray:
    """Any PIL-readable image as (H, W, 3) uint8, upright by its EXIF orientation.

    Greyscale, palette and 16-bit images become 8-bit RGB by their full range.
    """
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit greyscale: 0..65535 -> 0..255
            grey = np.asarray(im, np.float64) / 257.0
            return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


def write_outputs(out_dir: Path, stem: str, rgb: np.ndarray, depth: np.ndarray, K: np.ndarray | None) -> list[Path]:
    from facedepth.predict import point_cloud, write_ply

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.depth.exr", out_dir / f"{stem}.depth16.png", out_dir / f"{stem}.depth.color.png"]
    exr.write_depth(paths[0], depth)
    Image.fromarray(np.clip(np.rint(depth * 1000), 0, 65535).astype(np.uint16)).save(paths[1])
    Image.fromarray(colourise(depth, np.ones(depth.shape, bool))).save(paths[2])
    if K is not None:
        paths.append(out_dir / f"{stem}.ply")
        write_ply(paths[-1], *point_cloud(depth, K, rgb, step=1))
    return paths


def predict_paths(checkpoint: Path, target: Path, out_dir: Path, ply: bool, fov_deg: float,
                  fx: float | None, on_error) -> list[Path]:
    """Predict every image under `target`; unreadable ones go to `on_error(path, reason)` and are skipped."""
    from facedepth.predict import Predictor, default_intrinsics

    predictor = Predictor(checkpoint)
    written = []
    paths = find_images(target)
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
        K = None
        if ply:
            K = default_intrinsics(w, h, fov_deg)
            if fx:
                K[0, 0] = K[1, 1] = fx
        written += write_outputs(out_dir, stem, rgb, predictor(rgb), K)
    return written
