"""Extra per-pixel outputs beside depth: the multi-task option `heads` of the lite networks.

One encoder and decoder, one small convolution per task on the decoder's last features, as DAViD (Saleh et al.
2025) trains depth, surface normals and a soft foreground matte together. `model(x)` stays depth only, so
inference, ONNX export and checkpoints without heads are unchanged; `model(x, every=True)` returns every task.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# task -> (channels, activation): unit camera-frame normals (OpenCV axes), person coverage 0..1
TASKS: dict[str, tuple[int, Callable[[torch.Tensor], torch.Tensor]]] = {
    "normal": (3, lambda t: F.normalize(t, dim=1, eps=1e-6)),
    "matte": (1, torch.sigmoid),
}


def checked(heads) -> tuple[str, ...]:
    """The heads option as a tuple of known task names, in the registry's order."""
    heads = tuple(heads or ())
    unknown = sorted(set(heads) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown head(s) {unknown}; choose from {list(TASKS)} (depth is always predicted)")
    return tuple(t for t in TASKS if t in heads)


class TaskHeads(nn.ModuleDict):
    """A 3x3 convolution per extra task on shared features; empty (no weights) when no heads are asked."""

    def __init__(self, channels: int, heads=()):
        super().__init__({t: nn.Conv2d(channels, TASKS[t][0], 3, padding=1) for t in checked(heads)})

    def outputs(self, features: torch.Tensor, resize: Callable[[torch.Tensor], torch.Tensor]) -> dict:
        """Each task's map at the depth output's resolution (`resize` is the network's own last step)."""
        return {t: TASKS[t][1](resize(conv(features))) for t, conv in self.items()}


def tasks_of(model: nn.Module) -> tuple[str, ...]:
    """The extra tasks a network predicts (none for the published architectures and BTS)."""
    heads = getattr(model, "heads", None)
    return tuple(heads) if isinstance(heads, TaskHeads) else ()
