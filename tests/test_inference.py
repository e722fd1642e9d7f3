"""Evaluate, report, predict, demo and export on a really trained tiny checkpoint."""

import json
import zlib

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import facedepth, tiny_params, tiny_train_params, write_params
from PIL import Image

from facedepth.data import HEAD_LABELS, output_grid
from facedepth.evaluate import evaluate
from facedepth.scoring import load_test, score
from facedepth.train import TrainConfig, train
from generation import exr

pytestmark = pytest.mark.slow


def test_evaluate_writes_metrics_and_report(checkpoint, prepared, tmp_path):
    out = tmp_path / "eval" / "facedepth_lite"
    facedepth("evaluate", "--model", str(checkpoint), "--prepared", str(prepared), "--out", str(out))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["test_images"] > 0 and 0 < summary["metric"]["abs_rel"] < 5
    assert 0 <= summary["scale_invariant"]["delta1"] <= 1 and summary["by_yaw"]
    assert summary["params_M"] > 1 and summary["gmacs_480x640"] > 0.5 and summary["ms_per_frame"] > 0
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    facedepth(
        "report",
        "--model",
        "facedepth_lite",
        "--eval-root",
        str(tmp_path / "eval"),
        "--baselines",
        str(tmp_path / "base"),
        "--prepared",
        str(prepared),
        "--out",
        str(tmp_path / "cmp.md"),
        "--figure",
        str(tmp_path / "cmp.png"),
        "--train-root",
        str(tmp_path / "train"),
        "--curves",
        str(tmp_path / "curves.png"),
        "--reference",
        str(tmp_path / "no_reference"),
    )
    table = (tmp_path / "cmp.md").read_text()
    assert "| facedepth_lite |" in table and "Scale-invariant" in table and "GMACs" in table
    assert Image.open(tmp_path / "cmp.png").size[0] > 300
    assert not (tmp_path / "curves.png").exists()  # no training logs: no curves figure
    (tmp_path / "train" / "facedepth_lite").mkdir(parents=True)
    (tmp_path / "train" / "facedepth_lite" / "plots").symlink_to(checkpoint.parent / "live" / "plots")
    from pipeline.report import training_figure

    assert training_figure(tmp_path / "train", ["facedepth_lite", "unet_simple_lite"], tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size[0] > 600


def _render_at_focal(folder, focal_mm: float):
    """One frame of a fixed scene through a lens of `focal_mm`, the camera moved back to keep the framing."""
    data = tiny_params(identities=1, frames_per_identity=1)
    data["render"]["camera"]["focal_mm"] = [focal_mm, focal_mm]
    folder.mkdir(parents=True)
    facedepth("render", "--params", str(write_params(folder, data)), "--out", str(folder / "renders"))
    stem = str(next((folder / "renders").rglob("*.rgb.png"))).removesuffix(".rgb.png")
    meta = json.loads(open(stem + ".json").read())
    rgb = np.asarray(Image.open(stem + ".rgb.png").convert("RGB"))
    return rgb, exr.read_depth(stem + ".depth.exr"), np.asarray(Image.open(stem + ".mask.png")), meta["K"][0][0]


def test_metric_depth_follows_the_focal_length(checkpoint, prepared, tmp_path):
    """The same scene at 30 and 80 mm: with canonical-focal training the predicted depths' ratio is the true one."""
    from facedepth.predict import Predictor

    shots = [_render_at_focal(tmp_path / f"f{f}", f) for f in (30.0, 80.0)]
    head = [(m > 0) & np.isfinite(d) for _, d, m, _ in shots]
    truth = np.median(shots[1][1][head[1]]) / np.median(shots[0][1][head[0]])
    assert truth == pytest.approx(80 / 30, rel=0.05)
    raw = tmp_path / "raw"
    train(
        TrainConfig.from_params(tiny_train_params(steps=1, canonical_focal=0.0), "facedepth_lite"),
        prepared,
        raw,
        raw / "live",
    )
    ratios = {}
    for name, ckpt in (("canonical", checkpoint), ("raw", raw / "best.pt")):
        predictor = Predictor(ckpt)
        depth = [predictor.predict(rgb, fx, crop=False).depth for rgb, _, _, fx in shots]
        ratios[name] = np.median(depth[1][head[1]]) / np.median(depth[0][head[0]])
    assert Predictor(checkpoint).cfg.canonical_focal == 1.0  # the default profile trains this way
    assert abs(np.log(ratios["canonical"] / truth)) < 0.1 < abs(np.log(ratios["raw"] / truth)), (ratios, truth)


def test_scale_invariant_metrics_see_through_scale(checkpoint, prepared):
    summary, rows, kept = evaluate(checkpoint, prepared)
    ds = load_test(prepared)
    i, d = kept["index"][0], kept["depth"][0]
    gt, mask = output_grid(np.asarray(ds.depth[i])), output_grid(np.asarray(ds.mask[i]))
    plain, doubled = score(d, gt, mask), score(2 * d, gt, mask)
    assert rows[0]["abs_rel"] == pytest.approx(plain["abs_rel"])  # the first row scores the first kept prediction
    assert doubled["abs_rel"] > plain["abs_rel"] + 0.3  # twice as far is wrong in metres...
    for key in ("si_abs_rel", "si_rmse", "relief_mm", "spearman"):  # ...but the same shape
        assert doubled[key] == pytest.approx(plain[key], rel=1e-6), key
    assert summary["shape"]["relief_mm"] > 0 and -1 <= summary["shape"]["spearman"] <= 1


def test_evaluate_refuses_data_of_another_resolution(checkpoint, rendered, tmp_path):
    from fdcore.schema import PrepareParams
    from pipeline.prepare import prepare

    other = tmp_path / "prepared32"
    prepare(
        rendered[1],
        other,
        PrepareParams(
            resolution=(32, 32), splits={"train": 0.34, "val": 0.33, "test": 0.33}, min_head_pixels=5, seed=0
        ),
    )
    with pytest.raises(ValueError, match="trained on 48x40"):
        evaluate(checkpoint, other)


def test_baselines_command_and_report_verdicts(checkpoint, prepared, tmp_path):
    facedepth(
        "evaluate",
        "--model",
        str(checkpoint),
        "--prepared",
        str(prepared),
        "--out",
        str(tmp_path / "eval/facedepth_lite"),
    )
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    for name in ("constant", "dome", "mean_face"):
        summary = json.loads((tmp_path / "base" / name / "metrics.json").read_text())
        assert summary["baseline"] and summary["test_images"] > 0 and summary["shape"]["relief_mm"] > 0
    assert json.loads((tmp_path / "base/constant/metrics.json").read_text())["shape"]["spearman"] == 0
    facedepth(
        "report",
        "--model",
        "facedepth_lite",
        "--eval-root",
        str(tmp_path / "eval"),
        "--baselines",
        str(tmp_path / "base"),
        "--prepared",
        str(prepared),
        "--out",
        str(tmp_path / "cmp.md"),
        "--figure",
        str(tmp_path / "cmp.png"),
        "--train-root",  # every path in tmp: the checkout's own reports/ are never read or rewritten
        str(tmp_path / "train"),
        "--curves",
        str(tmp_path / "curves.png"),
        "--reference",
        str(tmp_path / "no_reference"),
    )
    table = (tmp_path / "cmp.md").read_text()
    line = next(row for row in table.splitlines() if row.startswith("| facedepth_lite |"))
    assert "**yes**" in line or "**no**: not better than" in line
    assert "| dome (baseline) |" in table and "| mean_face (baseline) |" in table


def test_predict_any_photo_and_skip_unreadable(checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8)).save(photos / "colour.jpg", quality=90)
    Image.fromarray(rng.integers(0, 255, (60, 45), dtype=np.uint8)).save(photos / "grey.png")
    (photos / "broken.png").write_bytes(b"not a png")
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(photos / "anim.gif")
    Image.fromarray(rng.integers(0, 255, (20, 30, 4), dtype=np.uint8)).save(photos / "clear.png")
    (photos / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    out = tmp_path / "out"
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(out), "--ply", check=False)
    assert proc.returncode == 1 and "skipped" in proc.stderr and "broken.png" in proc.stderr  # not all done
    assert "phone.heic" in proc.stderr and "convert it to JPEG" in proc.stderr  # named, not silently left out
    assert (out / "anim.depth.exr").is_file() and "clear.png: transparency dropped" in proc.stderr
    depth = exr.read_depth(out / "colour.depth.exr")
    assert depth.shape == (97, 131) and depth.dtype == np.float32 and np.isfinite(depth).all()
    png16 = np.asarray(Image.open(out / "colour.depth16.png"))
    assert png16.dtype == np.uint16 and np.abs(png16 / 1000 - depth).max() <= 0.0006
    assert np.asarray(Image.open(out / "grey.depth.color.png")).shape == (60, 45, 3)
    ply = (out / "grey.ply").read_bytes()
    assert ply.startswith(b"ply\nformat binary_little_endian") and b"element vertex 2700" in ply
    proc = facedepth("predict", str(tmp_path / "missing.jpg"), "--model", str(checkpoint), check=False)
    assert proc.returncode == 2 and "missing.jpg" in proc.stderr
    proc = facedepth("predict", str(photos / "broken.png"), "--model", str(checkpoint), "--out", str(out), check=False)
    assert proc.returncode == 1 and "wrote 0 files" in proc.stderr


