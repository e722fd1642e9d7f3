"""What the trained models predict on real photos (no ground truth: a look, not a score).

    python benchmarks/real_photos.py [--photos docs/photos] [--models facedepth_lite unet_simple_lite ...]
                                     [--out docs/real_photos.png]

Each photo goes through `facedepth predict`'s path (face crop, metric depth
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

from facedepth.predict import (
    Predictor,  # noqa: E402
    read_rgb,  # noqa: E402
)
from pipeline.predict import find_images, photo_focal  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=Path("docs/photos"))
    ap.add_argument(
        "--models", nargs="+", default=["facedepth_lite", "unet_simple_lite", "bts_lite", "densedepth_lite"]
    )
    ap.add_argument("--out", type=Path, default=Path("docs/real_photos.png"))
    args = ap.parse_args()
    photos = find_images(args.photos)
    predictors = {m: Predictor(Path("models") / m / "best.pt") for m in args.models}
    fig, axes = plt.subplots(
        len(photos), len(predictors) + 1, figsize=(3.2 * (len(predictors) + 1), 3.4 * len(photos)), squeeze=False
    )
    for row, path in zip(axes, photos):
        rgb = read_rgb(path)
        h, w = rgb.shape[:2]
        focal, source = photo_focal(path, w, h, None, None)
        preds = {m: p.predict(rgb, focal) for m, p in predictors.items()}
        first = next(iter(preds.values()))
        x, y, cw, ch = first.regions[-1]  # the largest face's crop (or the letterboxed photo)
        ys, xs = slice(max(y, 0), min(y + ch, h)), slice(max(x, 0), min(x + cw, w))
        row[0].imshow(rgb[ys, xs])
        row[0].set_title(f"{path.name}: {first.faces} face(s)", fontsize=9)
        for ax, (m, pred) in zip(row[1:], preds.items()):
            d = pred.depth[ys, xs]
            lo, hi = np.nanpercentile(d, [2, 98])
            ax.imshow(d, cmap="turbo_r", vmin=lo, vmax=hi)
            ax.set_title(f"{m}: {lo:.2f}-{hi:.2f} m", fontsize=9)
        for ax in row:
            ax.axis("off")
        print(f"{path.name}: focal {focal:.0f} px ({source}), {first.faces} face(s), crop {cw}x{ch} at ({x}, {y})")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
