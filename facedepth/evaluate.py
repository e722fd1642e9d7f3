"""Test-split evaluation: standard metrics on head pixels, metric and scale-invariant, by yaw bin."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from facedepth.complexity import count_macs, count_params
from facedepth.data import HEAD_LABELS, DepthSplit, half
from facedepth.metrics import depth_metrics, mean_metrics
from facedepth.predict import Predictor

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


def evaluate(checkpoint: Path, prepared: Path, keep_predictions: int = 4) -> tuple[dict, list[dict], dict]:
    """(summary metrics, per-image rows, {"index", "depth"} of the first few test predictions, metres)."""
    pred = Predictor(checkpoint)
    cfg = pred.cfg
    ds = DepthSplit(prepared, "test", cfg.near_m, cfg.far_m)
    if len(ds) == 0:
        raise ValueError(f"{prepared}/test is empty; add identities or raise prepare.splits.test")
    rows, kept, kept_index = [], [], []
    for x, _, _, idx in DataLoader(ds, batch_size=8):
        depth = pred.to_metric(pred.normalized(x)).cpu().numpy()[:, 0]
        for d, i in zip(depth, idx.tolist()):
            gt = half(np.asarray(ds.depth[i]))
            valid = np.isin(half(np.asarray(ds.mask[i])), HEAD_LABELS) & np.isfinite(gt) & (gt > 0)
            if not valid.any():
                continue
            meta = ds.manifest.iloc[i]
            rows.append({"name": meta["name"], "yaw": float(meta["yaw"]), "bin": yaw_bin(float(meta["yaw"])),
                         **depth_metrics(d, gt, valid),
                         **{f"si_{k}": v for k, v in depth_metrics(d, gt, valid, median_scale=True).items()}})
            if len(kept) < keep_predictions:
                kept.append(d)
                kept_index.append(i)
    metric = mean_metrics(rows)
    scale_inv = mean_metrics([{k[3:]: v for k, v in r.items() if k.startswith("si_")} for r in rows])
    by_yaw = {}
    for b in sorted({r["bin"] for r in rows}):
        members = [r for r in rows if r["bin"] == b]
        by_yaw[b] = {"n": len(members), "abs_rel": float(np.mean([r["abs_rel"] for r in members])),
                     "si_abs_rel": float(np.mean([r["si_abs_rel"] for r in members]))}
    h, w = pred.input_hw
    model = pred.model
    summary = {
        "model": cfg.model, "test_images": len(rows), "metric": metric, "scale_invariant": scale_inv,
        "by_yaw": by_yaw, "params_M": count_params(model) / 1e6,
        "gmacs_480x640": count_macs(model.cpu(), 480, 640) / 1e9,
        "ms_per_frame": inference_ms(model.to(pred.device), h, w, pred.device),
        "ms_input": f"{w}x{h} {pred.device.type}",
    }
    return summary, rows, {"index": np.array(kept_index), "depth": np.stack(kept).astype(np.float32)}
