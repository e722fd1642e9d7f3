"""Encoders: a timm backbone that returns feature maps, shallow -> deep.

`timm_encoder` is timm's `features_only` backbone (one map per stride 2..32),
the lite models' encoder. `TappedEncoder` runs a timm model's own layers and
keeps the outputs the published networks concatenate as skips (FaceDepth
taps seven MobileNetV2 outputs, DenseDepth and BTS five DenseNet-161 ones),
so the published parameter counts hold and timm's ImageNet weights load.

`pretrained` is False, True (timm hub: needs internet), a `.pth` state dict
of the timm model, or a folder of `ENCODER.pth` files (one per backbone).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

# backbone -> (layers in forward order, (tapped layer, channels) shallow -> deep)
TAPS = {
    "mobilenetv2_100": (
        ("conv_stem", "bn1", *(f"blocks.{i}" for i in range(7)), "conv_head", "bn2"),
        (("blocks.0", 16), ("blocks.1", 24), ("blocks.2", 32), ("blocks.3", 64), ("blocks.5", 160),
         ("blocks.6", 320), ("bn2", 1280)),
    ),
    "densenet161": (
        tuple(f"features.{n}" for n in ("conv0", "norm0", "pool0", "denseblock1", "transition1", "denseblock2",
                                        "transition2", "denseblock3", "transition3", "denseblock4", "norm5")),
        (("features.norm0", 96), ("features.pool0", 96), ("features.transition1", 192),
         ("features.transition2", 384), ("features.norm5", 2208)),
    ),
}


def weights_file(pretrained: str | Path, backbone: str) -> Path:
    """The state-dict file for `backbone`: the path itself, or FOLDER/BACKBONE.pth."""
    path = Path(pretrained)
    if path.is_dir():
        path = path / f"{backbone}.pth"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights for {backbone} not found; save them with "
                                f"`torch.save(timm.create_model('{backbone}', pretrained=True).state_dict(), "
                                f"'{backbone}.pth')` on a machine with internet, or set train.pretrained: false")
    return path


def load_weights(module: nn.Module, pretrained: str | Path, backbone: str) -> None:
    """Load a timm state dict; every weight of `module` must be in it (extra keys such as the classifier are fine)."""
    path = weights_file(pretrained, backbone)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, truncated: torch raises many kinds
        raise ValueError(f"{path}: not a readable state dict ({exc.__class__.__name__}); re-save it") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        raise ValueError(f"{path}: not {backbone} weights: {len(missing)} of {len(own)} tensors missing "
                         f"(e.g. {missing[:3]}), {len(wrong)} of the wrong shape (e.g. {wrong[:3]}); "
                         f"save `timm.create_model('{backbone}', pretrained=True).state_dict()`")
    module.load_state_dict({k: state[k] for k in own})


def timm_encoder(name: str, pretrained: bool | str = False) -> nn.Module:
    """timm `features_only` backbone: maps at strides 2, 4, 8, 16, 32."""
    enc = timm.create_model(name, pretrained=pretrained is True, features_only=True)
    if isinstance(pretrained, (str, Path)) and pretrained:
        load_weights(enc, pretrained, name)
    return enc


class TappedEncoder(nn.Module):
    """A timm model run layer by layer, returning the outputs of the tapped layers."""

    def __init__(self, name: str, pretrained: bool | str = False):
        super().__init__()
        if name not in TAPS:
            raise ValueError(f"no published taps for encoder {name!r}; choose one of {sorted(TAPS)}")
        self.body = timm.create_model(name, pretrained=pretrained is True)
        self.body.reset_classifier(0)  # the ImageNet classifier is unused: drop its weights
        if isinstance(pretrained, (str, Path)) and pretrained:
            load_weights(self.body, pretrained, name)
        self.layers, taps = TAPS[name]
        self.taps = tuple(t for t, _ in taps)
        self.channels = [c for _, c in taps]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for name in self.layers:
            x = self.body.get_submodule(name)(x)
            if name in self.taps:
                feats.append(x)
        return feats


def channels(encoder: nn.Module) -> list[int]:
    """Feature channels, shallow -> deep, of either encoder kind."""
    return encoder.channels if isinstance(encoder, TappedEncoder) else encoder.feature_info.channels()
