"""Evaluate a checkpoint on the user's own RGB-D captures (phone or depth-camera exports).

Folder layout, one capture per NAME:

    NAME.jpg | .png | ...     the photo (EXIF orientation applied)
    NAME.depth.png            uint16 depth in millimetres, 0 = invalid      } one of
    NAME.depth.exr            float32 depth in metres, 0 / NaN / inf = invalid }
    NAME.mask.png             optional: non-zero = evaluate here (e.g. the person)
    NAME.json                 optional: {"fx": focal length in pixels}, else --fx / --fov / EXIF / 50 deg

The photo is predicted as `facedepth predict` would (face crops by default)
and scored at the photo's resolution on pixels valid in the capture, the mask
and the prediction: metric (the capture is in metres), median-scaled, and
scale-and-shift aligned (least squares), plus Spearman rank correlation.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from facedepth.metrics import depth_metrics, scale_shift_align, spearman  # noqa: E402
from facedepth.predict import read_rgb  # noqa: E402
from fdcore.files import atomic_path, atomic_write_text  # noqa: E402
from generation import exr  # noqa: E402
from pipeline.predict import FocalError, checked_focal, find_images, photo_focal  # noqa: E402

KEYS = ("abs_rel", "rmse", "delta1")
MIN_RELIEF_M = 0.005  # a face capture spans centimetres; less is a flat or constant export
CAPTURE_SIDECARS = (
    ".depth.png",
    ".mask.png",
)  # PNGs beside a photo that are not photos (predict's own are skipped too)


class CaptureError(ValueError):
    """A capture that cannot be scored; the message names the file and the fix."""


def find_captures(folder: Path) -> list[Path]:
    """Photos in `folder` (depth, mask and prediction files are not photos)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of RGB-D captures")
    photos = [p for p in find_images(folder) if not p.name.endswith(CAPTURE_SIDECARS) and not is_figure(p)]
    if not photos:
        raise FileNotFoundError(
            f"{folder}: no photos (NAME.jpg/png with NAME.depth.png or NAME.depth.exr); "
            f"see README 'Evaluate on your RGB-D captures'"
        )
    return photos


FIGURE_SIGNATURE = {"facedepth": "evaluate --rgbd figure"}  # so --out may be the capture folder


def is_figure(path: Path) -> bool:
    """Whether `path` is this command's own figure (its PNG text), not a capture."""
    try:
        with Image.open(path) as im:
            return getattr(im, "text", {}).get("facedepth") == FIGURE_SIGNATURE["facedepth"]
    except (OSError, ValueError):
        return False


def read_capture_depth(photo: Path) -> tuple[np.ndarray, Path]:
    """The capture's metric depth (NaN = invalid) beside `photo`."""
    stem = photo.with_suffix("")
    png, exr_path = stem.with_name(stem.name + ".depth.png"), stem.with_name(stem.name + ".depth.exr")
    try:
        if png.is_file():
            with Image.open(png) as im:
                mm = np.asarray(im)
            if mm.dtype not in (np.uint16, np.int32):
                raise CaptureError(f"{png}: depth PNG must be 16-bit millimetres, got {mm.dtype}; re-export as uint16")
            d = mm.astype(np.float64) / 1000.0
            return np.where(d > 0, d, np.nan), png
        if exr_path.is_file():
            d = exr.read_depth(exr_path).astype(np.float64)
            return np.where(np.isfinite(d) & (d > 0), d, np.nan), exr_path
    except (OSError, UnidentifiedImageError, ValueError, exr.DepthFileError) as exc:
        if isinstance(exc, CaptureError):
            raise
        if isinstance(exc, exr.DepthFileError) and "expected one depth channel" in str(exc):
            raise CaptureError(str(exc)) from None
        raise CaptureError(
            f"{png if png.is_file() else exr_path}: unreadable depth ({exc.__class__.__name__}); re-export it"
        ) from None
    raise CaptureError(f"{photo}: no {png.name} (uint16 mm) or {exr_path.name} (float m) beside it")


def read_mask(photo: Path, shape: tuple[int, int]) -> np.ndarray | None:
    path = photo.with_name(photo.with_suffix("").name + ".mask.png")
    if not path.is_file():
        return None
    try:
        with Image.open(path) as im:
            mask = np.asarray(im.convert("L")) > 0
    except (OSError, UnidentifiedImageError):
        raise CaptureError(f"{path}: unreadable mask; re-export it or remove it") from None
    if mask.shape != shape:
        raise CaptureError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, the photo {shape[1]}x{shape[0]}; "
            f"export them at the same size"
        )
    return mask


