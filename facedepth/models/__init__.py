"""The paper's four networks behind one registry: `build(name, pretrained, **cfg)`.

Each comes as published (`facedepth`, `unet_simple`, `bts`, `densedepth`: the
paper profile's models, parameter counts tested) and as a CPU-sized `_lite`
variant (the default profile's). Every model maps a (B, 3, H, W) image to
(B, 1, H/2, W/2) normalised depth in [0, 1] (see facedepth.depthnorm), for any
H and W; lite U-Net and encoder-decoder variants can add normal and matte heads.
Lite variants take options (a different timm `encoder`, widths); published ones
take none, so a name always means one architecture.
"""

from __future__ import annotations

import inspect

from facedepth.models.bts import BTS
from facedepth.models.encdec import EncoderDecoder
from facedepth.models.encoders import TappedEncoder, timm_encoder
from facedepth.models.unet import UNet


def facedepth(pretrained=False):
    """Khan et al. 2021: MobileNetV2 (to 1280 ch), decoder width 0.6, six skips; 13.14 M parameters."""
    return EncoderDecoder(TappedEncoder("mobilenetv2_100", pretrained), 768, [384, 384, 192, 96, 96, 48])


def densedepth(pretrained=False):
    """DenseDepth with DenseNet-161, decoder width 0.5, four skips; 42.40 M parameters."""
    return EncoderDecoder(TappedEncoder("densenet161", pretrained), 1104, [552, 276, 138, 69])


def bts(pretrained=False):
    """BTS with DenseNet-161 and 512 decoder features."""
    return BTS(TappedEncoder("densenet161", pretrained), 512)


def unet_simple(pretrained=False):
    """The classic U-Net, channels 64-128-256-512-512; 17.27 M parameters, no encoder weights."""
    return UNet(base=64)


def facedepth_lite(pretrained=False, encoder="mobilenetv2_100", decoder_width=0.5, heads=()):
    """timm features_only encoder (5 maps), DenseDepth decoder halving from decoder_width x deepest channels;
    `heads`: extra outputs (normal, matte) on the decoder's features (facedepth.models.heads)."""
    return EncoderDecoder(timm_encoder(encoder, pretrained), decoder_width=decoder_width, heads=heads)


def densedepth_lite(pretrained=False, encoder="densenet121", decoder_width=0.5, heads=()):
    """facedepth_lite's encoder-decoder on a DenseNet-121: the published pair differ the same way (FaceDepth is
    DenseDepth's decoder on a MobileNetV2), so the lite pair is one architecture with the two papers' encoders."""
    return facedepth_lite(pretrained, encoder, decoder_width, heads)


def bts_lite(pretrained=False, encoder="resnet34", num_features=128):
    """BTS's local planar guidance decoder on a timm encoder (ResNet-34 here; params.yaml picks ResNet-18)."""
    return BTS(timm_encoder(encoder, pretrained), num_features)


def unet_simple_lite(pretrained=False, base=16, heads=()):
    """The classic U-Net at `base` channels on a half-resolution input; `heads` as facedepth_lite's."""
    return UNet(base=base, half_input=True, heads=heads)


PUBLISHED_NETWORKS = (facedepth, unet_simple, bts, densedepth)  # as Khan et al. published them
LITE_NETWORKS = (facedepth_lite, unet_simple_lite, bts_lite, densedepth_lite)  # CPU-sized variants
REGISTRY = {f.__name__: f for f in (*PUBLISHED_NETWORKS, *LITE_NETWORKS)}
MODELS = tuple(REGISTRY)
PUBLISHED = tuple(f.__name__ for f in PUBLISHED_NETWORKS)


def options(name: str) -> list[str]:
    """The keyword options a model takes beyond `pretrained`."""
    return [p for p in inspect.signature(REGISTRY[name]).parameters if p != "pretrained"]


def build(name: str, pretrained: bool | str = False, **cfg):
    """A model by registry name; `pretrained`: False, True (timm hub), a state-dict file or a folder of them."""
    key = name.lower().replace("-", "_")
    if key not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {list(MODELS)}")
    unknown = set(cfg) - set(options(key))
    if unknown:
        raise ValueError(f"model {key}: unknown option(s) {sorted(unknown)} in train.model_cfg.{key}; "
                         f"it takes {options(key) or 'none (published architecture)'}")
    return REGISTRY[key](pretrained, **cfg)
