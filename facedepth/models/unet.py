"""UNet-Simple: a plain four-level U-Net baseline with no pretrained encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNetSimple(nn.Module):
    def __init__(self, base: int = 32, levels: int = 4):
        super().__init__()
        chans = [base * 2**i for i in range(levels + 1)]
        self.stem = _block(3, chans[0])
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1]) for i in range(levels))
        self.up = nn.ModuleList(_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(levels)))
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # work at half resolution: the output is (H/2, W/2) like the other models
        skips = [self.stem(F.avg_pool2d(x, 2, ceil_mode=True))]
        for down in self.down:
            skips.append(down(F.max_pool2d(skips[-1], 2, ceil_mode=True)))
        y = skips.pop()
        for up in self.up:
            skip = skips.pop()
            y = up(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return torch.sigmoid(F.interpolate(self.head(y), size=(h // 2, w // 2), mode="bilinear", align_corners=False))