def sidecar_fx(photo: Path, width: int) -> float | None:
    path = photo.with_name(photo.with_suffix("").name + ".json")
    if not path.is_file():
        return None
    try:
        fx = json.loads(path.read_text())["fx"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CaptureError(f'{path}: need a JSON object with a numeric "fx" (pixels)') from None
    try:
        return checked_focal(fx, width, f"{path}: fx")
    except FocalError as exc:
        raise CaptureError(str(exc)) from None


def score_capture(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    aligned = scale_shift_align(pred, gt, valid)
    metric = depth_metrics(pred, gt, valid)
    median = depth_metrics(pred, gt, valid, median_scale=True)
    shifted = depth_metrics(np.clip(aligned, 1e-6, None), gt, valid)
    return {
        **{f"metric_{k}": metric[k] for k in KEYS},
        **{f"median_{k}": median[k] for k in KEYS},
        **{f"aligned_{k}": shifted[k] for k in KEYS},
        "spearman": spearman(pred, gt, valid),
        "pixels": int(valid.sum()),
    }


def evaluate_rgbd(
    checkpoint: Path,
    folder: Path,
    out: Path,
    crop: bool = True,
    fx: float | None = None,
    fov: float | None = None,
    device: str | None = None,
    on_error=None,
    figure_rows: int = 4,
) -> dict:
    """Score every capture; unusable ones go to `on_error(path, reason)`.

    Writes per_image.csv, metrics.json and figure.png."""
    from facedepth.predict import Predictor

    predictor = Predictor(checkpoint, device)
    rows, panels = [], []
    for photo in find_captures(Path(folder)):
        try:
            try:
                rgb = read_rgb(photo)
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
                raise CaptureError(f"{photo}: unreadable photo ({exc.__class__.__name__})") from None
            gt, depth_file = read_capture_depth(photo)
            h, w = rgb.shape[:2]
            if gt.shape != (h, w):
                raise CaptureError(
                    f"{depth_file}: depth is {gt.shape[1]}x{gt.shape[0]} but {photo.name} is {w}x{h} "
                    f"(after its EXIF orientation); export depth registered to the photo, same size"
                )
            mask = read_mask(photo, (h, w))
            own = sidecar_fx(photo, w)
            try:
                focal, source = (
                    (own, f"{photo.with_suffix('').name}.json") if own else photo_focal(photo, w, h, fx, fov)
                )
            except FocalError as exc:
                raise CaptureError(str(exc)) from None
            pred = predictor.predict(rgb, focal, crop)
            valid = np.isfinite(gt) & pred.valid & np.isfinite(pred.depth) & (mask if mask is not None else True)
            if valid.sum() < 10:
                raise CaptureError(
                    f"{photo}: fewer than 10 pixels valid in the depth, the mask and the prediction "
                    f"(depth zero/NaN, or the located person misses the depth: try --no-crop)"
                )
            if np.ptp(gt[valid]) < MIN_RELIEF_M:  # a flat capture: any prediction aligns to it exactly
                raise CaptureError(
                    f"{depth_file}: depth is constant on the evaluated pixels (range "
                    f"{np.ptp(gt[valid]) * 1000:.2f} mm); a capture must show the face's relief to be scored"
                )
        except CaptureError as exc:
            if on_error is None:
                raise
            on_error(photo, str(exc))
            continue
        rows.append(
            {
                "name": photo.name,
                "focal_px": round(float(focal), 2),
                "focal_source": source,
                "faces": pred.faces,
                **score_capture(pred.depth, gt, valid),
            }
        )
        if len(panels) < figure_rows:
            panels.append((rgb, gt, scale_shift_align(pred.depth, gt, valid), valid, photo.name))
    if not rows:
        raise CaptureError(f"{folder}: no capture could be evaluated")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "per_image.csv", table.getvalue())
    summary = {
        "captures": len(rows),
        "checkpoint": str(checkpoint),
        **{
            k: float(np.nanmean([r[k] for r in rows]))
            for k in rows[0]
            if isinstance(rows[0][k], float) and k != "focal_px"
        },
    }
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=1))
    _figure(panels, out / "figure.png")
    return summary


def _figure(panels, path: Path) -> None:
    fig, axes = plt.subplots(len(panels), 4, figsize=(10, 2.6 * len(panels)), squeeze=False)
    for row, (rgb, gt, aligned, valid, name) in zip(axes, panels):
        lo, hi = np.nanpercentile(gt[valid], [1, 99])
        err = np.where(valid, np.abs(aligned - gt) * 1000, np.nan)
        row[0].imshow(rgb)
        row[0].set_title(name, fontsize=8)
        row[1].imshow(np.where(valid, gt, np.nan), cmap="turbo_r", vmin=lo, vmax=hi)
        row[1].set_title("capture depth", fontsize=8)
        row[2].imshow(np.where(valid, aligned, np.nan), cmap="turbo_r", vmin=lo, vmax=hi)
        row[2].set_title("prediction (scale+shift aligned)", fontsize=8)
        im = row[3].imshow(err, cmap="magma", vmin=0, vmax=max(float(np.nanpercentile(err, 95)), 1e-3))
        row[3].set_title("|error| (mm)", fontsize=8)
        fig.colorbar(im, ax=row[3], fraction=0.046)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata=FIGURE_SIGNATURE)
    plt.close(fig)
