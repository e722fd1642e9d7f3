"""Short training sweeps on prepared data: the LR and loss choices of the default profile.

    python benchmarks/sweep.py --prepared data/prepared lr            # 150 steps at lr 3e-4, 1e-3, 3e-3
    python benchmarks/sweep.py --prepared data/prepared loss          # 500 steps: paper loss vs relief vs gain
    python benchmarks/sweep.py --prepared data/prepared depth         # full schedule: log/inverse x canonical focal
    python benchmarks/sweep.py --prepared data/prepared robustness    # every default model without sim-to-real

Each variant trains facedepth_lite (or the variant's `model`) from
params.yaml's `train` section with the variant's overrides, evaluates on the
test split and prints one row: train seconds, metric and scale-invariant
AbsRel, face relief (mm), Spearman, and SI AbsRel and relief on the same
test images through the camera effects (facedepth.augment.CAMERA_EFFECTS).
Compare with `facedepth baselines` on the same prepared data.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
import yaml

from facedepth.evaluate import evaluate
from facedepth.train import TrainConfig, train

SWEEPS = {
    "lr": {f"lr={lr:g}": {"lr": lr, "steps": 150, "warmup_steps": 20, "val_every": 150} for lr in (3e-4, 1e-3, 3e-3)},
    "loss": {
        "paper": {"lr": 1e-3, "steps": 500, "loss": {"w_l1": 0.22, "w_relief": 0.0, "gain": 1.0}},
        "relief": {"lr": 1e-3, "steps": 500, "loss": {"w_l1": 0.05, "w_relief": 0.5, "gain": 1.0}},
        "gain300": {"lr": 1e-3, "steps": 500, "loss": {"w_l1": 0.02, "w_relief": 0.2, "gain": 300.0}},
    },
    "depth": {
        "log, canonical focal 1.0": {"depth_norm": "log", "canonical_focal": 1.0},
        "log, metric depth as rendered": {"depth_norm": "log", "canonical_focal": 0.0},
        "inverse, canonical focal 1.0": {"depth_norm": "inverse", "canonical_focal": 1.0},
    },
    # the augmentation of earlier versions: flip and colour jitter only
    "robustness": {
        f"{m}, no sim-to-real": {
            "model": m,
            "augment": {"flip": 0.5, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2},
        }
        for m in ("facedepth_lite", "unet_simple_lite", "bts_lite", "densedepth_lite")
    },
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", choices=sorted(SWEEPS))
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    print(
        f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}"
    )
    print(
        "| variant | train s | AbsRel (m) | SI AbsRel | relief (mm) | Spearman "
        "| SI AbsRel, effects | relief, effects |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name, over in SWEEPS[args.sweep].items():
        data = yaml.safe_load(args.params.read_text())
        over = dict(over)
        model = over.pop("model", "facedepth_lite")
        data["train"]["loss"].update(over.pop("loss", {}))
        data["train"].update(over, val_every=over.get("val_every", 100))
        cfg = TrainConfig.from_params(data, model)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(cfg, args.prepared, Path(tmp), Path(tmp) / "live")
            seconds = time.perf_counter() - start
            s, _, _ = evaluate(Path(tmp) / "best.pt", args.prepared)
        fx = s["camera_effects"]
        print(
            f"| {name} | {seconds:.0f} | {s['metric']['abs_rel']:.4f} | {s['scale_invariant']['abs_rel']:.4f} | "
            f"{s['shape']['relief_mm']:.2f} | {s['shape']['spearman']:.3f} | {fx['scale_invariant']['abs_rel']:.4f} | "
            f"{fx['shape']['relief_mm']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
