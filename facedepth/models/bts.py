"""BTS (Lee et al. 2019): dense ASPP features and local planar guidance (LPG).

At 1/8, 1/4 and 1/2 of the input, the decoder predicts per-cell plane
coefficients (unit normal from two angles, plus a distance); an LPG layer
expands each cell to the output grid by intersecting pixel rays of the cell
with its plane. The three guided depths and the decoder features give the
final depth, a sigmoid scaled by `max_depth` (1 for normalised depth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facedepth.models.encdec import timm_encoder


def _conv(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ELU(inplace=True))


class DenseASPP(nn.Module):
    """Atrous convolutions with dilations 3..24, each seeing all previous outputs."""

    def __init__(self, cin: int, c: int, dilations=(3, 6, 12, 18, 24)):
        super().__init__()
        self.layers = nn.ModuleList()
        for i, d in enumerate(dilations):
            self.layers.append(_conv(cin + i * c, c, 3, d))
        self.out = _conv(cin + len(dilations) * c, c, 3)

    def forward(self, x):
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return self.out(torch.cat(feats, 1))


class LocalPlanarGuidance(nn.Module):
    """Plane coefficients at a coarse scale -> depth on a grid `ratio` times finer."""

    def __init__(self, cin: int, ratio: int, max_depth: float):
        super().__init__()
        self.ratio, self.max_depth = ratio, max_depth
        self.reduce = nn.Sequential(_conv(cin, cin // 2, 1), nn.Conv2d(cin // 2, 3, 1))

    def forward(self, x):
        r = self.ratio
        theta, phi, dist = self.reduce(x).unbind(1)
        theta = torch.sigmoid(theta) * torch.pi / 3  # normals within 60 deg of the viewing axis
        phi = torch.sigmoid(phi) * 2 * torch.pi
        dist = torch.sigmoid(dist) * self.max_depth
        n1, n2, n3 = torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)
        up = lambda t: t.repeat_interleave(r, -2).repeat_interleave(r, -1)  # noqa: E731
        h, w = x.shape[-2] * r, x.shape[-1] * r
        local = (torch.arange(r, device=x.device, dtype=x.dtype) - (r - 1) / 2) / r
        u = local.repeat(w // r).view(1, 1, w)
        v = local.repeat(h // r).view(1, h, 1)
        depth = up(dist) * up(n3) / (up(n1) * u + up(n2) * v + up(n3))
        return depth.clamp(0, self.max_depth).unsqueeze(1) / self.max_depth


class BTS(nn.Module):
    def __init__(self, encoder: str, pretrained: bool | str = False, width: int = 128, max_depth: float = 1.0):
        super().__init__()
        self.encoder = timm_encoder(encoder, pretrained)
        c2, c4, c8, c16, c32 = self.encoder.feature_info.channels()
        self.max_depth = max_depth
        self.up16 = _conv(c32, width * 2)
        self.iconv16 = _conv(width * 2 + c16, width * 2)
        self.up8 = _conv(width * 2, width)
        self.iconv8 = _conv(width + c8, width)
        self.aspp = DenseASPP(width, width // 2)
        self.lpg8 = LocalPlanarGuidance(width // 2, 4, max_depth)
        self.up4 = _conv(width // 2, width // 2)
        self.iconv4 = _conv(width // 2 + c4 + 1, width // 2)
        self.lpg4 = LocalPlanarGuidance(width // 2, 2, max_depth)
        self.up2 = _conv(width // 2, width // 4)
        self.iconv2 = _conv(width // 4 + c2 + 1, width // 4)
        self.lpg2 = LocalPlanarGuidance(width // 4, 1, max_depth)
        self.final = nn.Sequential(_conv(width // 4 + 3, width // 4), nn.Conv2d(width // 4, 1, 3, padding=1))

    @staticmethod
    def _up(x, ref):
        return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x):
        h, w = x.shape[-2:]
        f2, f4, f8, f16, f32 = self.encoder(x)
        y = self.iconv16(torch.cat([self._up(self.up16(f32), f16), f16], 1))
        y = self.iconv8(torch.cat([self._up(self.up8(y), f8), f8], 1))
        y = self.aspp(y)
        d8 = self._up(self.lpg8(y), f2)  # LPG at 1/8, expanded to the 1/2 output grid
        y = self.up4(self._up(y, f4))
        y = self.iconv4(torch.cat([y, f4, self._up(d8, f4)], 1))
        d4 = self._up(self.lpg4(y), f2)
        y = self.up2(self._up(y, f2))
        y = self.iconv2(torch.cat([y, f2, d4], 1))
        d2 = self.lpg2(y)
        out = self.final(torch.cat([y, d8, d4, d2], 1))
        out = F.interpolate(out, size=(h // 2, w // 2), mode="bilinear", align_corners=False)
        return torch.sigmoid(out) * self.max_depth
