"""Real training runs on the tiny prepared splits: reproducibility, resume, checkpoints, logs."""

import json

import pytest
import torch

from conftest import facedepth, tiny_train_params, write_params
from facedepth.data import BACKGROUND, HEAD_LABELS, Augment, DepthSplit
from facedepth.train import TrainConfig, load_checkpoint, train
from generation import human

pytestmark = pytest.mark.slow


def test_label_constants_match_the_render_contract():
    assert BACKGROUND == human.BACKGROUND and HEAD_LABELS == human.HEAD_LABELS


def test_dataset_targets_are_half_resolution_and_masked(prepared):
    ds = DepthSplit(prepared, "train", 0.15, 3.0)
    x, y, m, i = ds[0]
    assert x.shape == (3, 40, 48) and y.shape == m.shape == (1, 20, 24)
    assert m.any() and (~m).any() and torch.all((y[m] > 0) & (y[m] < 1)) and torch.all(y[~m] == 0)


def test_flip_moves_image_depth_and_mask_together(prepared):
    ds = DepthSplit(prepared, "train", 0.15, 3.0)
    plain = ds[0]
    ds.augment = Augment(flip=1.0, brightness=0, contrast=0, saturation=0)
    flipped = ds[0]
    assert torch.allclose(flipped[0], plain[0].flip(-1), atol=1e-6)
    assert torch.equal(flipped[1], plain[1].flip(-1)) and torch.equal(flipped[2], plain[2].flip(-1))


def test_training_is_reproducible_and_resume_continues_exactly(prepared, tmp_path):
    # a step schedule does not depend on the total epoch count, so a 1-epoch run is an interrupted 2-epoch run
    schedule = {"lr_schedule": "step", "lr_step": 1, "lr_gamma": 0.5}
    cfg = TrainConfig.from_params(tiny_train_params(**schedule), "unet_simple")
    full = train(cfg, prepared, tmp_path / "full", tmp_path / "live_full")
    first = train(TrainConfig.from_params(tiny_train_params(epochs=1, **schedule), "unet_simple"), prepared,
                  tmp_path / "resumed", tmp_path / "live_resumed")
    assert first["epoch"] == 0
    resumed = train(cfg, prepared, tmp_path / "resumed", tmp_path / "live_resumed", resume=True)
    assert resumed["epoch"] == 1 and resumed["step"] == full["step"] and resumed["lr"] == full["lr"]
    a = torch.load(tmp_path / "full/last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val_loss"] == pytest.approx(full["val_loss"], rel=1e-6)
    logged = json.loads((tmp_path / "live_resumed/metrics.json").read_text())
    assert logged["step"] == 1 and "val_abs_rel" in logged


def test_checkpoint_rebuilds_the_model(prepared, tmp_path):
    cfg = TrainConfig.from_params(tiny_train_params(epochs=1), "facedepth")
    train(cfg, prepared, tmp_path / "m", tmp_path / "live")
    model, loaded, state = load_checkpoint(tmp_path / "m/best.pt")
    assert loaded.model == "facedepth" and state["epoch"] == 0
    with torch.no_grad():
        assert model(torch.rand(1, 3, 40, 48)).shape == (1, 1, 20, 24)


def test_cli_train_and_resume_errors(prepared, tmp_path):
    params = write_params(tmp_path, tiny_train_params(epochs=1))
    proc = facedepth("train", "--model", "unet_simple", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "m"), "--live", str(tmp_path / "live"))
    assert "samples/s" in proc.stderr and (tmp_path / "m/last.pt").is_file()
    proc = facedepth("train", "--model", "unet_simple", "--resume", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "none"), check=False)
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr
    proc = facedepth("train", "--model", "nope", "--params", str(params), check=False)
    assert proc.returncode == 2 and "unknown model" in proc.stderr


def test_torchrun_distributed_data_parallel_on_cpu(prepared, tmp_path):
    """Two gloo processes: the same entry point trains with DDP, rank 0 writes the checkpoint."""
    import subprocess
    import sys

    params = write_params(tmp_path, tiny_train_params(epochs=1, batch_size=1))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "pipeline", "train",
           "--model", "unet_simple", "--prepared", str(prepared), "--params", str(params),
           "--out", str(tmp_path / "m"), "--live", str(tmp_path / "live")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = torch.load(tmp_path / "m/last.pt", weights_only=False)
    n_train = len(DepthSplit(prepared, "train", 0.15, 3.0))
    assert state["step"] == -(-n_train // 2)  # each rank saw half of the data, one sample per step
    assert proc.stderr.count("unet_simple: {") == 1  # only rank 0 reports