def test_predict_reads_16_bit_and_exif_rotated_photos():
    import io

    from facedepth.predict import read_rgb

    ramp = (np.arange(64, dtype=np.uint16) * 1000)[None].repeat(8, 0)  # 0..63000 of 65535
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    buf.seek(0)
    rgb = read_rgb(buf)
    assert rgb.shape == (8, 64, 3) and rgb[0, 0, 0] == 0 and rgb[0, 63, 1] == round(63000 / 257)
    photo = np.zeros((30, 50, 3), np.uint8)
    photo[:, :10] = 255  # a bright band on the left of the sensor image
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="JPEG", exif=exif, quality=95)
    buf.seek(0)
    upright = read_rgb(buf)
    assert upright.shape == (50, 30, 3) and upright[:10].mean() > 200 and upright[-10:].mean() < 50


def test_predict_never_overwrites_and_skips_its_own_outputs(checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photos / "same.jpg")
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(photos / "same.png")
    for _ in range(2):  # a rerun into the input folder must not read its own results as photos
        proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(photos))
        assert "wrote 8 files" in proc.stderr
    assert exr.read_depth(photos / "same.jpg.depth.exr").shape == (40, 40)
    assert exr.read_depth(photos / "same.png.depth.exr").shape == (30, 50)
    # a file of the user's own under an output's name is never replaced: that photo is skipped, named
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(photos / "me.jpg")
    mine = np.full((30, 30), 7, np.uint8)
    Image.fromarray(mine).save(photos / "me.valid.png")
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(photos), check=False)
    assert "me.valid.png" in proc.stderr and "not written by `facedepth predict`" in proc.stderr
    assert np.array_equal(np.asarray(Image.open(photos / "me.valid.png")), mine)
    assert not (photos / "me.depth.exr").exists() and "wrote 8 files" in proc.stderr


