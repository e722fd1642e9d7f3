"""What the trained models predict on real photos (no ground truth: a look, not a score).

    python benchmarks/real_photos.py [--photos docs/photos] [--models facedepth_lite unet_simple_lite ...]
                                     [--out docs/real_photos.png]

Each photo goes through `facedepth predict`'s path (person crop, metric depth
with an assumed 50 deg field of view when EXIF has no focal length); the
figure shows the crop region: photo, then each model's depth on its own
colour scale (2nd-98th percentile, near = warm), with the range in metres.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from facedepth.predict import Predictor, read_rgb  # noqa: E402
from pipeline.predict import find_images, photo_focal  # noqa: E402


def shaded(depth: np.ndarray, fx: float) -> np.ndarray:
    """Depth lit from the upper left as a surface (NaN stays NaN): shows relief a colour map hides."""
    z = np.where(np.isfinite(depth), depth, np.nan)
    dzdy, dzdx = np.gradient(z)
    px = z / fx  # metres per pixel at that depth
    n = np.stack([dzdx / px, dzdy / px, -np.ones_like(z)], -1)  # faces the camera (-z); x right, y down
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([-0.5, -0.5, -0.7]) / np.linalg.norm([-0.5, -0.5, -0.7])
    return np.clip(n @ light, 0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=Path("docs/photos"))
    ap.add_argument(
        "--models", nargs="+", default=["facedepth_lite", "unet_simple_lite", "bts_lite", "densedepth_lite"]
    )
    ap.add_argument("--out", type=Path, default=Path("docs/real_photos.png"))
    ap.add_argument("--shade", action="store_true", help="add each model's depth shaded as a lit surface")
    args = ap.parse_args()
    photos = find_images(args.photos)
    # names, paths, or `reference` (the shipped model); each crop with its mirror image (`facedepth predict` also
    # averages zoomed views: not here, so the figure compares the models, not the averaging)
    predictors = {m: Predictor(m, mirror=True) for m in args.models}
    cols = len(predictors) * (2 if args.shade else 1) + 1
    fig, axes = plt.subplots(len(photos), cols, figsize=(3.2 * cols, 3.4 * len(photos)), squeeze=False)
    for row, path in zip(axes, photos):
        rgb = read_rgb(path)
        h, w = rgb.shape[:2]
        focal, source = photo_focal(path, w, h, None, None)
        preds = {m: p.predict(rgb, focal) for m, p in predictors.items()}
        first = next(iter(preds.values()))
        best = int(np.argmax([hd.score for hd in first.heads])) if first.heads else -1
        x, y, cw, ch = first.regions[best].box()  # the most confident person's crop (or the letterboxed photo)
        ys, xs = slice(max(y, 0), min(y + ch, h)), slice(max(x, 0), min(x + cw, w))
        row[0].imshow(rgb[ys, xs])
        row[0].set_title(f"{path.name}: {first.faces} person(s)", fontsize=9)
        step = 2 if args.shade else 1
        for k, (m, pred) in enumerate(preds.items()):
            d = pred.depth[ys, xs]
            hh, ww = d.shape  # colour scale of the face (the crop's centre), so its relief is not drowned by the room
            lo, hi = np.nanpercentile(d[hh // 5 : hh * 3 // 5, ww // 3 : ww * 2 // 3], [2, 98])
            row[1 + step * k].imshow(d, cmap="turbo_r", vmin=lo, vmax=hi)
            row[1 + step * k].set_title(f"{m}: {lo:.2f}-{hi:.2f} m", fontsize=9)
            if args.shade:
                row[2 + step * k].imshow(shaded(d, focal), cmap="gray", vmin=0, vmax=1)
                row[2 + step * k].set_title(f"{m}: shaded relief", fontsize=9)
        for ax in row:
            ax.axis("off")
        print(f"{path.name}: focal {focal:.0f} px ({source}), {first.faces} person(s), crop {cw}x{ch} at ({x}, {y})")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
