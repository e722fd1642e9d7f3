"""The multi-task option: normal and matte heads beside depth, their targets, losses, scores and outputs."""

import math

import cv2
import numpy as np
import pytest
import torch
from conftest import facedepth, tiny_train_params

from facedepth.augment import only
from facedepth.checkpoint import TrainConfig
from facedepth.crops import Crop
from facedepth.data import DepthSplit
from facedepth.losses import HybridLoss, head_terms
from facedepth.models import build
from facedepth.models.heads import tasks_of
from facedepth.predict import kept, rolled

HEADS = ["normal", "matte"]


@pytest.mark.parametrize("name", ["unet_simple_lite", "facedepth_lite"])
def test_heads_add_maps_beside_an_unchanged_depth_output(name):
    torch.manual_seed(0)
    opts = {"base": 4} if name == "unet_simple_lite" else {"encoder": "resnet18"}
    model = build(name, **opts, heads=HEADS).eval()
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad():
        depth, every = model(x), model(x, every=True)
    assert depth.shape == (2, 1, 24, 32) and torch.equal(every["depth"], depth)  # inference and ONNX see depth only
    assert every["normal"].shape == (2, 3, 24, 32) and every["matte"].shape == (2, 1, 24, 32)
    assert torch.allclose(every["normal"].norm(dim=1), torch.ones(2, 24, 32), atol=1e-4)
    assert every["matte"].min() > 0 and every["matte"].max() < 1
    assert tasks_of(model) == ("normal", "matte")
    plain = build(name, **opts)
    assert tasks_of(plain) == () and not any(k.startswith("heads.") for k in plain.state_dict())  # old files load


def test_a_matte_keeps_the_parts_that_hold_a_head_and_an_ellipse_marks_a_head_it_missed():
    from facedepth.locate import Head

    person = np.zeros((60, 80), np.float32)
    person[5:15, 60:75] = 0.9  # the locator's map on someone's arm: kept as before
    matte = np.full((60, 80), np.nan, np.float32)  # NaN: outside every crop
    matte[:, :50] = 0.0
    cv2.circle(matte, (20, 25), 12, 0.95, -1)  # the located person, with a hole (a hand) at the centre
    cv2.circle(matte, (20, 25), 3, 0.1, -1)
    cv2.circle(matte, (42, 50), 5, 0.95, -1)  # a blob holding no head: a person-like shape on the backdrop
    heads = [Head(20.5, 25.5, 10.0, 0.0, 0.9), Head(70.5, 40.5, 8.0, 0.0, 0.8)]  # the second: no matte there
    keep = kept(person, heads, matte)
    assert keep[25, 20] and keep[25, 30] and not keep[25, 34]  # hole filled, edge of the matte's disc
    assert not keep[50, 42]  # the blob without a head
    assert keep[10, 65]  # the person map still counts
    assert keep[40, 70] and keep[40, 74] and not keep[40, 76]  # the missed head's ellipse (0.55 x 8 = 4.4 px)
    plain = kept(person, heads)  # no matte: the person map and every head's ellipse
    assert plain[10, 65] and plain[25, 20] and not plain[25, 30]


def test_unknown_heads_are_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown head\(s\) \['albedo'\]"):
        build("unet_simple_lite", heads=["albedo"])
    with pytest.raises(ValueError, match="unknown option"):
        build("bts_lite", heads=["normal"])  # BTS's planar-guidance output has no shared map to hang heads on


def test_head_losses_are_zero_when_right_and_ignore_unknown_targets():
    n = torch.nn.functional.normalize(torch.randn(1, 3, 8, 8), dim=1)
    matte = torch.rand(1, 1, 8, 8)
    mask = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    target_n, target_m = n.clone(), matte.clone()
    target_n[..., 0, :] = float("nan")  # a row without rendered normals
    target_m[..., 1, :] = float("nan")  # a row brought in by a zoom
    right = head_terms({"normal": n, "matte": matte}, {"normal": target_n, "matte": target_m}, mask)
    assert right["normal"].abs() < 1e-6 and right["matte"] == 0
    wrong = head_terms({"normal": -n, "matte": 1 - matte}, {"normal": target_n, "matte": target_m}, mask)
    assert wrong["normal"] == pytest.approx(2.0, abs=1e-5)
    known = torch.isfinite(target_m)
    assert wrong["matte"] == pytest.approx(float((1 - 2 * matte)[known].abs().mean()), abs=1e-6)
    # the hybrid loss adds each head with its weight
    loss = HybridLoss()
    depth, y = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    outs = {"depth": depth, "normal": -n, "matte": 1 - matte}
    total = loss(outs, y, mask, None, {"normal": target_n, "matte": target_m})
    assert total == pytest.approx(float(loss(depth, y, mask) + wrong["normal"] + wrong["matte"]), rel=1e-5)


@pytest.mark.parametrize("roll", [0.0, 30.0, -75.0, 180.0])
def test_normals_turn_back_with_their_crop(roll):
    """rolled() is the inverse of the crop's own rotation (Crop.matrix), so photo-space normals are right."""
    m = Crop(50, 40, 32, 32, roll).matrix((16, 16))[:, :2]
    v = np.array([0.6, -0.3, -0.74]).reshape(3, 1, 1)
    want = np.linalg.solve(m / np.linalg.norm(m[0]), v[:2, 0, 0])  # view vector -> photo vector
    got = rolled(v, roll)[:, 0, 0]
    assert np.allclose(got[:2], want, atol=1e-9) and got[2] == v[2, 0, 0]


