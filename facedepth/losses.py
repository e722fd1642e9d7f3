"""The paper's hybrid loss, computed only on valid (person) pixels.

    L = w_ssim * (1 - SSIM) / 2 + w_l1 * L1 + w_grad * |grad diff| + w_normal * (1 - cos(normals))
        + w_relief * L1 after removing each image's mean error + w_face * the same on face skin alone
        + w_msgrad * MiDaS multi-scale gradient matching + w_ssi * MiDaS scale-and-shift-invariant L1
        + w_head_normal * (1 - cos) of a normal head + w_head_matte * L1 of a matte head (multi-task models)

with the paper's weights 0.28 / 0.22 / 0.30 / 0.20 / 0 / 0. Inputs are (B, 1, H, W)
normalised (log) depth and a boolean validity mask of the same shape. The
relief term is L1 in log depth up to one scale factor per image: it asks for
the face's shape without asking for its absolute distance, which a single
image barely shows (focal length and distance co-vary to frame the head).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from fdcore.schema import LossParams


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def l1(pred, target, mask):
    return _masked_mean((pred - target).abs(), mask)


def relief(pred, target, mask):
    """L1 of the error left after subtracting its own masked mean per image (scale-free in log depth)."""
    m = mask.to(pred.dtype)
    err = pred - target
    offset = (err * m).sum((1, 2, 3), keepdim=True) / m.sum((1, 2, 3), keepdim=True).clamp_min(1.0)
    return _masked_mean((err - offset).abs(), mask)


def _aligned_error(pred, target, mask, scale: bool):
    """pred - target after the per-image least-squares shift (and scale, when asked) over the mask."""
    m = mask.to(pred.dtype)
    n = m.sum((1, 2, 3), keepdim=True).clamp_min(1.0)
    if not scale:
        err = pred - target
        return err - (err * m).sum((1, 2, 3), keepdim=True) / n
    mp, mt = (pred * m).sum((1, 2, 3), keepdim=True) / n, (target * m).sum((1, 2, 3), keepdim=True) / n
    cov = ((pred - mp) * (target - mt) * m).sum((1, 2, 3), keepdim=True)
    var = ((pred - mp) ** 2 * m).sum((1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (cov / var) * (pred - mp) + mt - target


def ssi(pred, target, mask):
    """MiDaS's scale-and-shift-invariant L1: blind to the relief's amplitude as well as its offset."""
    return _masked_mean(_aligned_error(pred, target, mask, scale=True).abs(), mask)


def multiscale_gradient(pred, target, mask, scales: int = 4):
    """MiDaS's gradient matching: |d/dx| + |d/dy| of the shift-aligned error at 1, 1/2, 1/4, 1/8 resolution,
    where both pixels of a difference are valid; it rewards sharp, correctly placed edges (nose, sockets)."""
    err = _aligned_error(pred, target, mask, scale=False)
    m = mask.to(pred.dtype)
    total = pred.new_zeros(())
    for k in range(scales):
        e, v = err[..., :: 2**k, :: 2**k], m[..., :: 2**k, :: 2**k]
        gx, vx = (e[..., :, 1:] - e[..., :, :-1]).abs(), v[..., :, 1:] * v[..., :, :-1]
        gy, vy = (e[..., 1:, :] - e[..., :-1, :]).abs(), v[..., 1:, :] * v[..., :-1, :]
        total = total + ((gx * vx).sum() + (gy * vy).sum()) / (vx.sum() + vy.sum()).clamp_min(1.0)
    return total / scales


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


PAPER_LOSS = LossParams(w_ssim=0.28, w_l1=0.22, w_grad=0.30, w_normal=0.20, w_relief=0.0, w_face=0.0, gain=1.0)


class HybridLoss:
    """The weighted terms; weights default to the paper's, the profile's come from params.yaml (`train.loss`)."""

    def __init__(self, weights: LossParams = PAPER_LOSS, **override: float):
        self.weights = dataclasses.replace(weights, **override)
        self.gain = self.weights.gain

    def terms(self, pred, target, mask, face=None) -> dict[str, torch.Tensor]:
        """Each term on depth times `gain`.

        A face's relief spans about 0.01 of the [0, 1] log range and changes
        by ~0.002 per pixel, so at gain 1 SSIM's constants swamp its variance
        and every normal is (0, 0, 1): both terms are blind to face shape.
        A gain near focal length (px) x log(far/near) makes normals geometric.
        """
        mask = mask.bool()
        pred, target = pred * self.gain, target * self.gain
        face = mask if face is None else face.bool() & mask
        return {
            "ssim": ssim_term(pred, target, mask),
            "l1": l1(pred, target, mask),
            "grad": gradient(pred, target, mask),
            "normal": normal(pred, target, mask),
            "relief": relief(pred, target, mask),
            "face": relief(pred, target, face),
            "msgrad": multiscale_gradient(pred, target, mask),
            "ssi": ssi(pred, target, mask),
        }

    def __call__(self, pred, target, mask, face=None, extras: dict | None = None) -> torch.Tensor:
        """The weighted sum; `pred` is depth, or a multi-task model's dict with `extras` its targets."""
        heads = {}
        if isinstance(pred, dict):
            heads = head_terms(pred, extras or {}, mask)
            pred = pred["depth"]
        t = self.terms(pred, target, mask, face)
        return sum(getattr(self.weights, f"w_{k}") * v for k, v in t.items()) + sum(
            getattr(self.weights, f"w_head_{k}") * v for k, v in heads.items()
        )


def head_terms(outputs: dict, targets: dict, mask) -> dict[str, torch.Tensor]:
    """Losses of a multi-task model's extra heads (facedepth.models.heads), where the target is known:
    normal, 1 - cos on person pixels that have a rendered normal; matte, L1 on every pixel with a coverage."""
    terms = {}
    if "normal" in outputs:
        target = targets["normal"]
        known = mask.bool() & torch.isfinite(target).all(1, keepdim=True)
        cos = (outputs["normal"] * torch.nan_to_num(target)).sum(1, keepdim=True)
        terms["normal"] = _masked_mean(1 - cos, known)
    if "matte" in outputs:
        target = targets["matte"]
        known = torch.isfinite(target)
        terms["matte"] = _masked_mean((outputs["matte"] - torch.nan_to_num(target)).abs(), known)
    return terms
