"""ONNX export of a checkpoint, checked against PyTorch in onnxruntime, with its contract in the file.

A depth network is only usable from ONNX if the caller knows how to feed it and read it: the export
writes the input size, normalisation, crop framing and depth encoding into the model's metadata
(`contract()`), and the batch axis is dynamic. docs/inference.md shows an onnxruntime example.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from facedepth.checkpoint import input_hw as checkpoint_input_hw
from facedepth.checkpoint import load_checkpoint
from facedepth.data import MEAN, STD
from fdcore.files import atomic_path


def contract(cfg, input_hw) -> dict[str, str]:
    """What a caller of the ONNX file needs, as metadata strings."""
    from facedepth.locate import DOWN, FRAME

    return {
        "facedepth.input": json.dumps(
            {
                "size_hw": list(input_hw),
                "layout": "NCHW",
                "colour": "RGB",
                "scale": "0..1 (uint8 / 255)",
                "mean": MEAN.tolist(),
                "std": STD.tolist(),
            }
        ),
        "facedepth.crop": json.dumps(
            {
                "head_sizes_wide": FRAME,
                "down_head_sizes": DOWN,
                "note": "head size = sqrt(head pixels) of facedepth.locate's head map; the crop is centred that "
                "far below the head's centroid, turned upright by its roll, aspect of size_hw; "
                "the whole photo letterboxed if nobody is found",
            }
        ),
        "facedepth.output": json.dumps(
            {
                "size_hw": [input_hw[0] // 2, input_hw[1] // 2],
                "encoding": cfg.depth_norm,
                "near_m": cfg.near_m,
                "far_m": cfg.far_m,
                "decode": "log: near*(far/near)**n; inverse: far/(1+n*(far/near-1))",
            }
        ),
        "facedepth.focal": json.dumps(
            {
                "canonical_focal": cfg.canonical_focal,
                "metres": "decoded depth * (fx_px / crop_width_px) / canonical_focal "
                "(fx of the photo, crop width in photo pixels); 1 if canonical_focal is 0",
            }
        ),
        "facedepth.model": cfg.model,
    }


def export_model(model: torch.nn.Module, input_hw, out: Path, metadata: dict[str, str], opset: int = 17) -> float:
    """Write `out` with a dynamic batch axis and `metadata`; returns max |onnx - torch| on two random images."""
    import onnx
    import onnxruntime as ort

    h, w = input_hw
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.onnx.export(
            model,
            (x[:1],),
            str(tmp),
            input_names=["image"],
            output_names=["depth"],
            dynamic_axes={"image": {0: "batch"}, "depth": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(tmp))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    return float(np.abs(got - expected).max())


def export_onnx(checkpoint: Path, out: Path, opset: int = 17) -> float:
    """Write `out` for the checkpoint's training input size; returns max |onnx - torch| on random images."""
    model, cfg, state = load_checkpoint(checkpoint)
    input_hw = checkpoint_input_hw(state)
    return export_model(model, input_hw, out, contract(cfg, input_hw), opset)
