"""Real training runs on the tiny prepared splits: reproducibility, resume, checkpoints, logs."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import facedepth, tiny_train_params, write_params

from facedepth.augment import geometric, only, photometric
from facedepth.checkpoint import TrainConfig, load_checkpoint
from facedepth.data import BACKGROUND, FACE_SKIN, HEAD_LABELS, DepthSplit, output_grid
from facedepth.depthnorm import DepthNorm
from facedepth.train import lr_factor, train
from generation import human

pytestmark = pytest.mark.slow


def test_label_constants_match_the_render_contract():
    assert BACKGROUND == human.BACKGROUND and HEAD_LABELS == human.HEAD_LABELS


def test_dataset_targets_are_half_resolution_and_masked(prepared):
    ds = DepthSplit(prepared, "train")
    x, y, m, face, i = ds[0]
    assert x.shape == (3, 40, 48) and y.shape == m.shape == face.shape == (1, 20, 24)
    assert m.any() and (~m).any() and torch.all((y[m] > 0) & (y[m] < 1)) and torch.all(y[~m] == 0)
    labels = torch.from_numpy(output_grid(np.asarray(ds.mask[0]))[None].copy())
    assert face.any() and torch.equal(face, m & (labels == FACE_SKIN))  # the face-relief loss's pixels


def test_flip_moves_image_depth_and_mask_together(prepared):
    ds = DepthSplit(prepared, "train")
    plain = ds[0]
    ds.augment = only(flip=1.0)
    flipped = ds[0]
    assert torch.allclose(flipped[0], plain[0].flip(-1), atol=1e-6)
    assert torch.equal(flipped[1], plain[1].flip(-1)) and torch.equal(flipped[2], plain[2].flip(-1))


def test_zoom_moves_depth_and_mask_together_without_mixing_and_rescales_the_focal(prepared):
    rgb, depth, mask = (np.asarray(getattr(DepthSplit(prepared, "train"), k)[0]) for k in ("rgb", "depth", "mask"))
    rng = np.random.default_rng(0)
    aug = only(p_zoom=1.0, zoom=(2.0, 2.0), shift=0.0)
    zrgb, zdepth, zmask, s = geometric(rgb, depth, mask, rng, aug)
    assert s == 2.0 and zrgb.shape == rgb.shape and zdepth.shape == depth.shape
    h, w = mask.shape
    v, u = np.mgrid[0:h, 0:w]
    src_v, src_u = (
        np.rint((v - (h - 1) / 2) / 2 + (h - 1) / 2).astype(int),
        np.rint((u - (w - 1) / 2) / 2 + (w - 1) / 2).astype(int),
    )
    agree = zmask == mask[src_v, src_u]
    assert agree.mean() > 0.97  # nearest sampling of the same source pixel (ties at .5 may round either way)
    same = agree & (zmask > 0)
    assert np.mean(zdepth[same] == depth[src_v, src_u][same]) > 0.97
    person = zmask > 0  # every person depth is some input pixel's depth of the same label: nothing interpolated
    for label in np.unique(zmask[person]):
        assert np.isin(zdepth[zmask == label], depth[mask == label]).all()
    out = geometric(rgb, depth, mask, rng, only(p_zoom=1.0, zoom=(0.5, 0.5), shift=0.0))
    assert (out[2][0] == 0).all() and np.isnan(out[1][0]).all()  # outside the render: background, no depth
    # a 2x zoom is a 2x longer focal length: the canonical-focal target is the zoomed depth at half the scale
    norm = DepthNorm(0.01, 10.0, canonical_focal=1.0)
    aug = only(p_zoom=1.0, zoom=(2.0, 2.0), shift=0.0)
    ds = DepthSplit(prepared, "train", norm, aug)
    _, y, m, _, _ = ds[0]
    _, d, _, s = geometric(rgb, depth, mask, np.random.default_rng([ds.seed, 0, 0]), aug)
    expected = norm.encode(output_grid(d).astype(np.float64) * ds.scales[0] / s)
    assert s == 2.0 and m.sum() > 20
    assert np.allclose(y[0][m[0]].numpy(), expected[m[0].numpy()], atol=1e-6)


def test_camera_effects_are_seeded_and_each_one_acts(prepared):
    rgb = np.asarray(DepthSplit(prepared, "train").rgb[0])
    quiet = only()
    assert np.array_equal(photometric(rgb, np.random.default_rng(1), quiet), rgb)
    for key in ("p_gamma", "p_white_balance", "p_blur", "p_motion_blur", "p_noise", "p_chroma", "p_grey", "p_jpeg"):
        aug = dataclasses.replace(quiet, **{key: 1.0})
        a, b = (photometric(rgb, np.random.default_rng(5), aug) for _ in range(2))
        assert np.array_equal(a, b) and not np.array_equal(a, rgb), key
        assert a.dtype == np.uint8 and a.shape == rgb.shape
    grey = photometric(rgb, np.random.default_rng(0), dataclasses.replace(quiet, p_grey=1.0))
    assert np.ptp(grey.astype(int), axis=2).max() <= 1
    noisy = photometric(
        np.full((64, 64, 3), 128, np.uint8),
        np.random.default_rng(0),
        dataclasses.replace(quiet, p_noise=1.0, shot_noise=(0.05, 0.05), read_noise=(0.0, 0.0)),
    )
    assert 0.05 * np.sqrt(128 / 255) * 255 * 0.8 < noisy.std() < 0.05 * np.sqrt(128 / 255) * 255 * 1.2


def test_augment_params_are_checked():
    def augment(section):
        return TrainConfig.from_params({"train": {"augment": section}}, "facedepth_lite").augment

    assert augment({"p_jpeg": 0.5, "jpeg_quality": [40, 90]}).jpeg_quality == (40.0, 90.0)
    for section, words in (
        ({"p_jpg": 0.5}, r"unknown key\(s\) \['p_jpg'\]"),
        ({"p_blur": 1.5}, "p_blur.*probability"),
        ({"zoom": [1.3, 0.7]}, r"zoom: need \[low, high\]"),
        ({"gamma": 1.2}, "gamma: expected a list"),
    ):
        with pytest.raises(ValueError, match=words):
            augment(section)


def test_training_is_reproducible_and_resume_continues_exactly(prepared, tmp_path):
    # a step schedule does not depend on the total step count, so a 1-step run is an interrupted 3-step run;
    # batch 1 on 2 training frames puts the interruption in the middle of an epoch
    schedule = {"lr_schedule": "step", "lr_step": 1, "lr_gamma": 0.5, "warmup_steps": 0, "batch_size": 1}
    cfg = TrainConfig.from_params(tiny_train_params(steps=3, **schedule), "unet_simple_lite")
    full = train(cfg, prepared, tmp_path / "full", tmp_path / "live_full")
    first = train(
        TrainConfig.from_params(tiny_train_params(steps=1, **schedule), "unet_simple_lite"),
        prepared,
        tmp_path / "resumed",
        tmp_path / "live_resumed",
    )
    assert first["step"] == 1 and first["epoch"] == 0
    resumed = train(cfg, prepared, tmp_path / "resumed", tmp_path / "live_resumed", resume=True, allow_changed=True)
    assert resumed["step"] == full["step"] == 3 and resumed["epoch"] == 1 and resumed["lr"] == full["lr"]
    assert full["lr"] == pytest.approx(cfg.lr * 0.5**3)  # the LR for step 4: decayed after steps 1, 2 and 3
    a = torch.load(tmp_path / "full/last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val_loss"] == pytest.approx(full["val_loss"], rel=1e-6)
    logged = json.loads((tmp_path / "live_resumed/metrics.json").read_text())
    assert logged["step"] == 3 and "val_si_abs_rel" in logged


def test_lr_warms_up_then_follows_the_schedule():
    cfg = TrainConfig(model="unet_simple_lite", steps=110, warmup_steps=10, lr_schedule="cosine")
    assert lr_factor(0, cfg) == pytest.approx(0.01) and lr_factor(5, cfg) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(10, cfg) == pytest.approx(1) and lr_factor(60, cfg) == pytest.approx(0.5)
    assert lr_factor(110, cfg) == pytest.approx(0, abs=1e-12)


def test_per_model_steps_and_bad_numbers_are_named():
    data = tiny_train_params(steps=50)
    data["train"]["model_cfg"]["bts_lite"] = {
        "encoder": "resnet18",
        "num_features": 128,
        "steps": 7,
        "warmup_steps": 2,
        "lr": 2.0e-3,
    }
    bts = TrainConfig.from_params(data, "bts_lite")
    assert (bts.steps, bts.warmup_steps, bts.lr) == (7, 2, 2.0e-3)
    assert bts.model_cfg["bts_lite"] == {"encoder": "resnet18", "num_features": 128}  # the build options only
    unet = TrainConfig.from_params(data, "unet_simple_lite")
    assert (unet.steps, unet.warmup_steps, unet.lr) == (50, data["train"]["warmup_steps"], data["train"]["lr"])
    for key, value, words in (
        ("lr", "3e-4", "train.lr"),
        ("steps", 0, "train.steps"),
        ("steps", "2", "train.steps"),
        ("warmup_steps", -1, "train.warmup_steps"),
        ("loss", {"w_ssmi": 0.3}, r"\['w_ssmi'\]"),
        ("loss", {"w_l1": "0.2"}, "train.loss.w_l1"),
        ("augment", {"flip": -1}, "augment.flip"),
        ("depth_norm", "disparity", "train.depth_norm"),
        ("canonical_focal", -1, "train.canonical_focal"),
        ("model_cfg", {"facedepth": {"encoder": "resnet18"}}, r"model_cfg.facedepth.*published"),
        ("model_cfg", {"bts_lite": {"width": 64}}, r"\['width'\].*num_features"),
        ("model_cfg", {"resnet": {}}, "model_cfg.resnet: unknown model"),
        ("model_cfg", {"bts_lite": {"lr": "1e-3"}}, "model_cfg.bts_lite.lr: expected float"),
        ("model_cfg", {"bts_lite": {"steps": 0}}, "model_cfg.bts_lite.steps: need"),
    ):
        with pytest.raises(ValueError, match=words):
            TrainConfig.from_params(tiny_train_params(**{key: value}), "unet_simple_lite")


def test_checkpoint_rebuilds_the_model(prepared, tmp_path):
    cfg = TrainConfig.from_params(tiny_train_params(steps=1), "facedepth_lite")
    train(cfg, prepared, tmp_path / "m", tmp_path / "live")
    model, loaded, state = load_checkpoint(tmp_path / "m/best.pt")
    assert loaded.model == "facedepth_lite" and state["epoch"] == 0
    with torch.no_grad():
        assert model(torch.rand(1, 3, 40, 48)).shape == (1, 1, 20, 24)


def test_cli_train_and_resume_errors(prepared, tmp_path):
    params = write_params(tmp_path, tiny_train_params(steps=1))
    proc = facedepth(
        "train",
        "--model",
        "unet_simple_lite",
        "--prepared",
        str(prepared),
        "--params",
        str(params),
        "--out",
        str(tmp_path / "m"),
        "--live",
        str(tmp_path / "live"),
    )
    assert "steps/s" in proc.stderr and (tmp_path / "m/last.pt").is_file()
    proc = facedepth(
        "train",
        "--model",
        "unet_simple_lite",
        "--resume",
        "--prepared",
        str(prepared),
        "--params",
        str(params),
        "--out",
        str(tmp_path / "none"),
        "--live",
        str(tmp_path / "live-none"),
        check=False,
    )
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr
    proc = facedepth("train", "--model", "nope", "--params", str(params), check=False)
    assert proc.returncode == 2 and "unknown model" in proc.stderr
    (tmp_path / "m/last.pt").write_bytes((tmp_path / "m/last.pt").read_bytes()[:1000])  # truncated by a crash
    proc = facedepth(
        "train",
        "--model",
        "unet_simple_lite",
        "--resume",
        "--prepared",
        str(prepared),
        "--params",
        str(params),
        "--out",
        str(tmp_path / "m"),
        "--live",
        str(tmp_path / "live"),
        check=False,
    )
    assert proc.returncode == 2 and "last.pt: not a readable checkpoint" in proc.stderr


def test_resume_refuses_another_models_checkpoint(prepared, tmp_path):
    train(
        TrainConfig.from_params(tiny_train_params(steps=1), "unet_simple_lite"),
        prepared,
        tmp_path / "m",
        tmp_path / "l",
    )
    with pytest.raises(ValueError, match="a unet_simple_lite checkpoint cannot resume facedepth_lite"):
        train(
            TrainConfig.from_params(tiny_train_params(steps=2), "facedepth_lite"),
            prepared,
            tmp_path / "m",
            tmp_path / "l",
            resume=True,
        )


def test_torchrun_distributed_data_parallel_on_cpu(prepared, tmp_path):
    """Two gloo processes: the same entry point trains with DDP, rank 0 writes the checkpoint."""
    import subprocess
    import sys

    params = write_params(tmp_path, tiny_train_params(steps=2, batch_size=1))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "pipeline",
        "train",
        "--model",
        "unet_simple_lite",
        "--prepared",
        str(prepared),
        "--params",
        str(params),
        "--out",
        str(tmp_path / "m"),
        "--live",
        str(tmp_path / "live"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = torch.load(tmp_path / "m/last.pt", weights_only=False)
    assert state["step"] == 2 and state["config"]["steps"] == 2
    assert proc.stderr.count("unet_simple_lite: {") == 1  # only rank 0 reports


def test_person_pixels_beyond_far_are_reported(prepared):
    ds = DepthSplit(prepared, "train")
    from facedepth.train import warn_out_of_range

    assert warn_out_of_range(ds, TrainConfig(model="facedepth_lite", near_m=0.15, far_m=3.0)) == 0
    person = np.asarray(ds.mask) != BACKGROUND
    median = float(np.median(np.asarray(ds.depth)[person]))
    with pytest.warns(UserWarning, match=r"person pixels \(\d+\.\d+%\).*outside train.near_m..far_m"):
        share = warn_out_of_range(ds, TrainConfig(model="facedepth_lite", near_m=0.15, far_m=median))
    assert 0.3 < share < 0.7


def test_unwritable_out_is_a_clear_error(prepared, tmp_path):
    (tmp_path / "file").write_text("a file where the checkpoint folder should go")
    params = write_params(tmp_path, tiny_train_params(steps=1))
    proc = facedepth(
        "train",
        "--model",
        "unet_simple_lite",
        "--prepared",
        str(prepared),
        "--params",
        str(params),
        "--out",
        str(tmp_path / "file" / "m"),
        "--live",
        str(tmp_path / "live"),
        check=False,
    )
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr


def test_best_checkpoint_is_weights_only_and_loads_safely(prepared, tmp_path):
    train(
        TrainConfig.from_params(tiny_train_params(steps=2), "unet_simple_lite"),
        prepared,
        tmp_path / "m",
        tmp_path / "l",
    )
    best = torch.load(tmp_path / "m/best.pt", weights_only=True)
    last = torch.load(tmp_path / "m/last.pt", weights_only=True)  # resume state is plain data too
    assert "optimizer" not in best and "model" in best and "config" in best
    assert "optimizer" in last


def test_ema_weights_are_shipped_and_resume_exactly(prepared, tmp_path):
    cfg = TrainConfig.from_params(tiny_train_params(steps=4, val_every=2, ema=0.5), "unet_simple_lite")
    train(cfg, prepared, tmp_path / "full", tmp_path / "l1")
    full = torch.load(tmp_path / "full/last.pt", weights_only=True)
    assert full["ema_count"] == 4
    raw, avg = full["raw_model"], full["model"]
    assert any(not torch.equal(raw[k], avg[k]) for k in raw if raw[k].is_floating_point())
    short = dataclasses.replace(cfg, steps=2)
    train(short, prepared, tmp_path / "part", tmp_path / "l2")
    train(cfg, prepared, tmp_path / "part", tmp_path / "l2", resume=True, allow_changed=True)  # average carries on
    assert torch.load(tmp_path / "part/last.pt", weights_only=True)["ema_count"] == 4


def test_a_diverging_run_stops_with_a_clear_error(prepared, tmp_path):
    cfg = TrainConfig.from_params(tiny_train_params(steps=6, lr=1e30, warmup_steps=0), "unet_simple_lite")
    with pytest.raises(FloatingPointError, match=r"training loss became (nan|inf).*lower train.lr"):
        train(cfg, prepared, tmp_path / "m", tmp_path / "l")


def test_resume_with_other_settings_is_refused_unless_asked(prepared, tmp_path):
    short = TrainConfig.from_params(tiny_train_params(steps=1), "unet_simple_lite")
    train(short, prepared, tmp_path / "m", tmp_path / "l")
    other = TrainConfig.from_params(tiny_train_params(steps=2, lr=5e-4), "unet_simple_lite")
    with pytest.raises(ValueError, match=r"other settings \(lr, steps\).*--resume-changed"):
        train(other, prepared, tmp_path / "m", tmp_path / "l", resume=True)
    assert train(other, prepared, tmp_path / "m", tmp_path / "l", resume=True, allow_changed=True)["step"] == 2
    assert torch.load(tmp_path / "m/last.pt", weights_only=True)["config"]["lr"] == 5e-4


def test_init_starts_from_another_runs_weights_and_refuses_a_misfit(prepared, tmp_path):
    """train.init fine-tunes: with a zero learning rate the run ends on exactly the weights it started from."""
    first = TrainConfig.from_params(tiny_train_params(steps=1), "unet_simple_lite")
    train(first, prepared, tmp_path / "a", tmp_path / "la")
    start = torch.load(tmp_path / "a/best.pt", weights_only=True)["model"]
    tuned = dataclasses.replace(first, init=str(tmp_path / "a/best.pt"), lr=0.0, warmup_steps=0)
    train(tuned, prepared, tmp_path / "b", tmp_path / "lb")
    end = torch.load(tmp_path / "b/last.pt", weights_only=True)["model"]
    weights = [k for k in start if start[k].is_floating_point() and "running_" not in k]  # BN statistics move
    assert weights and all(torch.equal(start[k], end[k]) for k in weights)
    other = dataclasses.replace(tuned, model_cfg={"unet_simple_lite": {"base": 8}})
    with pytest.raises(ValueError, match="train.init .* do not fit unet_simple_lite"):
        train(other, prepared, tmp_path / "c", tmp_path / "lc")


def test_context_augmentation_hides_what_it_covers():
    """New backdrop: the person's inner pixels keep their colour, the background changes; an occluder or the
    photo's edge turns the pixels it hides into background (out of the loss); depth is never touched."""
    from facedepth.augment import context

    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:64, 16:48] = human.BODY
    mask[8:36, 20:44] = human.FACE
    rgb = np.full((64, 64, 3), 100, np.uint8)
    depth = np.where(mask > 0, 0.5, 2.0).astype(np.float32)
    out, d, m = context(rgb, depth, mask, rng, only(p_background=1.0), donor=None)
    assert np.array_equal(d, depth) and np.array_equal(m, mask)
    inner = np.zeros_like(mask, bool)
    inner[12:32, 24:40] = True
    assert (out[inner] == 100).all() and (out[mask == 0] != 100).any(axis=-1).mean() > 0.5
    _, _, m = context(rgb, depth, mask, np.random.default_rng(1), only(p_occluder=1.0))
    assert ((mask == human.FACE) & (m == BACKGROUND)).any() and (m[mask == 0] == 0).all()
    out, _, m = context(rgb.copy(), depth, mask, np.random.default_rng(2), only(p_edge=1.0))
    cut = np.flatnonzero((m != mask).any(1))
    assert len(cut) and (m[cut[0] :] == BACKGROUND).all() and (out[cut[0] :] == out[cut[0] - 1]).all()


