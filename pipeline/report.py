"""Side-by-side comparison of the evaluated models: a markdown table and a figure grid."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from facedepth.baselines import NAMES, head_mask  # noqa: E402
from facedepth.data import output_grid  # noqa: E402
from facedepth.metrics import METRICS  # noqa: E402
from facedepth.splits import load_split  # noqa: E402
from fdcore.files import atomic_path, atomic_write_text  # noqa: E402


def _row(name: str, s: dict, kind: str) -> str:
    return "| " + " | ".join([name] + [f"{s[kind][k]:.3f}" for k in METRICS]) + " |"


def _header(columns: list[str]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def verdict(s: dict, baselines: dict[str, dict]) -> str:
    """Whether a model beats every baseline on scale-invariant AbsRel and on face relief."""
    lost = [
        f"{b} on {label}"
        for b, bs in baselines.items()
        for label, kind, key in (("SI AbsRel", "scale_invariant", "abs_rel"), ("relief", "shape", "relief_mm"))
        if not s[kind][key] < bs[kind][key]
    ]
    return "**yes**" if not lost else "**no**: not better than " + ", ".join(lost)


def markdown_table(summaries: dict[str, dict], baselines: dict[str, dict]) -> str:
    everyone = {**summaries, **{f"{n} (baseline)": b for n, b in baselines.items()}}
    lines = [
        "# Model comparison (test split)",
        "",
        "Baselines know no pixel of the image: `constant` is the training split's median head depth, "
        "`dome` a spherical cap on the head silhouette, `mean_face` the training faces' average relief "
        "aligned by the eye centre and head size. A model that does not beat them has learned no face shape.",
        "",
        "## Face shape against the baselines",
        "",
        "Scale-invariant AbsRel and delta1 on head pixels (face, hair, eyes, mouth; prediction median-scaled "
        "per image); relief: mean |error| in mm on face skin after removing each map's median there "
        "(lower is better); Spearman rank correlation on head pixels (higher is better). The verdict covers "
        "SI AbsRel and relief only: metric depth and Spearman are in the tables, not in it.",
        "",
        *_header(
            [
                "model",
                "SI abs_rel",
                "SI delta1",
                "relief (mm)",
                "Spearman",
                "beats every baseline (SI AbsRel and relief)",
            ]
        ),
    ]
    for n, s in everyone.items():
        v = verdict(s, baselines) if n in summaries else "-"
        lines.append(
            f"| {n} | {s['scale_invariant']['abs_rel']:.4f} | {s['scale_invariant']['delta1']:.3f} | "
            f"{s['shape']['relief_mm']:.2f} | {s['shape']['spearman']:.3f} | {v} |"
        )
    lines += ["", "Lower is better for abs_rel..log10, higher for delta1..3.", ""]
    for kind, title in (
        ("metric", "Metric depth, head pixels"),
        ("scale_invariant", "Scale-invariant (median-scaled), head pixels"),
    ):
        lines += (
            [f"## {title}", "", *_header(["model", *METRICS])] + [_row(n, s, kind) for n, s in everyone.items()] + [""]
        )
    robust = {n: s for n, s in summaries.items() if "camera_effects" in s}
    if robust:
        lines += [
            "## Robustness: clean renders vs the same renders through camera effects",
            "",
            "Camera effects (facedepth/augment.py CAMERA_EFFECTS, seeded per image): exposure curve, white "
            "balance, blur, shot and read noise, chromatic shift, JPEG quality 30-70.",
            "",
            *_header(
                [
                    "model",
                    "SI abs_rel clean",
                    "SI abs_rel effects",
                    "relief clean (mm)",
                    "relief effects (mm)",
                    "Spearman clean",
                    "Spearman effects",
                ]
            ),
        ]
        lines += [
            f"| {n} | {s['scale_invariant']['abs_rel']:.4f} | "
            f"{s['camera_effects']['scale_invariant']['abs_rel']:.4f} | "
            f"{s['shape']['relief_mm']:.2f} | {s['camera_effects']['shape']['relief_mm']:.2f} | "
            f"{s['shape']['spearman']:.3f} | {s['camera_effects']['shape']['spearman']:.3f} |"
            for n, s in robust.items()
        ]
        lines.append("")
    lines += heads_table(summaries)
    lines += ["## Cost", "", *_header(["model", "params (M)", "GMACs @480x640", "inference ms/frame", "measured at"])]
    lines += [
        f"| {n} | {s['params_M']:.2f} | {s['gmacs_480x640']:.2f} | {s['ms_per_frame']:.1f} | {s['ms_input']} |"
        for n, s in summaries.items()
    ]
    bins = sorted({b for s in everyone.values() for b in s["by_yaw"]}, key=lambda b: int(b.split("_")[1]))
    lines += ["", "## By head yaw: scale-invariant AbsRel (face relief, mm)", "", *_header(["model", *bins])]
    for n, s in everyone.items():
        cells = [
            f"{s['by_yaw'][b]['si_abs_rel']:.4f} ({s['by_yaw'][b]['relief_mm']:.1f})" if b in s["by_yaw"] else "-"
            for b in bins
        ]
        lines.append("| " + " | ".join([n] + cells) + " |")
    return "\n".join(lines) + "\n"


def heads_table(summaries: dict[str, dict]) -> list[str]:
    """Multi-task models' extra outputs against the rendered ones (facedepth.evaluate.HeadScores)."""
    scored = {n: s["heads"] for n, s in summaries.items() if s.get("heads") and "skipped" not in s["heads"]}
    if not scored:
        return []
    cell = lambda h, k, f: format(h[k], f) if k in h else "-"  # noqa: E731
    lines = [
        "## Extra heads: normals and matte",
        "",
        "Normals: angular error on person pixels (mean, share under 11.25/22.5/30 degrees); matte: IoU at 0.5 "
        "and SAD (sum of absolute differences / 1000) per image.",
        "",
        *_header(["model", "normal mean (deg)", "< 11.25", "< 22.5", "< 30", "matte IoU", "matte SAD"]),
    ]
    for n, h in scored.items():
        cells = [cell(h, "normal.mean_deg", ".1f")]
        cells += [cell(h, f"normal.under_{t}", ".1%") for t in ("11.25", "22.5", "30")]
        cells += [cell(h, "matte.iou", ".3f"), cell(h, "matte.sad", ".2f")]
        lines.append("| " + " | ".join([n, *cells]) + " |")
    return [*lines, ""]


