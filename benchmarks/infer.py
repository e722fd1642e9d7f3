"""Inference latency per model: ms/frame at 256x256 and 480x640, PyTorch and onnxruntime (CPU), GPU when present.

    python benchmarks/infer.py [--params params.yaml]

Uses freshly initialised models (latency does not depend on the weights).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import yaml

from facedepth.evaluate import inference_ms
from facedepth.train import TrainConfig


def onnx_ms(model, h: int, w: int, repeats: int = 10) -> float:
    x = torch.rand(1, 3, h, w)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        torch.onnx.export(
            model, (x,), str(path), input_names=["image"], output_names=["depth"], opset_version=17, dynamo=False
        )
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}
    session.run(None, feed)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    cpu = torch.device("cpu")
    for name in params["train"]["models"]:
        model = TrainConfig.from_params(params, name).build_model().eval()
        cells = []
        for h, w in ((256, 256), (480, 640)):
            cells.append(
                f"{w}x{h}: torch {inference_ms(model, h, w, cpu):.1f} ms, onnxruntime {onnx_ms(model, h, w):.1f} ms"
            )
            if torch.cuda.is_available():
                cells.append(f"cuda {inference_ms(model.cuda(), h, w, torch.device('cuda')):.2f} ms")
                model.cpu()
        print(f"{name}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
