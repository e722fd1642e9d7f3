"""Shared fixtures: tiny but real params, renders and prepared data."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# a test that uses one of these fixtures needs what its marker names (`make check` leaves those out)
NEEDS = {"rendered": "render", "prepared": "render", "frontal": "render", "checkpoint": "train", "project": "dag"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & set(NEEDS):
            item.add_marker(NEEDS[fixture])


def tiny_params(**render_overrides) -> dict:
    """The project's params.yaml shrunk to a few small frames."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data = copy.deepcopy(data)
    r = data["render"]
    r.update(identities=3, frames_per_identity=2, shard_size=3, workers=1)
    r["settings"].update(resolution=[64, 56], samples=2)
    r.update(render_overrides)
    return data


def write_params(folder: Path, data: dict) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def facedepth(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh interpreter, as a user or DVC would."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd or ROOT, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"facedepth {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """(params file, render root) of a real 6-frame render in 2 shards."""
    folder = tmp_path_factory.mktemp("render")
    params = write_params(folder, tiny_params())
    facedepth("render", "--params", str(params), "--out", str(folder / "renders"))
    return params, folder / "renders"


@pytest.fixture(scope="session")
def prepared(rendered, tmp_path_factory) -> Path:
    """Prepared 48x40 splits of the session render (2 identities train, 1 val... by ratio)."""
    from fdcore.schema import PrepareParams
    from pipeline.prepare import prepare

    out = tmp_path_factory.mktemp("prepared") / "prepared"
    prepare(
        rendered[1],
        out,
        PrepareParams(
            resolution=(48, 40), splits={"train": 0.34, "val": 0.33, "test": 0.33}, min_head_pixels=10, seed=0
        ),
    )
    return out


def tiny_train_params(**train_overrides) -> dict:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    t = data["train"]
    t.update(steps=2, warmup_steps=1, val_every=1, batch_size=2, num_workers=0)
    t["model_cfg"].update(unet_simple_lite={"base": 4}, bts_lite={"encoder": "resnet18", "num_features": 128})
    t.update(train_overrides)
    return data


@pytest.fixture(scope="session")
def checkpoint(prepared, tmp_path_factory):
    """A facedepth_lite checkpoint really trained one step on the session's prepared renders."""
    from facedepth.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("ckpt")
    train(TrainConfig.from_params(tiny_train_params(steps=1), "facedepth_lite"), prepared, folder, folder / "live")
    return folder / "best.pt"


@pytest.fixture(scope="session")
def frontal(tmp_path_factory):
    """Two frontal, neutral 160x160 renders (RGB, mask, depth) a face detector can find."""
    import numpy as np
    from PIL import Image

    from generation import exr

    folder = tmp_path_factory.mktemp("frontal")
    data = tiny_params(identities=2, frames_per_identity=1)
    r = data["render"]
    r["settings"].update(resolution=[160, 160], samples=4)
    r["pose"].update(yaw=[0, 0], pitch=[0, 0], roll=[0, 0], body_yaw=[0, 0])
    r["camera"].update(roll_deg=[0, 0])
    r["human"].update(expressions=["neutral"])
    facedepth("render", "--params", str(write_params(folder, data)), "--out", str(folder / "renders"))
    stems = sorted(str(p).removesuffix(".rgb.png") for p in (folder / "renders").rglob("*.rgb.png"))
    return [
        (
            np.asarray(Image.open(s + ".rgb.png").convert("RGB")),
            np.asarray(Image.open(s + ".mask.png")),
            exr.read_depth(s + ".depth.exr").astype(np.float64),
        )
        for s in stems
    ]
