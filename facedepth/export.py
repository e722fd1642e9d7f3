"""ONNX export of a checkpoint, checked against PyTorch in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facedepth.checkpoint import load_checkpoint
from fdcore.files import atomic_path


def export_onnx(checkpoint: Path, out: Path, opset: int = 17) -> float:
    """Write `out` for the checkpoint's training input size; returns max |onnx - torch| on a random image."""
    import onnxruntime as ort

    model, _, state = load_checkpoint(checkpoint)
    h, w = state.get("input_size", (128, 128))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.onnx.export(
            model, (x,), str(tmp), input_names=["image"], output_names=["depth"], opset_version=opset, dynamo=False
        )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    return float(np.abs(got - expected).max())
