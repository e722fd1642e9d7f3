"""Test-split evaluation of a trained network, on its output grid, scored by facedepth.scoring (as the baselines
are): depth, depth through camera effects, a multi-task model's extra maps, size and speed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from facedepth.augment import CAMERA_EFFECTS
from facedepth.complexity import count_macs, count_params
from facedepth.data import DepthSplit
from facedepth.predict import Predictor
from facedepth.scoring import load_test, score_all, summarise, write_results


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
    ds = load_test(prepared, cfg.norm, unseen_by)
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
            ds = load_test(prepared, cfg.norm, unseen_by, heads=pred.tasks)
            heads = HeadScores()
        except ValueError as exc:  # renders older than normal.exr/matte.exr: depth is still scored
            skipped = {"skipped": str(exc).split(":")[0] + ": no normal/matte targets"}
    advance = progress(2 * len(ds)) if progress else (lambda n: None)
    rows, kept = score_all(ds, _predictions(pred, ds, advance, heads), keep_predictions)
    effects = load_test(prepared, cfg.norm, unseen_by, augment=CAMERA_EFFECTS, seed=0)
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


def evaluate_to(
    checkpoint: Path, prepared: Path, out: Path | None = None, progress=None, unseen_by: tuple[Path, ...] = ()
) -> tuple[dict, Path]:
    """evaluate() and write its files to `out` (default reports/eval/MODEL); returns the summary and the folder."""
    summary, rows, kept = evaluate(checkpoint, prepared, progress=progress, unseen_by=unseen_by)
    out = Path(out) if out else Path("reports/eval") / summary["model"]
    write_results(out, summary, rows, kept)
    return summary, out
