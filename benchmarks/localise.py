"""Localisation benchmark: find the person in photo-like scenes, then compare pasted with direct depth.

    python benchmarks/localise.py [--prepared data/prepared] [--cases 200] [--model reference] [--haar] [--mirror]

Scenes: test-split renders (people the locator and the reference model never saw)
pasted one per 640x480 frame into the bpy wheel's HDRIs or a cluttered backdrop
(facedepth.scenes, seed fixed), heads 60-400 px, in-plane roll up to 45 degrees,
a quarter partly covered by a hand-like blob. Per case:
- located: a located head's centre lies within half a head size of the pasted head's visible centroid (so a
  head measured whole around a hand across the face is found; the same rule as --crowds);
- rank correlation (Spearman) of the predicted with the true depth on the person's
  visible head pixels, pasted, against the same render predicted directly (crop=False);
- coverage: the share of the person's visible pixels (head and shoulders) with valid depth, and
  backdrop: valid pixels off every person, per person pixel (depth painted on the wall);
- whole_head: the subset whose head is wholly in the photo and uncovered (a hand or the photo's
  edge changes the prediction the direct one is compared with), with the oracle crop's rate beside;
  cut_by_edge and occluded: the rest, by what hides part of the head;
- time: locator plus crop per frame, and the whole `Predictor.predict`.
Then `--crowds` frames with two or three people each (locator only): the share of the people in sight located
and the false heads per frame. Then the public-domain portraits in docs/photos turned 0-45 degrees in 5 degree steps:
found when a located head's centre is within half a head size of the turned face centre.
`--haar` adds OpenCV's frontal Haar cascade (the old localiser) on the same frames; `--mirror` predicts
each crop and its mirror image and `--views predict` each crop zoomed in and out too (both `facedepth predict`'s
defaults, not the demo's), direct predictions included; `--no-refine` locates from the whole-photo pass alone; `--rows`
writes each case's figures (with the direct prediction scored on exactly the pasted one's pixels).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from realism import haar_cascade  # benchmarks/ is on the path when a benchmark runs

from facedepth.locate import Locator
from facedepth.metrics import spearman
from facedepth.predict import VIEWS, Crop, Predictor, cut, read_rgb
from facedepth.scenes import compose
from facedepth.splits import load_split
from fdcore.labels import HEAD_LABELS
from fdcore.machine import cpu_name
from pipeline.backgrounds import hdri_backgrounds


def haar():
    cascade = haar_cascade()

    def faces(rgb: np.ndarray) -> list[tuple[float, float]]:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        return [(x + w / 2, y + h / 2) for x, y, w, h in cascade.detectMultiScale(grey, 1.1, 5, minSize=(24, 24))]

    return faces


def on_person(person: np.ndarray, hd) -> bool:
    """Whether a located head's centre lies on the pasted person."""
    h, w = person.shape
    return 0 <= hd.x < w and 0 <= hd.y < h and bool(person[int(hd.y), int(hd.x)])


def head_of(scene, k: int, split) -> tuple[float, float, float, float] | None:
    """Where person k's head is: its visible head pixels' centroid (x, y; pixel edges at integers), the size of its
    whole head as pasted (sqrt of its pixels, were none covered or cut) and the share of it in sight; None when
    none is."""
    placed = scene.placed[k - 1]
    area = np.isin(split["mask"][placed.index], HEAD_LABELS).sum() * abs(np.linalg.det(placed.matrix[:, :2]))
    ys, xs = np.nonzero(scene.head & (scene.person == k))
    if not len(xs):
        return None
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5, math.sqrt(area), len(xs) / area


def near(x: float, y: float, head: tuple[float, float, float, float] | None) -> bool:
    """Whether a point lies within half a head size of a head (`head_of`): a located head finds that person."""
    return head is not None and math.hypot(x - head[0], y - head[1]) < 0.5 * head[2]