def test_bad_checkpoints_and_huge_images_get_clear_errors(checkpoint, tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo)
    (tmp_path / "empty.pt").write_bytes(b"")

    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    for bad, words in (("empty.pt", "not a readable checkpoint"), ("foreign.pt", "not a facedepth checkpoint")):
        proc = facedepth("predict", str(photo), "--model", str(tmp_path / bad), check=False)
        assert proc.returncode == 2 and bad in proc.stderr and words in proc.stderr
    big = tmp_path / "photos"
    big.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(big / "fine.png")
    header = bytearray((big / "fine.png").read_bytes())
    header[16:24] = (20000).to_bytes(4, "big") * 2  # IHDR claims 20000x20000, with a valid checksum
    header[29:33] = zlib.crc32(bytes(header[12:29])).to_bytes(4, "big")
    (big / "bomb.png").write_bytes(bytes(header))
    proc = facedepth("predict", str(big), "--model", str(checkpoint), "--out", str(tmp_path / "o"), check=False)
    assert proc.returncode == 1 and "bomb.png" in proc.stderr and (tmp_path / "o/fine.depth.exr").is_file()
    proc = facedepth(
        "predict", str(photo), "--model", str(checkpoint), "--out", str(tmp_path / "p.png" / "o"), check=False
    )
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_on_a_generated_video(checkpoint, tmp_path):
    video = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for k in range(6):
        writer.write(np.full((60, 80, 3), 30 * k, np.uint8))
    writer.release()
    out = tmp_path / "out.avi"
    proc = facedepth("demo", "--model", str(checkpoint), "--video", str(video), "--out", str(out))
    assert "6 frames" in proc.stderr and "FPS" in proc.stderr
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    assert ok and frame.shape == (60, 160, 3)
    proc = facedepth("demo", "--model", str(checkpoint), "--camera", "7", check=False)
    assert proc.returncode == 2 and "no camera" in proc.stderr and "--video" in proc.stderr


