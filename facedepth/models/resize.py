"""The models' last step to the half-resolution output contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_half(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Area-resize a map to (h // 2, w // 2): exactly 2x2 average pooling when it is a full-size map of even
    size (which ONNX exports; its adaptive pooling, behind mode="area", it does not), area resampling otherwise."""
    if y.shape[-2:] == (h // 2, w // 2):
        return y
    if y.shape[-2:] == (h, w) and h % 2 == 0 and w % 2 == 0:
        return F.avg_pool2d(y, 2)
    return F.interpolate(y, size=(h // 2, w // 2), mode="area")
