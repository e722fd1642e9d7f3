"""Learning curve: FaceDepth trained on growing identity-disjoint subsets of the train split.

Each size trains the same schedule (params.yaml `train`) on the first
identities of a seeded shuffle, so every smaller set is inside the larger
ones, and is scored on the same test split as the baselines. The figure and
table show what more rendered data buys.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from facedepth.splits import load_split  # noqa: E402
from fdcore.files import atomic_write_text  # noqa: E402

PANELS = (
    ("scale_invariant", "abs_rel", "SI AbsRel (head)"),
    ("shape", "relief_mm", "face relief error (mm)"),
    ("shape", "spearman", "Spearman (head)"),
)


def subsets(manifest, fractions: list[float], seed: int) -> list[list[int]]:
    """Rows of the train split for each fraction of its identities (nested, at least one identity each)."""
    ids = np.random.default_rng([seed, 11]).permutation(sorted(manifest["identity_id"].unique()))
    out = []
    for f in fractions:
        keep = set(ids[: max(1, int(round(f * len(ids))))].tolist())
        out.append(manifest.index[manifest["identity_id"].isin(keep)].tolist())
    return out


def run(cfg, prepared: Path, out: Path, fractions: list[float], baselines: dict[str, dict]) -> list[dict]:
    from facedepth.evaluate import evaluate
    from facedepth.train import train

    manifest = load_split(prepared, "train")["manifest"]
    results = []
    for f, rows in zip(fractions, subsets(manifest, fractions, cfg.seed)):
        folder = out / f"frames_{len(rows)}"
        train(cfg, prepared, folder / "model", folder / "live", train_rows=rows)
        summary, _, _ = evaluate(folder / "model" / "best.pt", prepared)
        results.append(
            {
                "fraction": f,
                "frames": len(rows),
                "identities": int(manifest.loc[rows, "identity_id"].nunique()),
                "steps": cfg.steps,
                **{f"{kind}.{key}": summary[kind][key] for kind, key, _ in PANELS},
            }
        )
        atomic_write_text(
            out / "results.json", json.dumps({"model": cfg.model, "results": results, "baselines": baselines}, indent=1)
        )
    write_report(results, baselines, out)
    return results


def write_report(results: list[dict], baselines: dict[str, dict], out: Path) -> None:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    frames = [r["frames"] for r in results]
    for ax, (kind, key, title) in zip(axes, PANELS):
        ax.plot(frames, [r[f"{kind}.{key}"] for r in results], "o-", color="k", label="facedepth")
        for (name, b), style in zip(baselines.items(), (":", "--", "-.")):
            ax.axhline(b[kind][key], ls=style, color="grey", label=f"{name} (baseline)")
        ax.set_xscale("log")
        ax.set_xticks(frames, [str(f) for f in frames])
        ax.minorticks_off()
        ax.set_xlabel("training frames")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=90)
    plt.close(fig)
    lines = [
        "| training frames | identities | steps | SI AbsRel | relief (mm) | Spearman |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['frames']} | {r['identities']} | {r['steps']} | {r['scale_invariant.abs_rel']:.4f} | "
        f"{r['shape.relief_mm']:.2f} | {r['shape.spearman']:.3f} |"
        for r in results
    ]
    lines += [
        f"| {n} (baseline) | - | - | {b['scale_invariant']['abs_rel']:.4f} | {b['shape']['relief_mm']:.2f} | "
        f"{b['shape']['spearman']:.3f} |"
        for n, b in baselines.items()
    ]
    (out / "curve.md").write_text("\n".join(lines) + "\n\n![learning curve](curve.png)\n")