def test_onnx_export_matches_pytorch(checkpoint, tmp_path):
    out = tmp_path / "m.onnx"
    proc = facedepth("export", "--model", str(checkpoint), "--out", str(out))
    diff = float(proc.stderr.strip().split("=")[-1])
    assert diff < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 3, 40, 48]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["facedepth.input"])["size_hw"] == [40, 48] and meta["facedepth.model"] == "facedepth_lite"
    assert json.loads(meta["facedepth.output"])["encoding"] == "log" and "canonical_focal" in meta["facedepth.focal"]


def test_learning_curve_trains_nested_subsets_and_plots(prepared, tmp_path):
    import pandas as pd

    from facedepth.splits import load_split
    from pipeline.curve import subsets

    ids = pd.DataFrame({"identity_id": np.repeat(np.arange(10), 3)})
    tenth, half_, full = subsets(ids, [0.1, 0.5, 1.0], seed=0)
    assert set(tenth) < set(half_) < set(full) == set(range(30)) and (len(tenth), len(half_)) == (3, 15)
    manifest = load_split(prepared, "train")["manifest"]
    small, full = subsets(manifest, [0.5, 1.0], seed=0)
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    params = write_params(tmp_path, tiny_train_params(steps=1))
    facedepth(
        "learning-curve",
        "--params",
        str(params),
        "--prepared",
        str(prepared),
        "--baselines",
        str(tmp_path / "base"),
        "--out",
        str(tmp_path / "curve"),
        "--fraction",
        "0.5",
        "--fraction",
        "1",
    )
    results = json.loads((tmp_path / "curve/results.json").read_text())["results"]
    assert [r["frames"] for r in results] == [len(small), len(full)]
    assert "| mean_face (baseline) |" in (tmp_path / "curve/curve.md").read_text()
    assert Image.open(tmp_path / "curve/curve.png").size[0] > 300
    proc = facedepth(
        "learning-curve",
        "--params",
        str(params),
        "--prepared",
        str(prepared),
        "--baselines",
        str(tmp_path / "none"),
        check=False,
    )
    assert proc.returncode == 2 and "facedepth baselines" in proc.stderr


