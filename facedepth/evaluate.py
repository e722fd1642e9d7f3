"""Test-split evaluation of a model or a baseline, on the network's output grid.

Every prediction is scored the same way: standard metrics on head pixels
(metric and median-scaled), face relief in mm on face skin, and Spearman
rank correlation on head pixels, overall and by yaw bin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from facedepth import baselines
from facedepth.augment import CAMERA_EFFECTS
from facedepth.complexity import count_macs, count_params
from facedepth.data import FACE_SKIN, DepthSplit, output_grid
from facedepth.depthnorm import DepthNorm
from facedepth.metrics import METRICS, SHAPE_METRICS, depth_metrics, relief_mae_mm, spearman
from facedepth.predict import Predictor
from facedepth.splits import load_split
from fdcore.files import atomic_path, atomic_write_text

YAW_BINS = (-90, -45, -15, 15, 45, 90)


def yaw_bin(yaw: float) -> str:
    for lo, hi in zip(YAW_BINS[:-1], YAW_BINS[1:]):
        if lo <= yaw < hi:
            return f"yaw_{lo}_{hi}"
    return f"yaw_{YAW_BINS[-2]}_{YAW_BINS[-1]}"


@torch.no_grad()
def inference_ms(model: torch.nn.Module, h: int, w: int, device, repeats: int = 10) -> float:
    """Median wall time of one (1, 3, H, W) forward pass."""
    x = torch.rand(1, 3, h, w, device=device)
    model(x)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


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


def test_split(prepared: Path, norm: DepthNorm = DepthNorm(), unseen_by: tuple[Path, ...] = (), **kw) -> DepthSplit:
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


def _predictions(
    pred: Predictor, ds: DepthSplit, advance=lambda n: None, heads: HeadScores | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, metric depth) per test image; a multi-task model's extra maps go to `heads` in the same pass."""
    for x, _, valid, _, idx, *targets in DataLoader(ds, batch_size=8):
        out = pred.outputs(x) if heads is not None else {"depth": pred.normalized(x)}
        if heads is not None and targets:
            heads.add(out, targets[0], valid)
        metric = pred.to_metric(out["depth"].cpu().numpy(), ds.scales[idx.numpy()].reshape(-1, 1, 1, 1))
        advance(len(idx))
        yield from zip(idx.tolist(), metric[:, 0])


def evaluate(
    checkpoint: Path, prepared: Path, keep_predictions: int = 4, progress=None, unseen_by: tuple[Path, ...] = ()
) -> tuple[dict, list[dict], dict]:
    """(summary metrics, per-image rows, {"index", "depth"} of the first few test predictions, metres).

    The summary's `camera_effects` scores the same test images through the fixed camera-effects
    pipeline (facedepth.augment.CAMERA_EFFECTS: exposure, white balance, blur, noise, chromatic shift, JPEG).
    `progress(total)` is called once with the number of images to predict and returns advance(n).
    """
    pred = Predictor(checkpoint)
    cfg = pred.cfg
    ds = test_split(prepared, cfg.norm, unseen_by)
    h, w = pred.input_hw
    if tuple(ds.rgb.shape[1:3]) != (h, w):
        raise ValueError(
            f"{prepared}/test holds {ds.rgb.shape[2]}x{ds.rgb.shape[1]} images but {checkpoint} was "
            f"trained on {w}x{h}; evaluate on data prepared at the training resolution "
            f"(prepare.resolution: [{w}, {h}])"
        )
    heads, skipped = None, None
    if pred.tasks:  # scored in the same pass over the test split as depth
        try:
            ds = test_split(prepared, cfg.norm, unseen_by, heads=pred.tasks)
            heads = HeadScores()
        except ValueError as exc:  # renders older than normal.exr/matte.exr: depth is still scored
            skipped = {"skipped": str(exc).split(":")[0] + ": no normal/matte targets"}
    advance = progress(2 * len(ds)) if progress else (lambda n: None)
    rows, kept = score_all(ds, _predictions(pred, ds, advance, heads), keep_predictions)
    effects = test_split(prepared, cfg.norm, unseen_by, augment=CAMERA_EFFECTS, seed=0)
    effect_rows, _ = score_all(effects, _predictions(pred, effects, advance), 0)
    model = pred.model
    summary = {
        "model": cfg.model,
        **summarise(rows),
        "camera_effects": {k: v for k, v in summarise(effect_rows).items() if k != "by_yaw"},
        "params_M": count_params(model) / 1e6,
        "gmacs_480x640": count_macs(model.cpu(), 480, 640) / 1e9,
        "ms_per_frame": inference_ms(model.to(pred.device), h, w, pred.device),
        "ms_input": f"{w}x{h} {pred.device.type}",
    }
    if unseen_by:
        summary["unseen_by"] = [str(p) for p in unseen_by]
    if pred.tasks:
        summary["heads"] = heads.summary() if heads is not None else skipped
    return summary, rows, kept


