"""Training throughput per model: forward+backward samples/s, parameters and GMACs at 480x640.

    python benchmarks/train.py [--size 256] [--batch 4] [--out reports/complexity.json]

On a CUDA machine it also measures samples/s at 480x640 with AMP.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from facedepth.complexity import count_macs, count_params
from facedepth.losses import HybridLoss
from facedepth.train import TrainConfig


def samples_per_second(model, device, batch: int, h: int, w: int, amp: bool, seconds: float = 5.0) -> float:
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    loss_fn = HybridLoss()
    x = torch.rand(batch, 3, h, w, device=device)
    y = torch.rand(batch, 1, h // 2, w // 2, device=device)
    m = torch.ones_like(y, dtype=torch.bool)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    def step():
        opt.zero_grad()
        with torch.autocast(device.type, enabled=amp):
            pred = model(x)
        scaler.scale(loss_fn(pred.float(), y, m)).backward()
        scaler.step(opt)
        scaler.update()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        step()
        n += batch
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default="reports/complexity.json")
    args = ap.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    results = {}
    for name in params["train"]["models"]:
        model = TrainConfig.from_params(params, name).build_model()
        row = {"params_M": count_params(model) / 1e6, "gmacs_480x640": count_macs(model, 480, 640) / 1e9}
        row[f"cpu_train_samples_s_{args.size}"] = samples_per_second(model, torch.device("cpu"), args.batch,
                                                                      args.size, args.size, amp=False)
        if torch.cuda.is_available():
            row["gpu_amp_train_samples_s_480x640"] = samples_per_second(model, torch.device("cuda"), 16, 480, 640, amp=True)
        results[name] = row
        print(name, "  ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