def in_frame(tile_map: np.ndarray, placed, hw) -> np.ndarray:
    """A map on the render tile (its depth, or a prediction of it) where the paste put it in the frame (nearest:
    no mixing across edges), NaN off the tile."""
    d = np.asarray(tile_map, np.float32)
    d = d[:, ::-1] if placed.flip else d
    return cv2.warpAffine(
        np.ascontiguousarray(d), placed.matrix, (hw[1], hw[0]), flags=cv2.INTER_NEAREST, borderValue=np.nan
    )


def oracle_crop(placed) -> Crop:
    """The pasted tile's own centre, size and roll: the crop a perfect localiser would make."""
    m = placed.matrix
    c = m @ np.array([63.5, 63.5, 1.0])
    size = 128 * math.hypot(m[0, 0], m[1, 0])
    return Crop(c[0] + 0.5, c[1] + 0.5, size, size, placed.roll)


def oracle_spearman(predictor: Predictor, rgb, crop: Crop, gt, head, fx: float) -> float:
    """The depth model given the exact crop (`oracle_crop`): what is left of the gap to `direct` is the model's,
    not the localisation's."""
    depth, valid = predictor.depth_in(rgb, [crop], fx)
    both = head & valid & np.isfinite(gt)
    return spearman(depth, gt, both) if both.sum() >= 16 else float("nan")


def scenes_benchmark(args, split, predictor: Predictor, locator: Locator, faces) -> dict:
    rng = np.random.default_rng(args.seed)
    backgrounds = hdri_backgrounds()
    hw = (480, 640)
    rows = []
    for _ in range(args.cases):
        scene = compose(rng, split["rgb"], split["mask"], hw, backgrounds, head_px=(60, 400), people=1)
        placed = scene.placed[0]
        person = scene.person == 1
        head = person & scene.head
        t0 = time.perf_counter()
        heads, _ = locator(scene.rgb)
        ih, iw = predictor.input_hw
        for hd in heads:
            cut(scene.rgb, hd.region(iw / ih), (iw, ih))
        t_locate = time.perf_counter() - t0
        t0 = time.perf_counter()
        fx = float(split["manifest"].fx.iloc[placed.index])
        pred = predictor.predict(scene.rgb, fx=fx, extras=("matte",))  # as the live demo
        t_predict = time.perf_counter() - t0
        target = head_of(scene, 1, split)
        on = [near(h.x, h.y, target) for h in heads]
        best = oracle_crop(placed)
        mine = [r for hd, r in zip(pred.heads, pred.regions) if near(hd.x, hd.y, target)]  # against the oracle crop
        crop = min(mine, key=lambda r: math.hypot(r.x - best.x, r.y - best.y)) if mine else None
        gt = in_frame(split["depth"][placed.index], placed, hw)
        both = head & np.isfinite(gt) & pred.valid
        pasted = spearman(pred.depth, gt, both) if both.sum() >= 16 else float("nan")
        oracle = oracle_spearman(predictor, scene.rgb, best, gt, head, fx)
        tile_head = np.isin(np.asarray(split["mask"][placed.index]), HEAD_LABELS)
        direct_pred = predictor.predict(np.asarray(split["rgb"][placed.index]), crop=False)
        direct = spearman(direct_pred.depth, np.asarray(split["depth"][placed.index]), tile_head)
        # the direct prediction on exactly the pixels the pasted one is scored on (Spearman depends on the set)
        direct_map = in_frame(direct_pred.depth, placed, hw)
        same = both & np.isfinite(direct_map)
        direct_same = spearman(direct_map, gt, same) if same.sum() >= 16 else float("nan")
        area = tile_head.sum() * abs(np.linalg.det(placed.matrix[:, :2]))
        whole = head.sum() >= 0.97 * area
        in_photo = np.nan_to_num(in_frame(tile_head.astype(np.float32), placed, hw)) > 0.5
        row = {
            "located": any(on),
            "heads": len(heads),  # one person in sight: more is a head cut in parts or a false one
            "whole_head": bool(whole),
            "pasted": pasted,
            "direct": direct,
            "direct_same_pixels": direct_same,
            "cut_by_edge": bool(in_photo.sum() < 0.97 * area),
            "oracle": oracle,
            "coverage": float(pred.valid[person].mean()) if person.any() else float("nan"),
            "backdrop": float((pred.valid & (scene.person == 0)).sum() / max(1, person.sum())),
            "locate_ms": 1e3 * t_locate,
            "predict_ms": 1e3 * t_predict,
            "head_px": math.sqrt(head.sum()),
            "head_shown": float(head.sum() / area),  # the share of the head in the photo and uncovered
            "roll": placed.roll,
        }
        if crop is not None:
            row["crop_size_ratio"] = crop.w / best.w
            row["crop_offset"] = math.hypot(crop.x - best.x, crop.y - best.y) / best.w
            row["crop_roll_error"] = (crop.roll - best.roll + 180) % 360 - 180
        if faces:
            t0 = time.perf_counter()
            found = faces(scene.rgb)
            row["haar_ms"] = 1e3 * (time.perf_counter() - t0)
            row["haar"] = any(near(x, y, target) for x, y in found)
        rows.append(row)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return summarise(rows)


