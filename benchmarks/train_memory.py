"""Memory of one training step at the paper profile's size: measured peak against facedepth.memory's count.

    python benchmarks/train_memory.py [--model facedepth] [--size 640x480] [--batches 1 2 4]

Each batch runs in a fresh process (forward, hybrid loss, backward, Adam step, weights random) and reports
its peak resident size above the process before the step, beside the count `facedepth train` checks
before it starts. Results: docs/train_memory.txt.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from fdcore.machine import cpu_name

STEP = """
import json, resource, sys, torch
from facedepth.losses import HybridLoss
from facedepth.memory import bytes_per_image, state_bytes
from facedepth.models import build
model_name, w, h, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
model = build(model_name).train()
opt = torch.optim.Adam(model.parameters(), 1e-4)
loss_fn = HybridLoss()
x = torch.rand(batch, 3, h, w)
per, fixed = bytes_per_image(model, (h, w)), state_bytes(model)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
pred = model(x)
y = torch.rand_like(pred)
m = torch.ones_like(pred, dtype=torch.bool)
loss_fn(pred, y, m, m).backward()
opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"measured": peak - base, "counted": batch * per + fixed}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="facedepth")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print(f"CPU: {cpu_name()}; {args.model} at {w}x{h}, one training step (random weights), fresh process per batch")
    print("| batch | measured peak (GB) | counted by facedepth.memory (GB) |")
    print("|---|---|---|")
    rows = []
    for b in args.batches:
        out = subprocess.run(
            [sys.executable, "-c", STEP, args.model, str(w), str(h), str(b)], capture_output=True, text=True, check=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rows.append((b, r))
        print(f"| {b} | {r['measured'] / 2**30:.2f} | {r['counted'] / 2**30:.2f} |", flush=True)
    if len(rows) > 1:
        (b0, r0), (b1, r1) = rows[0], rows[-1]
        slope = (r1["measured"] - r0["measured"]) / (b1 - b0)
        print(
            f"measured per image: {slope / 2**30:.2f} GB; batch 16 would need about "
            f"{(r0['measured'] + slope * (16 - b0)) / 2**30:.1f} GB"
        )
    _ = resource  # the step itself reads ru_maxrss


if __name__ == "__main__":
    main()
