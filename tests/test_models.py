"""Every model: the published parameter counts, output shape for odd sizes, a loss that falls on a tiny batch."""

import pytest
import torch

from facedepth.complexity import count_params
from facedepth.losses import HybridLoss
from facedepth.models import MODELS, PUBLISHED, build

SMALL = {
    "facedepth_lite": {},
    "densedepth_lite": {"encoder": "densenet121"},
    "bts_lite": {"encoder": "resnet18", "num_features": 128},
    "unet_simple_lite": {"base": 8},
}
# counted from the reference implementations without ImageNet classifiers (issue 11; BTS: 47.0 M in Lee et al.)
PUBLISHED_PARAMS = {"facedepth": 13_143_057, "densedepth": 42_403_411, "unet_simple": 17_267_393, "bts": 47_000_688}


@pytest.mark.slow
@pytest.mark.parametrize("name", PUBLISHED)
def test_published_models_have_the_published_size_and_half_resolution_output(name):
    torch.manual_seed(0)
    model = build(name).eval()
    assert count_params(model) == PUBLISHED_PARAMS[name]
    with torch.no_grad():
        y = model(torch.rand(1, 3, 480, 640))
    assert y.shape == (1, 1, 240, 320) and torch.all((y >= 0) & (y <= 1))


def test_the_published_facedepth_taps_mobilenetv2_as_published():
    enc = build("facedepth").encoder
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, 64, 96))
    assert [(f.shape[1], 64 // f.shape[2]) for f in feats] == [
        (16, 2),
        (24, 4),
        (32, 8),
        (64, 16),
        (160, 32),
        (320, 32),
        (1280, 32),
    ]


@pytest.mark.parametrize("name", [m for m in MODELS if m not in PUBLISHED])
@pytest.mark.parametrize("hw", [(64, 64), (72, 100)])
def test_output_is_half_resolution(name, hw):
    torch.manual_seed(0)
    model = build(name, **SMALL[name]).eval()
    with torch.no_grad():
        y = model(torch.rand(2, 3, *hw))
    assert y.shape == (2, 1, hw[0] // 2, hw[1] // 2)
    assert torch.all((y >= 0) & (y <= 1))


def test_unknown_model_and_options_are_named():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build("resnet")
    with pytest.raises(ValueError, match=r"facedepth: unknown option\(s\) \['encoder'\].*published"):
        build("facedepth", encoder="resnet18")


def test_pretrained_weights_must_match_the_encoder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth.*torch.save"):
        build("facedepth_lite", pretrained=str(tmp_path / "nope.pth"))
    import timm

    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match=r"not mobilenetv2_100 weights: \d+ of \d+ tensors missing"):
        build("facedepth_lite", pretrained=str(tmp_path / "resnet18.pth"))
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="garbage.pth: not a readable state dict"):
        build("facedepth_lite", pretrained=str(tmp_path / "garbage.pth"))
    # a folder of ENCODER.pth files, as saved from the full timm model (classifier included): loads, weights equal
    full = timm.create_model("mobilenetv2_100")
    torch.save(full.state_dict(), tmp_path / "mobilenetv2_100.pth")
    for name in ("facedepth_lite", "facedepth"):
        model = build(name, pretrained=str(tmp_path))
        own = dict(model.encoder.named_parameters())
        key = next(k for k in own if k.endswith("conv_stem.weight"))
        assert torch.equal(own[key], full.conv_stem.weight)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMALL))
def test_loss_decreases_when_overfitting_a_tiny_batch(name):
    torch.manual_seed(0)
    model = build(name, **SMALL[name])
    x = torch.rand(2, 3, 64, 64)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    target = (0.5 + 0.3 * (xx**2 + yy**2)).expand(2, 1, 32, 32).clone()
    mask = (xx**2 + yy**2 < 0.8).expand(2, 1, 32, 32)
    loss_fn = HybridLoss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = loss_fn(model(x), target, mask)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in PUBLISHED else m for m in MODELS])
def test_every_registered_model_exports_to_onnx_with_a_dynamic_batch(name, tmp_path):
    from facedepth.export import export_model

    model = build(name, **({"base": 8} if name == "unet_simple_lite" else {})).eval()
    diff = export_model(model, (64, 64), tmp_path / "m.onnx", {"facedepth.model": name})
    assert diff < 1e-4
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert {p.key: p.value for p in proto.metadata_props} == {"facedepth.model": name}
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