def figure(prepared: Path, predictions: dict[str, dict], out: Path) -> None:
    """Rows of test images: RGB | ground truth | each model, one shared colour scale per row with a colour bar.

    Predictions are median-scaled to the ground truth (the factor is shown),
    so the panels compare shape; absolute scale is in the metric table.
    """
    test = load_split(prepared, "test")
    names = list(predictions)
    index = predictions[names[0]]["index"]
    fig, axes = plt.subplots(
        len(index), len(names) + 2, figsize=(2.4 * (len(names) + 2), 2.4 * len(index)), squeeze=False
    )
    for r, i in enumerate(index):
        gt = output_grid(np.asarray(test["depth"][i]))
        head = head_mask(output_grid(np.asarray(test["mask"][i])), gt)
        lo, hi = np.percentile(gt[head], [1, 99])
        axes[r, 0].imshow(test["rgb"][i])
        panels = [("ground truth", gt)]
        for n in names:
            d = predictions[n]["depth"][r]
            scale = np.median(gt[head]) / np.median(d[head])
            panels.append((f"{n} (x{scale:.2f})", d * scale))
        for c, (title, depth) in enumerate(panels, start=1):
            im = axes[r, c].imshow(np.where(head, depth, np.nan), cmap="turbo_r", vmin=lo, vmax=hi)
            axes[r, c].set_title(title, fontsize=9)
        fig.colorbar(im, ax=axes[r, -1], fraction=0.046, label="depth (m)")
        for ax in axes[r]:
            ax.axis("off")
    axes[0, 0].set_title("RGB")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _load(folder: Path, hint: str) -> tuple[dict, dict]:
    if not (folder / "metrics.json").is_file():
        raise FileNotFoundError(f"{folder}/metrics.json missing; run `{hint}`")
    with np.load(folder / "predictions.npz") as z:
        return json.loads((folder / "metrics.json").read_text()), {"index": z["index"], "depth": z["depth"]}


def headline(summaries: dict[str, dict], baselines: dict[str, dict]) -> dict:
    """Four numbers per model and baseline: what `dvc metrics show` and `dvc metrics diff` print."""
    return {
        name: {
            "abs_rel": round(s["metric"]["abs_rel"], 4),
            "si_abs_rel": round(s["scale_invariant"]["abs_rel"], 4),
            "relief_mm": round(s["shape"]["relief_mm"], 2),
            "spearman": round(s["shape"]["spearman"], 3),
        }
        for name, s in {**summaries, **{f"{n}_baseline": b for n, b in baselines.items()}}.items()
    }


def build_report(
    eval_root: Path,
    baselines_root: Path,
    prepared: Path,
    models: list[str],
    out_md: Path,
    out_png: Path,
    extra: dict[str, Path] | None = None,
    train_root: Path | None = None,
    out_curves: Path | None = None,
) -> str:
    """The table and figure of `models` (under eval_root) and `extra` ({name: evaluation folder}), first;
    with `out_curves`, their training curves from the dvclive logs under train_root."""
    summaries, predictions, baselines = {}, {}, {}
    for name, folder in (extra or {}).items():
        summaries[name], predictions[name] = _load(Path(folder), f"dvc repro reference/dvc.yaml ({name})")
    for name in models:
        summaries[name], predictions[name] = _load(Path(eval_root) / name, f"facedepth evaluate --model {name}")
    for name in NAMES:
        baselines[name], kept = _load(Path(baselines_root) / name, "facedepth baselines")
        if name != "constant":  # a flat panel shows nothing
            predictions[f"{name} (baseline)"] = kept
    text = markdown_table(summaries, baselines)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_md.with_name("metrics.json"), json.dumps(headline(summaries, baselines), indent=1))
    atomic_write_text(out_md, text + f"\n![qualitative comparison]({out_png.name})\n")
    figure(prepared, predictions, out_png)
    if out_curves is not None and train_root is not None:
        training_figure(Path(train_root), models, out_curves)
    return text


CURVES = (
    ("train_loss", "training loss"),
    ("val_si_abs_rel", "validation SI AbsRel"),
    ("val_abs_rel", "validation AbsRel"),
)


def training_figure(train_root: Path, models: list[str], out: Path) -> bool:
    """The models' dvclive curves overlaid, one panel per metric, as a PNG (viewable offline, unlike the HTML of
    `dvc plots show`); False (nothing written) when no model has logs."""
    import pandas as pd

    logs = {m: train_root / m / "plots" / "metrics" for m in models if (train_root / m / "plots" / "metrics").is_dir()}
    if not logs:
        return False
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4.6 * len(CURVES), 3.4))
    for ax, (metric, title) in zip(axes, CURVES):
        for model, folder in logs.items():
            if (folder / f"{metric}.tsv").is_file():
                table = pd.read_csv(folder / f"{metric}.tsv", sep="\t")
                ax.plot(table["step"], table[metric], label=model, marker="." if len(table) < 30 else None)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimiser step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return True
