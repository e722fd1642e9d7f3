"""BTS (Lee et al. 2019): dense ASPP features and local planar guidance (LPG).

The published decoder over five encoder maps (strides 2..32): up-convolutions
with skips to 1/8, a dense ASPP (dilations 3..24, each seeing all earlier
outputs), then at 1/8, 1/4 and 1/2 a 1x1 reduction to per-cell plane
coefficients (unit normal from two angles, plus a distance) that an LPG layer
expands to full resolution by intersecting each pixel's ray with its cell's
plane. The three guided depths, a reduced full-resolution map and the decoder
features give the final depth, a sigmoid (normalised depth). Written from the
paper's description; the published model is DenseNet-161 with 512 features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facedepth.models.resize import to_half

from facedepth.models.encoders import channels


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=0.01, eps=1.1e-5)


def _conv_elu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.ELU())


class UpConv(nn.Module):
    """Nearest upsampling to a given size, 3x3 conv, ELU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv_elu(cin, cout)

    def forward(self, x: torch.Tensor, size) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=tuple(size), mode="nearest"))


class AtrousConv(nn.Sequential):
    """[BN] ReLU 1x1 conv to 2c, BN, ReLU, dilated 3x3 conv to c."""

    def __init__(self, cin: int, c: int, dilation: int, bn_first: bool = True):
        layers = [_bn(cin)] if bn_first else []
        layers += [nn.ReLU(), nn.Conv2d(cin, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c, momentum=0.01), nn.ReLU(),
                   nn.Conv2d(2 * c, c, 3, padding=dilation, dilation=dilation, bias=False)]
        super().__init__(*layers)


def reduction(cin: int, cout: int, final: bool = False) -> nn.Sequential:
    """1x1 convs (ELU) halving from `cout` while it is >= 8, then to 3 plane coefficients (or 1 map if `final`)."""
    layers = []
    while cout >= 8:
        layers += [nn.Conv2d(cin, cout, 1, bias=False), nn.ELU()]
        cin, cout = cout, cout // 2
    if cout < 4:
        raise ValueError("bts: num_features too small for the reduction layers; use at least 128")
    layers.append(nn.Conv2d(cin, 1 if final else 3, 1, bias=False))
    return nn.Sequential(*layers)


def planar_depth(coeffs: torch.Tensor, ratio: int) -> torch.Tensor:
    """(B, 3, h, w) raw plane coefficients -> (B, 1, h*ratio, w*ratio) depth in [0, 1] by local planar guidance."""
    theta = torch.sigmoid(coeffs[:, 0]) * math.pi / 3  # normals within 60 deg of the viewing axis
    phi = torch.sigmoid(coeffs[:, 1]) * 2 * math.pi
    dist = torch.sigmoid(coeffs[:, 2])
    n1, n2, n3 = torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)
    up = lambda t: t.repeat_interleave(ratio, -2).repeat_interleave(ratio, -1)  # noqa: E731
    h, w = coeffs.shape[-2] * ratio, coeffs.shape[-1] * ratio
    local = (torch.arange(ratio, device=coeffs.device, dtype=coeffs.dtype) - (ratio - 1) / 2) / ratio
    u = local.repeat(w // ratio).view(1, 1, w)
    v = local.repeat(h // ratio).view(1, h, 1)
    depth = up(dist) * up(n3) / (up(n1) * u + up(n2) * v + up(n3))
    return depth.clamp(0, 1).unsqueeze(1)


class BTS(nn.Module):
    def __init__(self, encoder: nn.Module, num_features: int = 512):
        super().__init__()
        self.encoder = encoder
        c0, c1, c2, c3, c4 = channels(encoder)
        n = num_features
        self.upconv5, self.bn5, self.conv5 = UpConv(c4, n), _bn(n), _conv_elu(n + c3, n)
        self.upconv4, self.bn4, self.conv4, self.bn4_2 = UpConv(n, n // 2), _bn(n // 2), _conv_elu(n // 2 + c2, n // 2), _bn(n // 2)
        self.daspp = nn.ModuleList([AtrousConv(n // 2, n // 4, 3, bn_first=False)] + [
            AtrousConv(n // 2 + c2 + i * n // 4, n // 4, d) for i, d in enumerate((6, 12, 18, 24), start=1)])
        self.daspp_conv = _conv_elu(n // 2 + 5 * (n // 4), n // 4)
        self.reduc8 = reduction(n // 4, n // 4)
        self.upconv3, self.bn3, self.conv3 = UpConv(n // 4, n // 4), _bn(n // 4), _conv_elu(n // 4 + c1 + 1, n // 4)
        self.reduc4 = reduction(n // 4, n // 8)
        self.upconv2, self.bn2, self.conv2 = UpConv(n // 4, n // 8), _bn(n // 8), _conv_elu(n // 8 + c0 + 1, n // 8)
        self.reduc2 = reduction(n // 8, n // 16)
        self.upconv1 = UpConv(n // 8, n // 16)
        self.reduc1 = reduction(n // 16, n // 32, final=True)
        self.conv1 = _conv_elu(n // 16 + 4, n // 16)
        self.get_depth = nn.Conv2d(n // 16, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        f0, f1, f2, f3, f4 = self.encoder(x)
        full = lambda t: F.interpolate(t, size=(h, w), mode="nearest")  # noqa: E731
        to = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="nearest")  # noqa: E731
        y = self.conv5(torch.cat([self.bn5(self.upconv5(F.relu(f4), f3.shape[-2:])), f3], 1))
        concat = torch.cat([self.bn4(self.upconv4(y, f2.shape[-2:])), f2], 1)
        y = self.bn4_2(self.conv4(concat))
        outs = [self.daspp[0](y)]
        concat = torch.cat([concat, outs[0]], 1)
        for layer in self.daspp[1:]:
            outs.append(layer(concat))
            concat = torch.cat([concat, outs[-1]], 1)
        feat = self.daspp_conv(torch.cat([y, *outs], 1))
        d8 = full(planar_depth(self.reduc8(feat), 8))
        y = self.conv3(torch.cat([self.bn3(self.upconv3(feat, f1.shape[-2:])), f1, to(d8, f1)], 1))
        d4 = full(planar_depth(self.reduc4(y), 4))
        y = self.conv2(torch.cat([self.bn2(self.upconv2(y, f0.shape[-2:])), f0, to(d4, f0)], 1))
        d2 = full(planar_depth(self.reduc2(y), 2))
        y = self.upconv1(y, (h, w))
        y = self.conv1(torch.cat([y, torch.sigmoid(self.reduc1(y)), d2, d4, d8], 1))
        return torch.sigmoid(to_half(self.get_depth(y), h, w))