def test_targets_follow_flips_and_occluders(prepared):
    plain = DepthSplit(prepared, "train", heads=("normal", "matte"))
    base = plain[0][5]
    n, m = base["normal"], base["matte"]
    person = plain[0][2]
    assert n.shape == (3, 20, 24) and m.shape == (1, 20, 24)
    finite = torch.isfinite(n).all(0)
    assert (finite & person[0]).sum() > 0.9 * person.sum()  # person pixels carry rendered normals
    assert torch.allclose(n[:, finite].norm(dim=0), torch.ones(int(finite.sum())), atol=2e-2)
    plain.augment = only(flip=1.0)
    flipped = plain[0][5]
    assert torch.allclose(flipped["normal"][0], -n[0].flip(-1), equal_nan=True)  # x turns with the mirror
    assert torch.allclose(flipped["normal"][1:], n[1:].flip(-1), equal_nan=True)
    assert torch.allclose(flipped["matte"], m.flip(-1), equal_nan=True)
    plain.augment = only(p_occluder=1.0)
    hidden = None
    for i in range(len(plain)):
        *_, valid, _, _, t = plain[i]
        shown = DepthSplit(prepared, "train", heads=("matte",))[i]
        lost = shown[2] & ~valid  # person pixels the occluder covered
        if lost.any():
            hidden = t["matte"][lost]
            break
    assert hidden is not None and torch.all(hidden == 0)  # no coverage where the person is hidden


def test_a_split_without_normals_names_the_fix(prepared, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(prepared, copy)
    for split in ("train", "val", "test"):
        (copy / split / "normal.npy").unlink()
    with pytest.raises(ValueError, match=r"has no normal.npy.*render again and rerun `facedepth prepare`"):
        DepthSplit(copy, "train", heads=("normal",))


def test_multitask_training_scoring_and_outputs(prepared, tmp_path):
    """Train with both heads, score them on the test split, and write their maps for a photo."""
    from facedepth.evaluate import evaluate
    from facedepth.train import train

    data = tiny_train_params(steps=3)
    data["train"]["model_cfg"]["unet_simple_lite"] = {"base": 4, "heads": HEADS}
    cfg = TrainConfig.from_params(data, "unet_simple_lite")
    assert cfg.heads == ("normal", "matte")
    train(cfg, prepared, tmp_path / "m", tmp_path / "live")
    summary, _, _ = evaluate(tmp_path / "m" / "best.pt", prepared, keep_predictions=0)
    h = summary["heads"]
    assert 0 <= h["normal.mean_deg"] <= 180 and 0 <= h["normal.under_11.25"] <= h["normal.under_30"] <= 1
    assert 0 <= h["matte.iou"] <= 1 and h["matte.sad"] > 0
    from pipeline.report import heads_table

    table = "\n".join(heads_table({"mt": summary, "depth only": {"model": "x"}}))
    assert "| mt |" in table and "depth only" not in table and f"{h['normal.mean_deg']:.1f}" in table
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((60, 80, 3), 128, np.uint8))
    facedepth("predict", str(photo), "--model", str(tmp_path / "m" / "best.pt"), "--out", str(tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"photo.normal.exr", "photo.normal.png", "photo.matte.png", "photo.depth.exr"} <= set(names)
    from generation import exr

    normal = exr.read_normals(tmp_path / "out" / "photo.normal.exr")
    assert normal.shape == (60, 80, 3) and np.allclose(np.linalg.norm(normal, axis=-1), 1, atol=1e-3)
    assert math.isfinite(float(normal.mean()))
    from facedepth.predict import Predictor

    rgb = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 2)
    a = Predictor(tmp_path / "m" / "best.pt").predict(rgb)
    onnx = Predictor(tmp_path / "m" / "best.pt", runtime="onnx")
    b = onnx.predict(rgb, extras=("matte",))
    assert b.normal is None and a.normal is not None  # only the maps asked for
    assert np.allclose(a.matte, b.matte, atol=1e-3, equal_nan=True)  # ONNX carries every head
    assert (a.valid != b.valid).mean() < 1e-3
    one, two = Crop(60, 50, 80, 80), Crop(95, 65, 60, 60, 20.0)
    maps = [onnx.maps_in(rgb, crops, 100.0, extras=("matte",))[2]["matte"] for crops in ([one], [two], [one, two])]
    assert np.isfinite(maps[0]).any() and np.isfinite(maps[1]).any()
    assert np.allclose(maps[2], np.fmax(maps[0], maps[1]), equal_nan=True)  # overlaps keep the higher matte
    # mirror: a mirror-symmetric crop gets an exactly symmetric depth and matte, normals' x changing sign
    mirrored = Predictor(tmp_path / "m" / "best.pt", mirror=True)
    half = torch.rand(1, 3, *mirrored.input_hw)
    symmetric = torch.where(torch.arange(mirrored.input_hw[1]) < mirrored.input_hw[1] // 2, half, half.flip(-1))
    out, plain = mirrored.outputs(symmetric), mirrored._outputs(symmetric)
    assert not torch.allclose(plain["depth"], plain["depth"].flip(-1), atol=1e-4)  # the network alone is not
    for k in ("depth", "matte"):
        assert torch.allclose(out[k], out[k].flip(-1), atol=1e-5)
    assert torch.allclose(out["normal"][:, 0], -out["normal"][:, 0].flip(-1), atol=1e-5)
    assert torch.allclose(out["normal"][:, 1:], out["normal"][:, 1:].flip(-1), atol=1e-5)