@pytest.mark.parametrize("canvas_hw", [(480, 640), (640, 480)])
def test_predict_locates_each_person_and_pastes_depth_on_them(checkpoint, frontal, canvas_hw):
    """A render pasted into a larger photo at an offset: located, cropped as in training, predicted, put back on
    the person's pixels only (head, hair, neck, shoulders), NaN elsewhere."""
    from facedepth.predict import Predictor

    predictor = Predictor(checkpoint)
    ih, iw = predictor.input_hw
    h, w = canvas_hw
    for rgb, mask, _ in frontal:
        canvas = np.repeat(np.linspace(60, 180, w, dtype=np.uint8)[None, :, None], h, 0).repeat(3, 2)
        y0, x0 = h // 3, w // 2 - 40
        canvas[y0 : y0 + 160, x0 : x0 + 160] = rgb
        person = np.zeros((h, w), bool)
        person[y0 : y0 + 160, x0 : x0 + 160] = mask > 0
        pred = predictor.predict(canvas, fx=500.0)
        assert pred.depth.shape == pred.valid.shape == (h, w)
        assert pred.faces == 1
        (region,) = pred.regions
        assert abs(region.w / region.h - iw / ih) < 1e-6  # the network's aspect ratio: nothing is stretched
        assert 0.6 < region.w / 160 < 1.6  # framed like the training render the person came from
        x, y, cw, ch = region.box()
        vs, us = np.nonzero(mask)
        assert x <= x0 + us.mean() < x + cw and y <= y0 + vs.mean() < y + ch  # the person is in the crop
        head = np.zeros((h, w), bool)
        head[y0 : y0 + 160, x0 : x0 + 160] = np.isin(mask, HEAD_LABELS)
        assert (pred.valid & head).sum() > 0.9 * head.sum()  # the whole head has depth
        assert (pred.valid & ~person).sum() < 0.25 * pred.valid.sum()  # and little that is not the person
        assert np.isfinite(pred.depth[pred.valid]).all() and np.isnan(pred.depth[~pred.valid]).all()
        assert 0.2 < np.nanmedian(pred.depth) < 5.0


def test_other_framings_of_each_crop_are_averaged_in_its_frame(checkpoint, frontal):
    """`views`: each located crop also predicted zoomed and moved, the maps brought back into the crop's frame and
    averaged. The crop's own view again changes nothing; real other views change the depth a little, never where
    it is valid."""
    from facedepth.predict import Predictor

    rgb = frontal[0][0]
    canvas = np.repeat(np.linspace(60, 180, 320, dtype=np.uint8)[None, :, None], 240, 0).repeat(3, 2)
    canvas[40:200, 100:260] = rgb
    plain = Predictor(checkpoint).predict(canvas, fx=300.0)
    same = Predictor(checkpoint, views=((1.0, 0.0, 0.0),)).predict(canvas, fx=300.0)
    more = Predictor(checkpoint, views=((1.15, 0.0, 0.0), (0.87, 0.0, 0.05))).predict(canvas, fx=300.0)
    assert plain.faces == more.faces == 1
    assert (same.valid == plain.valid).all() and (more.valid == plain.valid).all()
    assert np.allclose(same.depth[plain.valid], plain.depth[plain.valid], rtol=1e-5)
    change = np.abs(more.depth - plain.depth)[plain.valid] / plain.depth[plain.valid]
    assert 0 < np.median(change) < 0.1


def test_a_photo_without_people_is_predicted_whole(checkpoint):
    from facedepth.predict import Predictor

    pred = Predictor(checkpoint).predict(np.full((120, 200, 3), 90, np.uint8))
    assert pred.faces == 0 and pred.valid.all() and np.isfinite(pred.depth).all()


def test_predict_cli_crop_options_and_device(checkpoint, frontal, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:260, 200:360] = frontal[1][0]
    Image.fromarray(canvas).save(photos / "person.png")
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(tmp_path / "a"), "--batch", "2")
    assert "person.png: focal" in proc.stderr and "person(s) located" in proc.stderr
    valid = np.asarray(Image.open(tmp_path / "a/person.valid.png")) > 0
    depth16 = np.asarray(Image.open(tmp_path / "a/person.depth16.png"))
    assert valid.shape == (480, 640) and np.array_equal(depth16 > 0, valid)
    proc = facedepth(
        "predict", str(photos), "--model", str(checkpoint), "--out", str(tmp_path / "b"), "--no-crop", "--fov", "60"
    )
    assert "--fov 60 deg" in proc.stderr and "(--no-crop)" in proc.stderr
    assert (np.asarray(Image.open(tmp_path / "b/person.valid.png")) > 0).all()
    if not torch.cuda.is_available():
        proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--device", "cuda", check=False)
        assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--fov", "200", check=False)
    assert proc.returncode == 2 and "--fov 200" in proc.stderr


