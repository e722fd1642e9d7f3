"""FaceDepth and DenseDepth: a timm encoder with a DenseDepth-style decoder.

The decoder starts from the deepest feature map and, at each encoder scale,
upsamples bilinearly, concatenates the skip feature and applies two 3x3
convolutions with LeakyReLU(0.2) (Alhashim & Wonka 2018). The output sits at
the encoder's stride-2 scale, i.e. half the input resolution.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn


def timm_encoder(name: str, pretrained: bool | str) -> nn.Module:
    """features_only timm backbone; `pretrained` is False, True (hub download) or a local checkpoint path."""
    from_hub = pretrained is True
    enc = timm.create_model(name, pretrained=from_hub, features_only=True)
    if isinstance(pretrained, (str, Path)) and pretrained:
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: pretrained encoder checkpoint not found; set pretrained: false or fix the path")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, _ = enc.load_state_dict(state, strict=False)
        if len(missing) == len(enc.state_dict()):
            raise ValueError(f"{path}: no weights match encoder {name}")
    return enc


class UpBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2),
        )


class Decoder(nn.Module):
    """Skip-connected upsampling decoder over encoder features ordered shallow -> deep."""

    def __init__(self, channels: list[int], width: float = 0.5):
        super().__init__()
        c = int(channels[-1] * width)
        self.bottleneck = nn.Conv2d(channels[-1], c, 1)
        self.ups = nn.ModuleList()
        for skip in reversed(channels[:-1]):
            self.ups.append(UpBlock(c + skip, max(c // 2, 16)))
            c = max(c // 2, 16)
        self.out_channels = c

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.bottleneck(feats[-1])
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return x


class EncoderDecoder(nn.Module):
    def __init__(self, encoder: str, pretrained: bool | str = False, decoder_width: float = 0.5):
        super().__init__()
        self.encoder = timm_encoder(encoder, pretrained)
        self.decoder = Decoder(self.encoder.feature_info.channels(), decoder_width)
        self.head = nn.Conv2d(self.decoder.out_channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self.head(self.decoder(self.encoder(x)))
        return torch.sigmoid(F.interpolate(y, size=(h // 2, w // 2), mode="bilinear", align_corners=False))