NORMAL_THRESHOLDS_DEG = (11.25, 22.5, 30.0)


class HeadScores:
    """A multi-task model's extra maps against the test split's rendered ones, on the network's output grid,
    each image weighing the same: normals by angular error on person pixels (mean, share under 11.25, 22.5 and
    30 degrees), the matte by IoU at 0.5 and SAD (sum of absolute differences / 1000, as matting reports it)."""

    def __init__(self):
        self.per: dict[str, list[float]] = {}

    def add(self, out: dict, targets: dict, valid: torch.Tensor) -> None:
        """One batch: the network's outputs, the split's head targets and its valid (person) pixels."""
        per = self.per
        for t, v in targets.items():
            got, want = out[t].cpu().numpy(), v.numpy()
            for i in range(len(want)):
                if t == "normal":
                    person = valid[i, 0].numpy() & np.isfinite(want[i]).all(0)
                    if person.any():
                        cos = np.clip((got[i] * want[i]).sum(0)[person], -1, 1)
                        angle = np.degrees(np.arccos(cos))
                        per.setdefault("normal.mean_deg", []).append(float(angle.mean()))
                        for th in NORMAL_THRESHOLDS_DEG:
                            per.setdefault(f"normal.under_{th:g}", []).append(float((angle < th).mean()))
                else:
                    known = np.isfinite(want[i, 0])
                    p, g = got[i, 0][known], want[i, 0][known]
                    union = ((p > 0.5) | (g > 0.5)).sum()
                    per.setdefault("matte.iou", []).append(float(((p > 0.5) & (g > 0.5)).sum() / max(union, 1)))
                    per.setdefault("matte.sad", []).append(float(np.abs(p - g).sum() / 1000))

    def summary(self) -> dict:
        return {k: float(np.mean(v)) for k, v in self.per.items()}


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


def evaluate_to(
    checkpoint: Path, prepared: Path, out: Path | None = None, progress=None, unseen_by: tuple[Path, ...] = ()
) -> tuple[dict, Path]:
    """evaluate() and write its files to `out` (default reports/eval/MODEL); returns the summary and the folder."""
    summary, rows, kept = evaluate(checkpoint, prepared, progress=progress, unseen_by=unseen_by)
    out = Path(out) if out else Path("reports/eval") / summary["model"]
    write_results(out, summary, rows, kept)
    return summary, out


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
    ds = test_split(prepared)
    frames = [eval_frame(ds, i)[0] for i in range(len(ds))]
    results = {}
    for name in baselines.NAMES:
        rows, kept = score_all(ds, ((i, model.predict(name, f)) for i, f in enumerate(frames)), keep_predictions)
        results[name] = ({"model": name, "baseline": True, **summarise(rows)}, rows, kept)
        if out is not None:
            write_results(Path(out) / name, *results[name])
    return results
