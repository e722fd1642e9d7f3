"""Nothing executed, nothing written through a link: checkpoints load weights only, writes replace links."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import facedepth

from facedepth.checkpoint import TrainConfig, load_checkpoint, read_state, weights_only
from fdcore.files import atomic_path, atomic_write_text


class Payload:
    """What a hostile checkpoint carries: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_checkpoint(tmp_path):
    marker = tmp_path / "pwned"
    model = TrainConfig(model="unet_simple_lite", model_cfg={"unet_simple_lite": {"base": 4}}).build_model()
    state = {"model": model.state_dict(), "config": {"model": "unet_simple_lite"}, "step": 1, "x": Payload(marker)}
    path = tmp_path / "evil.pt"
    torch.save(state, path)
    return path, marker


def test_a_checkpoint_with_a_code_payload_is_refused_not_run(tmp_path):
    path, marker = _evil_checkpoint(tmp_path)
    for load in (read_state, load_checkpoint):
        with pytest.raises(ValueError, match="evil.pt: refused to load"):
            load(path)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["predict", "IMG", "--out", "OUT"],
        ["export", "--out", "OUT/m.onnx"],
        ["evaluate", "--out", "OUT"],
        ["demo", "--video", "IMG"],
    ],
)
def test_every_command_refuses_a_hostile_checkpoint(tmp_path, command):
    path, marker = _evil_checkpoint(tmp_path)
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    args = [a.replace("IMG", str(tmp_path / "a.png")).replace("OUT", str(tmp_path / "out")) for a in command]
    proc = facedepth(*args, "--model", str(path), check=False)
    assert proc.returncode != 0 and "refused to load" in proc.stderr, proc.stderr[-800:]
    assert not marker.exists()


def test_weights_only_keeps_what_inference_needs():
    state = {
        "model": {"w": torch.zeros(2)},
        "optimizer": {"state": {}},
        "scheduler": {},
        "scaler": {},
        "config": {"model": "x"},
        "step": 3,
        "epoch": 0,
        "best_si_abs_rel": 0.1,
        "input_size": [8, 8],
    }
    assert set(weights_only(state)) == {"model", "config", "step", "epoch", "best_si_abs_rel", "input_size"}
    assert set(weights_only({**state, "train_seconds": 1.0, "raw_model": {}})) - set(state) == {"train_seconds"}


def test_atomic_writes_replace_a_planted_link_and_never_write_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo.valid.png").symlink_to(victim)
    (out / ".photo.valid.png.tmp").symlink_to(victim)  # the old fixed temporary name
    atomic_write_text(out / "photo.valid.png", "new")
    assert victim.read_text() == "precious"
    assert not (out / "photo.valid.png").is_symlink() and (out / "photo.valid.png").read_text() == "new"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    atomic_write_text(target, "new")
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.slow
def test_locator_training_refuses_a_hostile_checkpoint_to_start_from(tmp_path, prepared):
    path, marker = _evil_checkpoint(tmp_path)
    args = ["--prepared", str(prepared), "--out", str(tmp_path / "out"), "--steps", "1", "--batch", "1"]
    proc = facedepth("locator-train", *args, "--init", str(path), check=False)
    assert proc.returncode != 0 and "refused to load" in proc.stderr, proc.stderr[-800:]
    assert not marker.exists()