def test_a_batch_that_cannot_fit_fails_before_training_with_the_numbers():
    """One paper-profile step took 11.2 GB; a batch the machine cannot hold is named before the run starts."""
    from facedepth.memory import available_bytes, bytes_per_image, check_batch_fits, state_bytes
    from facedepth.models import build

    model = build("unet_simple_lite", base=8).train()
    cpu = torch.device("cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small, large = (bytes_per_image(model, hw) for hw in ((64, 64), (256, 256)))
    assert large == pytest.approx(16 * small, rel=0.05)  # activations grow with the pixels
    first = next(model.modules())
    assert first.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    # at least the network's own output and the first layer's (8 channels at full or half resolution)
    assert large > 4 * (128 * 128 + 8 * 128 * 128) and state_bytes(model) == 16 * sum(
        p.numel() for p in model.parameters()
    )
    assert available_bytes(cpu) > 0
    check_batch_fits(model, (256, 256), 4, cpu, available=100 * large)
    with pytest.raises(MemoryError, match=r"train.batch_size 64 at 256x256 needs about .* \(at most [0-9]+\)"):
        check_batch_fits(model, (256, 256), 64, cpu, available=10 * large + state_bytes(model))


def test_ema_warmup_forgets_the_first_weights():
    """At decay 0.999 a 2,000-step run kept 13% of its first weights (scaling study: test Spearman 0.70 with
    the average, 0.86 without); with warm-up the decay grows as (1 + n) / (10 + n) and they fade at once."""
    from torch.optim.swa_utils import AveragedModel

    from facedepth.train import ema_decay, ema_update

    assert ema_decay(0.999, False, 0) == 0.999 and ema_decay(0.999, True, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, True, 10**6) == 0.999
    kept = {}
    for warmup in (False, True):
        model = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.zeros_(model.weight)
        ema = AveragedModel(model, multi_avg_fn=ema_update(0.999, warmup), use_buffers=True)
        ema.update_parameters(model)  # the first weights (0) are copied
        with torch.no_grad():
            model.weight.fill_(1.0)  # then training moves them to 1 and keeps them there
        for _ in range(2000):
            ema.update_parameters(model)
        kept[warmup] = 1 - ema.module.weight.item()
    assert kept[False] == pytest.approx(0.999**2000, rel=1e-3) and kept[True] < 0.01 * kept[False]


def test_training_loss_is_logged_every_log_every_steps(prepared, tmp_path):
    """The loss curve has a point every train.log_every steps (and the last), validation its own points."""
    import pandas as pd

    cfg = TrainConfig.from_params(tiny_train_params(steps=5, val_every=4, log_every=2), "unet_simple_lite")
    train(cfg, prepared, tmp_path / "m", tmp_path / "live")
    metrics = tmp_path / "live" / "plots" / "metrics"
    assert pd.read_csv(metrics / "train_loss.tsv", sep="\t")["step"].tolist() == [2, 4, 5]
    assert pd.read_csv(metrics / "val_si_abs_rel.tsv", sep="\t")["step"].tolist() == [4, 5]
