"""Model size and cost: parameter count and multiply-accumulates for one forward pass."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: torch.nn.Module, height: int = 480, width: int = 640) -> int:
    """MACs of one (1, 3, H, W) forward pass (torch's FLOP counter counts 2 FLOPs per MAC)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, height, width))
    model.train(was_training)
    return counter.get_total_flops() // 2