def test_evaluate_rgbd_scores_captures_in_every_depth_encoding(checkpoint, frontal, tmp_path):
    """Photo + depth pairs made from renders (resized, JPEG-compressed, PNG mm / EXR m), with bad ones named."""
    import csv

    from facedepth.metrics import depth_metrics
    from facedepth.predict import Predictor

    caps = tmp_path / "caps"
    caps.mkdir()
    rgb, mask, depth = frontal[1]
    big = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_CUBIC)
    big_depth = cv2.resize(np.where(mask > 0, depth, 0), (320, 320), interpolation=cv2.INTER_NEAREST)
    Image.fromarray(big).save(caps / "jpeg_mm.jpg", quality=60)
    Image.fromarray(np.rint(big_depth * 1000).astype(np.uint16)).save(caps / "jpeg_mm.depth.png")
    Image.fromarray(((mask > 0) * 255).astype(np.uint8)).resize((320, 320), Image.NEAREST).save(
        caps / "jpeg_mm.mask.png"
    )
    Image.fromarray(big).save(caps / "png_m.png")
    exr.write_depth(caps / "png_m.depth.exr", np.where(big_depth > 0, big_depth, np.nan).astype(np.float32))
    (caps / "png_m.json").write_text('{"fx": 800}')
    Image.fromarray(big).save(caps / "wrong_size.png")
    Image.fromarray(np.ones((10, 10), np.uint16)).save(caps / "wrong_size.depth.png")
    Image.fromarray(big).save(caps / "no_depth.png")
    Image.fromarray(np.zeros((320, 320), np.uint16)).save(caps / "no_depth.depth.png")
    (caps / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(big).save(caps / "rgb_exr.png")
    exr.write_channels(caps / "rgb_exr.depth.exr", {c: np.ones((320, 320)) for c in "RGB"})  # a colour EXR
    Image.fromarray(big).save(caps / "corrupt_exr.png")
    (caps / "corrupt_exr.depth.exr").write_bytes(b"v/1\x01 not an exr")
    Image.fromarray(big).save(caps / "flat.png")
    Image.fromarray(np.full((320, 320), 1000, np.uint16)).save(caps / "flat.depth.png")  # any fit is exact
    for name, fx in (("bool_fx", "true"), ("tiny_fx", "1e-300")):
        Image.fromarray(big).save(caps / f"{name}.png")
        Image.fromarray(np.rint(big_depth * 1000).astype(np.uint16)).save(caps / f"{name}.depth.png")
        (caps / f"{name}.json").write_text(f'{{"fx": {fx}}}')
    out = tmp_path / "out"
    proc = facedepth(
        "evaluate", "--model", str(checkpoint), "--rgbd", str(caps), "--out", str(out), "--no-crop", check=False
    )
    assert proc.returncode == 1, proc.stderr  # bad captures skipped, each named with the reason
    assert "flat.depth.png: depth is constant" in proc.stderr
    assert "rgb_exr.depth.exr: expected one depth channel (Z, or a single channel), found RGB" in proc.stderr
    assert "corrupt_exr.depth.exr: unreadable depth" in proc.stderr
    assert "bool_fx.json: fx: focal length True is not a number" in proc.stderr
    assert "tiny_fx.json: fx: focal length 1e-300 px gives a 180 deg field of view" in proc.stderr
    assert "wrong_size.depth.png: depth is 10x10 but wrong_size.png is 320x320" in proc.stderr
    assert "no_depth.png: fewer than 10 pixels valid" in proc.stderr and "broken.jpg: unreadable photo" in proc.stderr
    rows = {r["name"]: r for r in csv.DictReader(open(out / "per_image.csv"))}
    assert set(rows) == {"jpeg_mm.jpg", "png_m.png"} and rows["png_m.png"]["focal_source"] == "png_m.json"
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["captures"] == 2 and {"metric_abs_rel", "median_abs_rel", "aligned_abs_rel", "spearman"} <= set(
        summary
    )
    assert Image.open(out / "figure.png").size[0] > 300
    # the metric AbsRel is the prediction against the capture in metres (mm PNG decoded to m, masked)
    pred = Predictor(checkpoint).predict(np.asarray(Image.open(caps / "jpeg_mm.jpg")), None, crop=False)
    valid = (big_depth > 0) & (np.asarray(Image.open(caps / "jpeg_mm.mask.png")) > 0)
    assert float(rows["jpeg_mm.jpg"]["metric_abs_rel"]) == pytest.approx(
        depth_metrics(pred.depth, np.rint(big_depth * 1000) / 1000, valid)["abs_rel"], rel=1e-6
    )
    for key in ("median_abs_rel", "aligned_abs_rel", "spearman"):  # JPEG vs PNG photo, mm PNG vs EXR depth: same scene
        assert float(rows["jpeg_mm.jpg"][key]) == pytest.approx(float(rows["png_m.png"][key]), abs=0.05), key
    assert float(rows["png_m.png"]["aligned_abs_rel"]) <= float(rows["png_m.png"]["median_abs_rel"]) + 0.01
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "broken.jpg").write_bytes(b"x")
    proc = facedepth(
        "evaluate", "--model", str(checkpoint), "--rgbd", str(only_bad), "--out", str(tmp_path / "o2"), check=False
    )
    assert proc.returncode == 2 and "no capture could be evaluated" in proc.stderr
    for run in range(2):  # --out the capture folder: the second run does not take its own figure for a capture
        proc = facedepth("evaluate", "--model", str(checkpoint), "--rgbd", str(caps), "--out", str(caps), check=False)
        assert proc.returncode == 1 and "figure.png:" not in proc.stderr and "skipped 8" in proc.stderr, proc.stderr
    assert json.loads((caps / "metrics.json").read_text())["captures"] == 2


