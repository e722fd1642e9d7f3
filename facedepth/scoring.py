"""Scoring depth maps against the test split, with no network: the metrics every model and baseline share.

Every prediction is scored the same way: standard metrics on head pixels
(metric and median-scaled), face relief in mm on face skin, and Spearman
rank correlation on head pixels, overall and by yaw bin. The network-free
baselines are fitted and scored here too, so their DVC stage depends on no
model, checkpoint or inference code (facedepth.evaluate runs the networks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facedepth import baselines
from facedepth.data import FACE_SKIN, DepthSplit, output_grid
from facedepth.depthnorm import DepthNorm
from facedepth.metrics import METRICS, SHAPE_METRICS, depth_metrics, relief_mae_mm, spearman
from facedepth.splits import load_split
from fdcore.files import atomic_path, atomic_write_text

YAW_BINS = (-90, -45, -15, 15, 45, 90)


def yaw_bin(yaw: float) -> str:
    for lo, hi in zip(YAW_BINS[:-1], YAW_BINS[1:]):
        if lo <= yaw < hi:
            return f"yaw_{lo}_{hi}"
    return f"yaw_{YAW_BINS[-2]}_{YAW_BINS[-1]}"


def score(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float] | None:
    """All metrics of one image, or None when it has no valid head pixel."""
    head = baselines.head_mask(mask, gt)
    if not head.any():
        return None
    face = head & (mask == FACE_SKIN)
    scaled = pred * (np.median(gt[head]) / np.median(pred[head]))
    return {
        **depth_metrics(pred, gt, head),
        **{f"si_{k}": v for k, v in depth_metrics(pred, gt, head, median_scale=True).items()},
        "relief_mm": relief_mae_mm(scaled, gt, face) if face.any() else np.nan,
        "spearman": spearman(pred, gt, head),
    }


def summarise(rows: list[dict]) -> dict:
    """Per-image rows -> mean metrics (each image weighs the same), overall and by yaw bin."""
    mean = lambda key, members=rows: float(np.nanmean([r[key] for r in members]))  # noqa: E731
    by_yaw = {}
    for b in sorted({r["bin"] for r in rows}):
        members = [r for r in rows if r["bin"] == b]
        by_yaw[b] = {"n": len(members), **{k: mean(k, members) for k in ("abs_rel", "si_abs_rel", *SHAPE_METRICS)}}
    return {
        "test_images": len(rows),
        "metric": {k: mean(k) for k in METRICS},
        "scale_invariant": {k: mean(f"si_{k}") for k in METRICS},
        "shape": {k: mean(k) for k in SHAPE_METRICS},
        "by_yaw": by_yaw,
    }


def load_test(prepared: Path, norm: DepthNorm = DepthNorm(), unseen_by: tuple[Path, ...] = (), **kw) -> DepthSplit:
    """The test split; with `unseen_by`, only its people who are in no train or val split of those prepared
    folders (renders of the same seed: a model fine-tuned from one trained there never saw them)."""
    rows = None
    if unseen_by:
        seen = {int(i) for p in unseen_by for s in ("train", "val") for i in load_split(p, s)["manifest"].identity_id}
        ids = load_split(prepared, "test")["manifest"].identity_id.to_numpy()
        rows = [i for i, person in enumerate(ids) if int(person) not in seen]
    ds = DepthSplit(prepared, "test", norm, rows=rows, **kw)
    if len(ds) == 0:
        more = f" after leaving out the people of {', '.join(map(str, unseen_by))}" if unseen_by else ""
        raise ValueError(f"{prepared}/test is empty{more}; add identities or raise prepare.splits.test")
    return ds


def score_all(ds: DepthSplit, predictions: Iterator[tuple[int, np.ndarray]], keep: int = 4):
    """Score (index, half-resolution metric depth) pairs; returns (rows, first `keep` predictions)."""
    rows, kept, kept_index = [], [], []
    for i, d in predictions:
        meta = ds.manifest.iloc[i]
        row = score(d, output_grid(np.asarray(ds.depth[i])), output_grid(np.asarray(ds.mask[i])))
        if row is None:
            continue
        rows.append({"name": meta["name"], "yaw": float(meta["yaw"]), "bin": yaw_bin(float(meta["yaw"])), **row})
        if len(kept) < keep:
            kept.append(d)
            kept_index.append(i)
    if not rows:
        raise ValueError("no test image has valid head pixels")
    depth = np.stack(kept).astype(np.float32) if kept else np.zeros((0, 0, 0), np.float32)
    return rows, {"index": np.array(kept_index, np.int64), "depth": depth}


def write_results(out: Path, summary: dict, rows: list[dict], kept: dict) -> None:
    """metrics.json, per_image.csv and predictions.npz (the first test predictions, metres), each atomically."""
    import json

    import pandas as pd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=1))
    atomic_write_text(out / "per_image.csv", pd.DataFrame(rows).to_csv(index=False))
    with atomic_path(out / "predictions.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **kept)


def eval_frame(ds: DepthSplit, i: int) -> tuple[baselines.Known, np.ndarray]:
    """What a baseline may know of frame i, on the evaluation grid, and its ground truth there."""
    meta = ds.manifest.iloc[i]
    missing = {"eye_u", "eye_v", "fx"} - set(ds.manifest.columns)
    if missing:
        raise ValueError(f"prepared manifest lacks {sorted(missing)}; rerun `facedepth prepare` with this version")
    gt = output_grid(np.asarray(ds.depth[i]))
    # evaluation pixel j is prepared pixel 2j, whose centre is at 2j + 0.5 in K's convention
    frame = baselines.Known(
        baselines.head_mask(output_grid(np.asarray(ds.mask[i])), gt),
        ((meta["eye_u"] - 0.5) / 2, (meta["eye_v"] - 0.5) / 2),
        float(meta["fx"]) / 2,
    )
    return frame, gt


def evaluate_baselines(
    prepared: Path, out: Path | None = None, keep_predictions: int = 4
) -> dict[str, tuple[dict, list[dict], dict]]:
    """{baseline name: (summary, rows, kept predictions)}, fitted on the train split, scored on test;
    written to out/NAME when `out` is given."""
    train = DepthSplit(prepared, "train")
    fitted = [eval_frame(train, i) for i in range(len(train))]
    fitted = [(f, d) for f, d in fitted if f.head.any()]
    if not fitted:
        raise ValueError(f"{prepared}/train has no frame with head pixels to fit the baselines on")
    model = baselines.Baselines.fit(*zip(*fitted))
    ds = load_test(prepared)
    frames = [eval_frame(ds, i)[0] for i in range(len(ds))]
    results = {}
    for name in baselines.NAMES:
        rows, kept = score_all(ds, ((i, model.predict(name, f)) for i, f in enumerate(frames)), keep_predictions)
        results[name] = ({"model": name, "baseline": True, **summarise(rows)}, rows, kept)
        if out is not None:
            write_results(Path(out) / name, *results[name])
    return results
