"""Will a training batch fit? Counted before the run starts, so a batch the machine cannot hold fails in
seconds with the numbers and the fix, not minutes later as an out-of-memory kill.

Need: every layer's output for one image (hooks on a no-grad forward pass) times the batch, plus weights,
gradients and Adam's moments. Free: MemAvailable capped by a
cgroup (container) limit on CPU, the device's free memory on CUDA. benchmarks/train_memory.py compares the
count with measured peaks.
"""

from __future__ import annotations

from pathlib import Path

import torch

GB = 2**30


def available_bytes(device: torch.device) -> int | None:
    """Memory a training run can still take on `device`; None where it cannot be known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        free = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    try:  # a container's limit, which MemAvailable (the host's) does not show
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def bytes_per_image(model: torch.nn.Module, hw: tuple[int, int]) -> int:
    """Activation memory one training image costs: the outputs of every leaf layer (about what autograd keeps
    for the backward pass, which dominates the peak), counted by hooks on one forward pass without gradients
    (the model is not changed). Per image within 10% of the measured peak's growth (benchmarks/train_memory.py)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else [output]
        total += sum(o.numel() * o.element_size() for o in outputs if isinstance(o, torch.Tensor))

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, *hw, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total


def state_bytes(model: torch.nn.Module) -> int:
    """Weights, their gradients and Adam's two moments."""
    return 4 * sum(p.numel() * p.element_size() for p in model.parameters())


def check_batch_fits(
    model, hw: tuple[int, int], batch: int, device: torch.device, available: int | None = None
) -> None:
    """Raise MemoryError naming the numbers and the fix when `batch` images of `hw` will not fit."""
    available = available_bytes(device) if available is None else available
    if available is None:
        return
    per, fixed = bytes_per_image(model, hw), state_bytes(model)
    if batch * per + fixed <= 0.9 * available:
        return
    fit = max(int((0.9 * available - fixed) // max(per, 1)), 0)
    raise MemoryError(
        f"train.batch_size {batch} at {hw[1]}x{hw[0]} needs about {(batch * per + fixed) / GB:.1f} GB on "
        f"{device.type} ({per / GB:.2f} GB per image, counted layer by layer) but {available / GB:.1f} GB is "
        f"free; lower train.batch_size ({'at most ' + str(fit) if fit else 'even 1 does not fit'}) or "
        f"prepare.resolution, or train on a GPU"
    )