def crowd_benchmark(args, split, locator: Locator) -> dict:
    """Two or three test-split people per frame, later ones pasted over earlier ones: each person with at least
    half its head in sight (not behind a nearer one, a hand or the photo's edge) is located when a located head
    lies within half a head size of its head's visible centroid (each located head counts once: a head between
    two people finds one); false heads lie on no one and near no one's head. Locator only (its own random
    stream)."""
    rng = np.random.default_rng(args.seed + 1)
    backgrounds = hdri_backgrounds()
    hw = (480, 640)
    found, false_heads, ms = [], 0, []
    for _ in range(args.crowds):
        people = int(rng.integers(2, 4))
        scene = compose(rng, split["rgb"], split["mask"], hw, backgrounds, head_px=(60, 400), people=people)
        t0 = time.perf_counter()
        heads, _ = locator(scene.rgb)
        ms.append(1e3 * (time.perf_counter() - t0))
        anyone = scene.person > 0
        targets = [head_of(scene, k, split) for k in range(1, len(scene.placed) + 1)]
        false_heads += sum(not on_person(anyone, h) and not any(near(h.x, h.y, t) for t in targets) for h in heads)
        free = list(heads)
        for target in targets:
            if target is None or target[3] < 0.5:
                continue
            dist = sorted((math.hypot(h.x - target[0], h.y - target[1]), i) for i, h in enumerate(free))
            found.append(bool(dist) and near(free[dist[0][1]].x, free[dist[0][1]].y, target))
            if found[-1]:
                free.pop(dist[0][1])
    return {
        "frames": args.crowds,
        "people_in_sight": len(found),
        "located": float(np.mean(found)) if found else float("nan"),
        "false_heads_per_frame": false_heads / max(1, args.crowds),
        "locate_ms_median": float(np.median(ms)) if ms else float("nan"),
    }


