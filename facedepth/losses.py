"""The paper's hybrid loss, computed only on valid (person) pixels.

    L = w_ssim * (1 - SSIM) / 2 + w_l1 * L1 + w_grad * |grad diff| + w_normal * (1 - cos(normals))

with default weights 0.28 / 0.22 / 0.30 / 0.20. Inputs are (B, 1, H, W)
normalised depth and a boolean validity mask of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def l1(pred, target, mask):
    return _masked_mean((pred - target).abs(), mask)


def ssim_map(pred, target, window: int = 7, c1: float = 0.01**2, c2: float = 0.03**2):
    """Local SSIM with a box window (values in [-1, 1]); depth is in [0, 1] so L = 1."""
    pad = window // 2
    pool = lambda t: F.avg_pool2d(F.pad(t, (pad,) * 4, mode="replicate"), window, 1)  # noqa: E731
    mu_x, mu_y = pool(pred), pool(target)
    sxx = pool(pred * pred) - mu_x**2
    syy = pool(target * target) - mu_y**2
    sxy = pool(pred * target) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim_term(pred, target, mask):
    """Masked DSSIM; invalid predictions are replaced by the target so windows never see them."""
    pred = torch.where(mask, pred, target)
    return _masked_mean((1 - ssim_map(pred, target)) / 2, mask)


def _grads(d):
    return d[..., :, 1:] - d[..., :, :-1], d[..., 1:, :] - d[..., :-1, :]


def gradient(pred, target, mask):
    """L1 between image-space depth gradients, where both neighbours are valid."""
    (pdx, pdy), (tdx, tdy) = _grads(pred), _grads(target)
    mx = mask[..., :, 1:] & mask[..., :, :-1]
    my = mask[..., 1:, :] & mask[..., :-1, :]
    m = mx.to(pred.dtype).sum() + my.to(pred.dtype).sum()
    total = ((pdx - tdx).abs() * mx).sum() + ((pdy - tdy).abs() * my).sum()
    return total / m.clamp_min(1.0)


def normals(d):
    """Per-pixel surface normals (-dz/dx, -dz/dy, 1), normalised, on the (H-1, W-1) grid."""
    dx = d[..., :-1, 1:] - d[..., :-1, :-1]
    dy = d[..., 1:, :-1] - d[..., :-1, :-1]
    n = torch.cat([-dx, -dy, torch.ones_like(dx)], dim=1)
    return n / n.norm(dim=1, keepdim=True)


def normal(pred, target, mask):
    m = mask[..., :-1, :-1] & mask[..., :-1, 1:] & mask[..., 1:, :-1]
    cos = (normals(pred) * normals(target)).sum(1, keepdim=True)
    return _masked_mean(1 - cos, m)


@dataclass(frozen=True)
class HybridLoss:
    w_ssim: float = 0.28
    w_l1: float = 0.22
    w_grad: float = 0.30
    w_normal: float = 0.20

    def terms(self, pred, target, mask) -> dict[str, torch.Tensor]:
        mask = mask.bool()
        return {"ssim": ssim_term(pred, target, mask), "l1": l1(pred, target, mask),
                "grad": gradient(pred, target, mask), "normal": normal(pred, target, mask)}

    def __call__(self, pred, target, mask) -> torch.Tensor:
        t = self.terms(pred, target, mask)
        return self.w_ssim * t["ssim"] + self.w_l1 * t["l1"] + self.w_grad * t["grad"] + self.w_normal * t["normal"]
