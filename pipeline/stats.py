"""Dataset statistics: pose, depth, skin tone and lighting distributions and a sample grid."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from facedepth.splits import load_split  # noqa: E402
from fdcore.schema import SPLITS  # noqa: E402
from generation import human  # noqa: E402
from pipeline.colour import colourise  # noqa: E402


def dataset_figure(prepared: Path, out_png: Path, out_json: Path, rejected: pd.DataFrame) -> dict:
    splits = {s: load_split(prepared, s) for s in SPLITS}
    table = pd.concat([d["manifest"] for d in splits.values()], ignore_index=True)
    head_depth = np.concatenate(
        [d["depth"][np.isin(d["mask"], human.HEAD_LABELS)] for d in splits.values() if len(d["manifest"])]
    )
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, key in zip(axes[0], ("yaw", "pitch", "roll")):
        ax.hist([table.loc[table.split == s, key] for s in SPLITS], bins=24, stacked=True, label=list(SPLITS))
        ax.set_title(f"head {key} (deg)")
    axes[0, 0].legend()
    axes[0, 3].hist(head_depth, bins=40, color="tab:purple")
    axes[0, 3].set_title("head depth (m)")
    axes[1, 0].hist(table.skin_tone, bins=12, color="sienna")
    axes[1, 0].set_title("skin tone (0 light .. 1 dark)")
    axes[1, 1].scatter(table.kelvin, table.environment, s=8)
    axes[1, 1].set_title("key light K vs environment")
    table.expression.value_counts().plot.bar(ax=axes[1, 2], title="expressions")
    train = splits["train"]
    picks = np.linspace(0, len(train["manifest"]) - 1, min(4, len(train["manifest"]))).astype(int)
    tiles = [
        np.concatenate([train["rgb"][i], colourise(train["depth"][i], train["mask"][i] != human.BACKGROUND)], 1)
        for i in picks
    ]
    axes[1, 3].imshow(np.concatenate(tiles, 0))
    axes[1, 3].set_title("train samples: RGB | depth")
    axes[1, 3].axis("off")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    summary = {
        "frames": {s: int((table.split == s).sum()) for s in SPLITS},
        "identities": {s: int(table.loc[table.split == s, "identity_id"].nunique()) for s in SPLITS},
        "rejected": int(len(rejected)),
        "head_depth_m": {
            "min": float(head_depth.min()),
            "median": float(np.median(head_depth)),
            "max": float(head_depth.max()),
        },
    }
    out_json.write_text(json.dumps(summary, indent=1))
    return summary
