"""Size and speed of every registered model, published and lite side by side.

    python benchmarks/train.py [--size 256] [--batch 4] [--out reports/complexity.json] [--models NAME ...]

Per model: parameters, GMACs and CPU inference ms/frame at 480x640, CPU
training samples/s at --size. Lite models take their options from
params.yaml's train.model_cfg. On a CUDA machine it also measures training
samples/s at 480x640 with AMP (batch 16) and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import yaml

from facedepth.complexity import count_macs, count_params
from facedepth.evaluate import inference_ms
from facedepth.losses import HybridLoss
from facedepth.models import MODELS, PUBLISHED
from facedepth.train import TrainConfig
from fdcore.files import atomic_write_text


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
    ap.add_argument("--models", nargs="+", default=list(MODELS), help="only these; other rows of --out are kept")
    args = ap.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    print(
        f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}",
        flush=True,
    )
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and set(args.models) != set(MODELS) else {}
    for name in args.models:
        model = TrainConfig.from_params(params, name).build_model()
        row = {
            "published": name in PUBLISHED,
            "params_M": count_params(model) / 1e6,
            "gmacs_480x640": count_macs(model, 480, 640) / 1e9,
            "cpu_ms_480x640": inference_ms(model.eval(), 480, 640, torch.device("cpu"), repeats=3),
        }
        row[f"cpu_train_samples_s_{args.size}"] = samples_per_second(
            model, torch.device("cpu"), args.batch, args.size, args.size, amp=False
        )
        if torch.cuda.is_available():
            cuda = torch.device("cuda")
            torch.cuda.reset_peak_memory_stats()
            row["gpu_amp_train_samples_s_480x640"] = samples_per_second(model, cuda, 16, 480, 640, amp=True)
            row["gpu_peak_gib_480x640_b16"] = torch.cuda.max_memory_allocated() / 2**30
        results[name] = row
        print(name, "  ".join(f"{k}={float(v):.2f}" for k, v in row.items()), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({m: results[m] for m in MODELS if m in results}, indent=1))


if __name__ == "__main__":
    main()
