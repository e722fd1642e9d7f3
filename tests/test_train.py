"""Real training runs on the tiny prepared splits: reproducibility, resume, checkpoints, logs."""

import json

import numpy as np

import pytest
import torch

from conftest import facedepth, tiny_train_params, write_params
from facedepth.data import BACKGROUND, HEAD_LABELS, Augment, DepthSplit
from facedepth.train import TrainConfig, load_checkpoint, lr_factor, train
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
    # a step schedule does not depend on the total step count, so a 1-step run is an interrupted 3-step run;
    # batch 1 on 2 training frames puts the interruption in the middle of an epoch
    schedule = {"lr_schedule": "step", "lr_step": 1, "lr_gamma": 0.5, "warmup_steps": 0, "batch_size": 1}
    cfg = TrainConfig.from_params(tiny_train_params(steps=3, **schedule), "unet_simple")
    full = train(cfg, prepared, tmp_path / "full", tmp_path / "live_full")
    first = train(TrainConfig.from_params(tiny_train_params(steps=1, **schedule), "unet_simple"), prepared,
                  tmp_path / "resumed", tmp_path / "live_resumed")
    assert first["step"] == 1 and first["epoch"] == 0
    resumed = train(cfg, prepared, tmp_path / "resumed", tmp_path / "live_resumed", resume=True)
    assert resumed["step"] == full["step"] == 3 and resumed["epoch"] == 1 and resumed["lr"] == full["lr"]
    assert full["lr"] == pytest.approx(cfg.lr * 0.5**3)  # the LR for step 4: decayed after steps 1, 2 and 3
    a = torch.load(tmp_path / "full/last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val_loss"] == pytest.approx(full["val_loss"], rel=1e-6)
    logged = json.loads((tmp_path / "live_resumed/metrics.json").read_text())
    assert logged["step"] == 3 and "val_si_abs_rel" in logged


def test_lr_warms_up_then_follows_the_schedule():
    cfg = TrainConfig(model="unet_simple", steps=110, warmup_steps=10, lr_schedule="cosine")
    assert lr_factor(0, cfg) == pytest.approx(0.01) and lr_factor(5, cfg) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(10, cfg) == pytest.approx(1) and lr_factor(60, cfg) == pytest.approx(0.5)
    assert lr_factor(110, cfg) == pytest.approx(0, abs=1e-12)


def test_per_model_steps_and_bad_numbers_are_named():
    data = tiny_train_params(steps=50)
    data["train"]["model_cfg"]["bts"] = {"encoder": "resnet18", "width": 32, "steps": 7}
    assert TrainConfig.from_params(data, "bts").steps == 7
    assert TrainConfig.from_params(data, "bts").model_cfg["bts"] == {"encoder": "resnet18", "width": 32}
    assert TrainConfig.from_params(data, "unet_simple").steps == 50
    for key, value, words in (("lr", "3e-4", "train.lr"), ("steps", 0, "train.steps"), ("steps", "2", "train.steps"),
                              ("warmup_steps", -1, "train.warmup_steps"), ("loss", {"w_ssmi": 0.3}, r"\['w_ssmi'\]"),
                              ("loss", {"w_l1": "0.2"}, "train.loss.w_l1"), ("augment", {"flip": -1}, "augment.flip")):
        with pytest.raises(ValueError, match=words):
            TrainConfig.from_params(tiny_train_params(**{key: value}), "unet_simple")


def test_checkpoint_rebuilds_the_model(prepared, tmp_path):
    cfg = TrainConfig.from_params(tiny_train_params(steps=1), "facedepth")
    train(cfg, prepared, tmp_path / "m", tmp_path / "live")
    model, loaded, state = load_checkpoint(tmp_path / "m/best.pt")
    assert loaded.model == "facedepth" and state["epoch"] == 0
    with torch.no_grad():
        assert model(torch.rand(1, 3, 40, 48)).shape == (1, 1, 20, 24)


def test_cli_train_and_resume_errors(prepared, tmp_path):
    params = write_params(tmp_path, tiny_train_params(steps=1))
    proc = facedepth("train", "--model", "unet_simple", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "m"), "--live", str(tmp_path / "live"))
    assert "steps/s" in proc.stderr and (tmp_path / "m/last.pt").is_file()
    proc = facedepth("train", "--model", "unet_simple", "--resume", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "none"), check=False)
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr
    proc = facedepth("train", "--model", "nope", "--params", str(params), check=False)
    assert proc.returncode == 2 and "unknown model" in proc.stderr
    (tmp_path / "m/last.pt").write_bytes((tmp_path / "m/last.pt").read_bytes()[:1000])  # truncated by a crash
    proc = facedepth("train", "--model", "unet_simple", "--resume", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "m"), check=False)
    assert proc.returncode == 2 and "last.pt: not a readable checkpoint" in proc.stderr


def test_resume_refuses_another_models_checkpoint(prepared, tmp_path):
    train(TrainConfig.from_params(tiny_train_params(steps=1), "unet_simple"), prepared, tmp_path / "m", tmp_path / "l")
    with pytest.raises(ValueError, match="a unet_simple checkpoint cannot resume facedepth"):
        train(TrainConfig.from_params(tiny_train_params(steps=2), "facedepth"), prepared, tmp_path / "m",
              tmp_path / "l", resume=True)


def test_torchrun_distributed_data_parallel_on_cpu(prepared, tmp_path):
    """Two gloo processes: the same entry point trains with DDP, rank 0 writes the checkpoint."""
    import subprocess
    import sys

    params = write_params(tmp_path, tiny_train_params(steps=2, batch_size=1))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "pipeline", "train",
           "--model", "unet_simple", "--prepared", str(prepared), "--params", str(params),
           "--out", str(tmp_path / "m"), "--live", str(tmp_path / "live")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = torch.load(tmp_path / "m/last.pt", weights_only=False)
    assert state["step"] == 2 and state["config"]["steps"] == 2
    assert proc.stderr.count("unet_simple: {") == 1  # only rank 0 reports


def test_person_pixels_beyond_far_are_reported(prepared):
    ds = DepthSplit(prepared, "train", 0.15, 3.0)
    from facedepth.train import warn_out_of_range

    assert warn_out_of_range(ds, TrainConfig(model="facedepth", near_m=0.15, far_m=3.0)) == 0
    person = np.asarray(ds.mask) != BACKGROUND
    median = float(np.median(np.asarray(ds.depth)[person]))
    with pytest.warns(UserWarning, match=r"person pixels \(\d+\.\d+%\).*outside train.near_m..far_m"):
        share = warn_out_of_range(ds, TrainConfig(model="facedepth", near_m=0.15, far_m=median))
    assert 0.3 < share < 0.7


def test_unwritable_out_is_a_clear_error(prepared, tmp_path):
    (tmp_path / "file").write_text("a file where the checkpoint folder should go")
    params = write_params(tmp_path, tiny_train_params(steps=1))
    proc = facedepth("train", "--model", "unet_simple", "--prepared", str(prepared), "--params", str(params),
                     "--out", str(tmp_path / "file" / "m"), check=False)
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr
