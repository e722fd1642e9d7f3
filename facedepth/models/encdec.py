"""FaceDepth and DenseDepth: an encoder with a DenseDepth decoder (Alhashim & Wonka 2018).

The decoder reduces the deepest feature map with a 1x1 convolution, then at
each skip upsamples bilinearly to the skip's size, concatenates it and applies
two 3x3 convolutions with LeakyReLU(0.2). The output sits at the shallowest
skip's scale (stride 2), i.e. half the input resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facedepth.models.encoders import channels
from facedepth.models.heads import TaskHeads


class UpBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2),
        )


def halving_widths(bottleneck: int, skips: int) -> list[int]:
    """The lite decoders' widths: half of the previous block each time, at least 16."""
    widths, c = [], bottleneck
    for _ in range(skips):
        c = max(c // 2, 16)
        widths.append(c)
    return widths


class Decoder(nn.Module):
    """Skip-connected upsampling decoder over encoder features ordered shallow -> deep."""

    def __init__(self, channels: list[int], bottleneck: int, widths: list[int]):
        super().__init__()
        if len(widths) != len(channels) - 1:
            raise ValueError(f"decoder: {len(channels) - 1} skips need as many widths, got {list(widths)}")
        self.bottleneck = nn.Conv2d(channels[-1], bottleneck, 1)
        self.ups = nn.ModuleList()
        c = bottleneck
        for skip, width in zip(reversed(channels[:-1]), widths):
            self.ups.append(UpBlock(c + skip, width))
            c = width
        self.out_channels = c

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.bottleneck(feats[-1])
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return x


class EncoderDecoder(nn.Module):
    """`bottleneck`/`widths` as published, or (lite) `decoder_width` x deepest channels, halving per block."""

    def __init__(self, encoder: nn.Module, bottleneck: int | None = None, widths: list[int] | None = None,
                 decoder_width: float = 0.5, heads=()):
        super().__init__()
        self.encoder = encoder
        chans = channels(encoder)
        bottleneck = bottleneck or int(chans[-1] * decoder_width)
        self.decoder = Decoder(chans, bottleneck, widths or halving_widths(bottleneck, len(chans) - 1))
        self.head = nn.Conv2d(self.decoder.out_channels, 1, 3, padding=1)
        self.heads = TaskHeads(self.decoder.out_channels, heads)

    def forward(self, x: torch.Tensor, every: bool = False):
        """Normalised depth (B, 1, H/2, W/2); with `every`, a dict of it and the extra heads' maps."""
        h, w = x.shape[-2:]
        features = self.decoder(self.encoder(x))

        def resize(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=(h // 2, w // 2), mode="bilinear", align_corners=False)

        depth = torch.sigmoid(resize(self.head(features)))
        return {"depth": depth, **self.heads.outputs(features, resize)} if every else depth
