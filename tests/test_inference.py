"""Evaluate, report, predict, demo and export on a really trained tiny checkpoint."""

import json
import zlib

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import facedepth, tiny_train_params, write_params
from facedepth.data import half
from facedepth.evaluate import evaluate, score, test_split
from facedepth.train import TrainConfig, train
from generation import exr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(prepared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    train(TrainConfig.from_params(tiny_train_params(steps=1), "facedepth"), prepared, folder, folder / "live")
    return folder / "best.pt"


def test_evaluate_writes_metrics_and_report(checkpoint, prepared, tmp_path):
    out = tmp_path / "eval" / "facedepth"
    facedepth("evaluate", "--model", str(checkpoint), "--prepared", str(prepared), "--out", str(out))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["test_images"] > 0 and 0 < summary["metric"]["abs_rel"] < 5
    assert 0 <= summary["scale_invariant"]["delta1"] <= 1 and summary["by_yaw"]
    assert summary["params_M"] > 1 and summary["gmacs_480x640"] > 0.5 and summary["ms_per_frame"] > 0
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    facedepth("report", "--model", "facedepth", "--eval-root", str(tmp_path / "eval"), "--baselines", str(tmp_path / "base"),
              "--prepared", str(prepared), "--out", str(tmp_path / "cmp.md"), "--figure", str(tmp_path / "cmp.png"))
    table = (tmp_path / "cmp.md").read_text()
    assert "| facedepth |" in table and "Scale-invariant" in table and "GMACs" in table
    assert Image.open(tmp_path / "cmp.png").size[0] > 300


def test_scale_invariant_metrics_see_through_scale(checkpoint, prepared):
    summary, rows, kept = evaluate(checkpoint, prepared)
    ds = test_split(prepared)
    i, d = kept["index"][0], kept["depth"][0]
    gt, mask = half(np.asarray(ds.depth[i])), half(np.asarray(ds.mask[i]))
    plain, doubled = score(d, gt, mask), score(2 * d, gt, mask)
    assert rows[0]["abs_rel"] == pytest.approx(plain["abs_rel"])  # the first row scores the first kept prediction
    assert doubled["abs_rel"] > plain["abs_rel"] + 0.3  # twice as far is wrong in metres...
    for key in ("si_abs_rel", "si_rmse", "relief_mm", "spearman"):  # ...but the same shape
        assert doubled[key] == pytest.approx(plain[key], rel=1e-6), key
    assert summary["shape"]["relief_mm"] > 0 and -1 <= summary["shape"]["spearman"] <= 1


def test_evaluate_refuses_data_of_another_resolution(checkpoint, rendered, tmp_path):
    from pipeline.prepare import PrepareParams, prepare

    other = tmp_path / "prepared32"
    prepare(rendered[1], other, PrepareParams(size=(32, 32), splits={"train": 0.34, "val": 0.33, "test": 0.33},
                                              min_head_pixels=5, seed=0))
    with pytest.raises(ValueError, match="trained on 48x40"):
        evaluate(checkpoint, other)


def test_baselines_command_and_report_verdicts(checkpoint, prepared, tmp_path):
    facedepth("evaluate", "--model", str(checkpoint), "--prepared", str(prepared), "--out", str(tmp_path / "eval/facedepth"))
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    for name in ("constant", "dome", "mean_face"):
        summary = json.loads((tmp_path / "base" / name / "metrics.json").read_text())
        assert summary["baseline"] and summary["test_images"] > 0 and summary["shape"]["relief_mm"] > 0
    assert json.loads((tmp_path / "base/constant/metrics.json").read_text())["shape"]["spearman"] == 0
    facedepth("report", "--model", "facedepth", "--eval-root", str(tmp_path / "eval"), "--baselines", str(tmp_path / "base"),
              "--prepared", str(prepared), "--out", str(tmp_path / "cmp.md"), "--figure", str(tmp_path / "cmp.png"))
    table = (tmp_path / "cmp.md").read_text()
    line = next(row for row in table.splitlines() if row.startswith("| facedepth |"))
    assert "**yes**" in line or "**no**: not better than" in line
    assert "| dome (baseline) |" in table and "| mean_face (baseline) |" in table


def test_predict_any_photo_and_skip_unreadable(checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8)).save(photos / "colour.jpg", quality=90)
    Image.fromarray(rng.integers(0, 255, (60, 45), dtype=np.uint8)).save(photos / "grey.png")
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(out), "--ply", check=False)
    assert proc.returncode == 1 and "skipped" in proc.stderr and "broken.png" in proc.stderr  # not all done
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

    from pipeline.predict import read_rgb

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
        assert "wrote 6 files" in proc.stderr
    assert exr.read_depth(photos / "same.jpg.depth.exr").shape == (40, 40)
    assert exr.read_depth(photos / "same.png.depth.exr").shape == (30, 50)


def test_bad_checkpoints_and_huge_images_get_clear_errors(checkpoint, tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo)
    (tmp_path / "empty.pt").write_bytes(b"")
    import torch

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
    proc = facedepth("predict", str(photo), "--model", str(checkpoint), "--out", str(tmp_path / "p.png" / "o"), check=False)
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
    assert session.get_inputs()[0].shape == [1, 3, 40, 48]


def test_learning_curve_trains_nested_subsets_and_plots(prepared, tmp_path):
    import pandas as pd

    from pipeline.curve import subsets
    from pipeline.prepare import load_split

    ids = pd.DataFrame({"identity_id": np.repeat(np.arange(10), 3)})
    tenth, half_, full = subsets(ids, [0.1, 0.5, 1.0], seed=0)
    assert set(tenth) < set(half_) < set(full) == set(range(30)) and (len(tenth), len(half_)) == (3, 15)
    manifest = load_split(prepared, "train")["manifest"]
    small, full = subsets(manifest, [0.5, 1.0], seed=0)
    facedepth("baselines", "--prepared", str(prepared), "--out", str(tmp_path / "base"))
    params = write_params(tmp_path, tiny_train_params(steps=1))
    facedepth("learning-curve", "--params", str(params), "--prepared", str(prepared), "--baselines",
              str(tmp_path / "base"), "--out", str(tmp_path / "curve"), "--fraction", "0.5", "--fraction", "1")
    results = json.loads((tmp_path / "curve/results.json").read_text())["results"]
    assert [r["frames"] for r in results] == [len(small), len(full)]
    assert "| mean_face (baseline) |" in (tmp_path / "curve/curve.md").read_text()
    assert Image.open(tmp_path / "curve/curve.png").size[0] > 300
    proc = facedepth("learning-curve", "--params", str(params), "--prepared", str(prepared), "--baselines",
                     str(tmp_path / "none"), check=False)
    assert proc.returncode == 2 and "facedepth baselines" in proc.stderr
