"""UNet-Simple: the classic U-Net (Ronneberger et al. 2015) with bilinear upsampling.

Double 3x3 conv + BN + ReLU per level, channels base x (1, 2, 4, 8, 8), each
decoder block's middle width half its input. At base 64 this is the common
17.27 M-parameter PyTorch U-Net (convolutions with bias); its full-resolution output meets the
half-resolution contract by one area resize. The lite variant (`half_input`)
runs the same network on a half-resolution image, a quarter of the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facedepth.models.heads import TaskHeads
from facedepth.models.resize import to_half


def _block(cin: int, cout: int, mid: int | None = None) -> nn.Sequential:
    mid = mid or cout
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, base: int = 64, levels: int = 4, half_input: bool = False, heads=()):
        super().__init__()
        chans = [base * 2**i for i in range(levels)] + [base * 2 ** (levels - 1)]
        self.half_input = half_input
        self.stem = _block(3, chans[0])
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1]) for i in range(levels))
        # at level i the upsampled map and the skip both have chans[i] channels (the bottom repeats the top width)
        self.up = nn.ModuleList(_block(2 * chans[i], chans[max(i - 1, 0)], chans[i]) for i in reversed(range(levels)))
        self.head = nn.Conv2d(chans[0], 1, 1)
        self.heads = TaskHeads(chans[0], heads)

    def forward(self, x: torch.Tensor, every: bool = False):
        """Normalised depth (B, 1, H/2, W/2); with `every`, a dict of it and the extra heads' maps."""
        h, w = x.shape[-2:]
        if self.half_input:
            x = F.avg_pool2d(x, 2, ceil_mode=True)
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(F.max_pool2d(skips[-1], 2, ceil_mode=True)))
        y = skips.pop()
        for up in self.up:
            skip = skips.pop()
            y = up(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        depth = torch.sigmoid(to_half(self.head(y), h, w))
        return {"depth": depth, **self.heads.outputs(y, lambda t: to_half(t, h, w))} if every else depth
