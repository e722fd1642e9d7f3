"""Evaluate, report, predict, demo and export on a really trained tiny checkpoint."""

import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import facedepth, tiny_train_params
from facedepth.evaluate import evaluate
from facedepth.train import TrainConfig, train
from generation import exr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(prepared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    train(TrainConfig.from_params(tiny_train_params(epochs=1), "facedepth"), prepared, folder, folder / "live")
    return folder / "best.pt"


def test_evaluate_writes_metrics_and_report(checkpoint, prepared, tmp_path):
    out = tmp_path / "eval" / "facedepth"
    facedepth("evaluate", "--model", str(checkpoint), "--prepared", str(prepared), "--out", str(out))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["test_images"] > 0 and 0 < summary["metric"]["abs_rel"] < 5
    assert 0 <= summary["scale_invariant"]["delta1"] <= 1 and summary["by_yaw"]
    assert summary["params_M"] > 1 and summary["gmacs_480x640"] > 0.5 and summary["ms_per_frame"] > 0
    facedepth("report", "--model", "facedepth", "--eval-root", str(tmp_path / "eval"), "--prepared", str(prepared),
              "--out", str(tmp_path / "cmp.md"), "--figure", str(tmp_path / "cmp.png"))
    table = (tmp_path / "cmp.md").read_text()
    assert "| facedepth |" in table and "Scale-invariant" in table and "GMACs" in table
    assert Image.open(tmp_path / "cmp.png").size[0] > 300


def test_scale_invariant_metrics_see_through_scale(checkpoint, prepared):
    summary, rows, kept = evaluate(checkpoint, prepared)
    assert summary["scale_invariant"]["abs_rel"] <= summary["metric"]["abs_rel"] + 1e-9 or summary["metric"]["abs_rel"] < 0.05
    assert kept["depth"].shape[0] == len(kept["index"]) > 0


def test_predict_any_photo_and_skip_unreadable(checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8)).save(photos / "colour.jpg", quality=90)
    Image.fromarray(rng.integers(0, 255, (60, 45), dtype=np.uint8)).save(photos / "grey.png")
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    proc = facedepth("predict", str(photos), "--model", str(checkpoint), "--out", str(out), "--ply")
    assert "skipped" in proc.stderr and "broken.png" in proc.stderr
    depth = exr.read_depth(out / "colour.depth.exr")
    assert depth.shape == (97, 131) and depth.dtype == np.float32 and np.isfinite(depth).all()
    png16 = np.asarray(Image.open(out / "colour.depth16.png"))
    assert png16.dtype == np.uint16 and np.abs(png16 / 1000 - depth).max() <= 0.0006
    assert np.asarray(Image.open(out / "grey.depth.color.png")).shape == (60, 45, 3)
    ply = (out / "grey.ply").read_bytes()
    assert ply.startswith(b"ply\nformat binary_little_endian") and b"element vertex 2700" in ply
    proc = facedepth("predict", str(tmp_path / "missing.jpg"), "--model", str(checkpoint), check=False)
    assert proc.returncode == 2 and "missing.jpg" in proc.stderr


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