def summarise(rows: list[dict]) -> dict:
    def mean(key, subset=rows):
        v = [r[key] for r in subset if key in r and not (isinstance(r[key], float) and math.isnan(r[key]))]
        return float(np.mean(v)) if v else float("nan")

    scored = [r for r in rows if not math.isnan(r["pasted"])]
    close = [r["pasted"] >= r["direct"] - 0.05 for r in scored]
    out = {
        "cases": len(rows),
        "located": mean("located"),
        "heads_per_frame": mean("heads"),
        "within_0.05_of_direct": float(np.mean(close)) if close else float("nan"),
        "within_0.05_ci95": wilson(int(np.sum(close)), len(close)),
        "spearman_pasted": mean("pasted", scored),
        "spearman_direct": mean("direct", scored),
        "spearman_oracle_crop": mean("oracle", scored),
        "coverage": mean("coverage"),
        "coverage_median": float(np.median([r["coverage"] for r in rows])),
        "backdrop_per_person_px": mean("backdrop"),
        "locate_ms_median": float(np.median([r["locate_ms"] for r in rows])),
        "predict_ms_median": float(np.median([r["predict_ms"] for r in rows])),
    }
    for name, part in (("cut_by_edge", lambda r: r["cut_by_edge"]), ("occluded", occluded)):
        close = [r["pasted"] >= r["direct"] - 0.05 for r in scored if part(r)]
        out[f"{name}_cases"] = len(close)
        out[f"{name}_within_0.05"] = float(np.mean(close)) if close else float("nan")
    whole = [r["pasted"] >= r["direct"] - 0.05 for r in scored if r["whole_head"]]
    whole_oracle = [r["oracle"] >= r["direct"] - 0.05 for r in scored if r["whole_head"]]
    out["whole_head_cases"] = len(whole)
    out["whole_head_within_0.05"] = float(np.mean(whole)) if whole else float("nan")
    out["whole_head_oracle_within_0.05"] = float(np.mean(whole_oracle)) if whole_oracle else float("nan")
    small = [r for r in rows if r["head_px"] < 100]
    out["located_small_heads"] = mean("located", small) if small else float("nan")
    turned = [r for r in rows if abs(r["roll"]) > 30]
    out["located_roll_over_30"] = mean("located", turned) if turned else float("nan")
    if "haar" in rows[0]:
        out["haar_located"] = mean("haar")
        out["haar_ms_median"] = float(np.median([r["haar_ms"] for r in rows]))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> str:
    """The 95% Wilson interval of a rate k/n: how far 200 cases pin it down (about +-5 points near 80%)."""
    if n == 0:
        return "-"
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return f"{max(0.0, centre - half):.3f}-{min(1.0, centre + half):.3f}"


def occluded(row: dict) -> bool:
    """Part of the head hidden in the photo, not by its edge: by the occluder (one person per scene)."""
    return not row["whole_head"] and not row["cut_by_edge"]


def turned(rgb: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned `angle` degrees counter-clockwise on a canvas that holds all of it; and the 2x3 map."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    a = math.radians(angle)
    nw, nh = int(w * abs(math.cos(a)) + h * abs(math.sin(a))), int(w * abs(math.sin(a)) + h * abs(math.cos(a)))
    m[:, 2] += [(nw - w) / 2, (nh - h) / 2]
    return cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)), m


def portraits_benchmark(photos: Path, locator: Locator, faces) -> list[dict]:
    """Each photo's face (the upright located head nearest the face OpenCV's frontal cascade finds upright: the
    astronaut's helmet is a larger "head") followed through the turns; roll_error: the located roll against the
    upright one plus the turn."""
    frontal = faces or haar()
    rows = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
        rgb = read_rgb(path)
        upright, _ = locator(rgb)
        own = frontal(rgb)
        if not upright or not own:
            rows.append({"photo": path.name, "found": "not even upright" if own else "no upright face"})
            continue
        face = min(upright, key=lambda h: math.hypot(h.x - own[0][0], h.y - own[0][1]))
        centre, size = np.array([face.x, face.y, 1.0]), face.size
        haar_centre = np.array([*own[0], 1.0])
        for angle in range(0, 50, 5):
            image, m = turned(rgb, angle)
            tx, ty = m @ centre
            heads, _ = locator(image)
            hit = sorted(
                (h for h in heads if math.hypot(h.x - tx, h.y - ty) < 0.5 * size),
                key=lambda h: math.hypot(h.x - tx, h.y - ty),
            )
            row = {"photo": path.name, "angle": angle, "found": bool(hit), "roll": hit[0].roll if hit else None}
            if hit:
                row["roll_error"] = (hit[0].roll - face.roll - angle + 180) % 360 - 180
            if faces:  # judged against its own upright detection
                hx, hy = m @ haar_centre
                row["haar"] = any(math.hypot(x - hx, y - hy) < 0.5 * size for x, y in faces(image))
            rows.append(row)
    return rows


