"""The four networks of the paper behind one registry: `build(name, **cfg)`.

Every model maps a (B, 3, H, W) image to (B, 1, H/2, W/2) normalised depth in
[0, 1] (see facedepth.depthnorm), for any H and W.
"""

from __future__ import annotations

from facedepth.models.bts import BTS
from facedepth.models.encdec import EncoderDecoder
from facedepth.models.unet import UNetSimple

DEFAULT_ENCODERS = {"facedepth": "mobilenetv2_100", "densedepth": "densenet169", "bts": "densenet161"}
MODELS = ("facedepth", "unet_simple", "bts", "densedepth")


def build(name: str, encoder: str | None = None, pretrained: bool | str = False, **kwargs):
    """A model by registry name; `encoder` swaps in any timm backbone, `pretrained` may be a checkpoint path."""
    name = name.lower().replace("-", "_")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODELS)}")
    if name == "unet_simple":
        return UNetSimple(**kwargs)
    encoder = encoder or DEFAULT_ENCODERS[name]
    if name == "bts":
        return BTS(encoder, pretrained, **kwargs)
    return EncoderDecoder(encoder, pretrained, **kwargs)