def test_focal_lengths_no_camera_has_are_refused_and_bad_exif_is_ignored(tmp_path):
    from pipeline.predict import FocalError, checked_focal, exif_focal, photo_focal

    assert checked_focal(500, 640, "x") == 500.0
    for bad in (True, 0, -3, float("nan"), float("inf"), 1e-300, 1e9, "800"):
        with pytest.raises(FocalError, match="x: focal length"):
            checked_focal(bad, 640, "x")
    for value in ("fifty", (35, 1), 0, 10**9):  # malformed or implausible FocalLengthIn35mmFilm
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0xA405] = value
        path = tmp_path / "tagged.jpg"
        Image.new("RGB", (64, 48)).save(path, exif=exif)
        assert exif_focal(path, 64, 48) is None, value
        assert "assumed 50 deg" in photo_focal(path, 64, 48, None, None)[1]
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 50
    Image.new("RGB", (64, 48)).save(path, exif=exif)
    assert exif_focal(path, 64, 48)[0] == pytest.approx(50 * 80 / np.hypot(36, 24))


def test_pipes_named_like_photos_are_never_opened(tmp_path):
    """A FIFO named *.jpg blocked predict forever: folders list regular files only, a pipe target is refused."""
    import os

    from pipeline.predict import find_images

    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    os.mkfifo(tmp_path / "b.jpg")
    assert find_images(tmp_path) == [tmp_path / "a.jpg"]
    with pytest.raises(FileNotFoundError, match="b.jpg: not a regular file"):
        find_images(tmp_path / "b.jpg")


def test_evaluate_can_score_only_people_another_split_never_trained_on(checkpoint, prepared, tmp_path):
    """--unseen-by: test people found in a train or val split of another prepared folder are left out."""
    import shutil

    from facedepth.evaluate import evaluate

    plain, _, _ = evaluate(checkpoint, prepared, keep_predictions=0)
    same, _, _ = evaluate(checkpoint, prepared, keep_predictions=0, unseen_by=(prepared,))
    assert same["test_images"] == plain["test_images"] and same["unseen_by"] == [str(prepared)]
    other = tmp_path / "other"
    shutil.copytree(prepared, other)
    shutil.rmtree(other / "train")
    shutil.copytree(other / "test", other / "train")  # a run that trained on this test split's people
    with pytest.raises(ValueError, match="empty after leaving out the people of"):
        evaluate(checkpoint, prepared, keep_predictions=0, unseen_by=(other,))