def figure(out: Path, predictor: Predictor, split: dict, photos: Path) -> None:
    """Photos turned in the image plane and a two-person scene: each located crop (box, roll) and the depth kept
    on the located people."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [turned(read_rgb(photos / "astronaut.png"), 30)[0], turned(read_rgb(photos / "grace_hopper.jpg"), -40)[0]]
    rng = np.random.default_rng(3)
    scene = compose(rng, split["rgb"], split["mask"], (480, 640), hdri_backgrounds(), head_px=(90, 200), people=2)
    cases.append(scene.rgb)
    fig, axes = plt.subplots(2, len(cases), figsize=(4.2 * len(cases), 7))
    for k, rgb in enumerate(cases):
        pred = predictor.predict(rgb)
        axes[0, k].imshow(rgb)
        for crop in pred.regions if pred.faces else []:
            a = math.radians(crop.roll)
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]) * [crop.w / 2, crop.h / 2]
            rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
            xy = corners @ rot.T + [crop.x, crop.y]
            axes[0, k].plot(xy[:, 0], xy[:, 1], "y-", lw=1.5)
        axes[0, k].set_title(f"{pred.faces} located", fontsize=9)
        d = pred.depth
        lo, hi = np.nanpercentile(d, [2, 98]) if np.isfinite(d).any() else (0, 1)
        axes[1, k].imshow(d, cmap="turbo_r", vmin=lo, vmax=hi)
        axes[1, k].set_title(f"depth on the located people: {lo:.2f}-{hi:.2f} m", fontsize=9)
        for ax in axes[:, k]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


def views(text: str) -> tuple[tuple[float, float, float], ...]:
    """--views "1.15,0,0;0.87,0,0" -> ((1.15, 0.0, 0.0), (0.87, 0.0, 0.0)); "predict": `facedepth predict`'s."""
    if text == "predict":
        return VIEWS
    return tuple(tuple(float(v) for v in part.split(",")) for part in text.split(";") if part.strip())  # type: ignore[misc]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crowds", type=int, default=200, help="frames with two or three people (0: none)")
    ap.add_argument("--model", default=None, help="depth checkpoint (default: the shipped reference model)")
    ap.add_argument("--locator", type=Path, default=None, help="locator checkpoint (default: the shipped one)")
    ap.add_argument("--photos", type=Path, default=Path("docs/photos"))
    ap.add_argument("--haar", action="store_true", help="also run OpenCV's frontal Haar cascade")
    ap.add_argument("--runtime", default="onnx", choices=["onnx", "torch"], help="how both networks run")
    ap.add_argument("--no-refine", action="store_true", help="locate heads from the whole-photo pass only")
    ap.add_argument("--views", default="", help='other framings of each crop, averaged: "zoom,dx,dy;..." or "predict"')
    ap.add_argument("--mirror", action="store_true", help="average each crop's and its mirror image's depth")
    ap.add_argument("--rows", type=Path, default=None, help="also write each case's figures here (JSON lines)")
    ap.add_argument("--figure", type=Path, default=None, help="also save example predictions here")
    args = ap.parse_args()
    split = load_split(args.prepared, args.split, mmap=False)
    predictor = Predictor(args.model, runtime=args.runtime, mirror=args.mirror, views=views(args.views))
    locator = Locator(args.locator, runtime=args.runtime, refine=not args.no_refine)
    predictor._locator = locator
    faces = haar() if args.haar else None
    print(f"CPU: {cpu_name()}; torch threads {torch.get_num_threads()}; runtime {args.runtime}")
    summary = scenes_benchmark(args, split, predictor, locator, faces)
    print(f"pasted scenes ({args.prepared}/{args.split}, {summary['cases']} cases, 640x480):")
    for k, v in summary.items():
        print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    if args.crowds:
        print(f"two or three people per frame ({args.crowds} frames, locator only):")
        for k, v in crowd_benchmark(args, split, locator).items():
            print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    if args.figure:
        figure(args.figure, predictor, split, args.photos)
    print("portraits turned in the image plane:")
    for row in portraits_benchmark(args.photos, locator, faces):
        print("  " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
