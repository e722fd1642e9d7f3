"""Prepare throughput (frames/s) and random-batch read speed from the prepared arrays.

python benchmarks/prepare.py [--renders data/renders] [--resolution 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from facedepth.splits import load_split
from fdcore.schema import PrepareParams
from pipeline.prepare import prepare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", default="data/renders")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    n = len(list(Path(args.renders).glob("shard_*/f*.json")))
    if not n:
        raise SystemExit(f"{args.renders}: no renders; run `dvc repro render` first")
    p = PrepareParams(
        resolution=(args.resolution, args.resolution),
        splits={"train": 1.0, "val": 0.0, "test": 0.0},
        min_head_pixels=50,
        seed=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prepared"
        t = time.perf_counter()
        table, _ = prepare(Path(args.renders), out, p)
        dt = time.perf_counter() - t
        print(f"prepare: {n / dt:.1f} frames/s ({n} frames -> {args.resolution}x{args.resolution})")
        data = load_split(out, "train")
        rng = np.random.default_rng(0)
        count, t = 0, time.perf_counter()
        while time.perf_counter() - t < 3.0:
            idx = np.sort(rng.choice(len(table), size=min(args.batch, len(table)), replace=False))
            batch = (
                np.ascontiguousarray(data["rgb"][idx]),
                np.ascontiguousarray(data["depth"][idx]),
                np.ascontiguousarray(data["mask"][idx]),
            )
            count += len(batch[0])
        rate = count / (time.perf_counter() - t)
        print(f"random batch read ({args.batch}/batch, memory-mapped, rgb+depth+mask): {rate:.0f} samples/s")


if __name__ == "__main__":
    main()
