"""DVC: real `dvc repro` runs, caching behaviour, and the outputs of the default pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, tiny_params

pytestmark = pytest.mark.slow


def _dvc(cwd: Path, *args: str) -> str:
    bindir = str(Path(sys.executable).parent)  # dvc and facedepth live beside this interpreter
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": bindir + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture()
def project(tmp_path):
    """A scratch DVC project running this checkout's dvc.yaml on tiny params."""
    for name in ("generation", "pipeline", "facedepth"):
        (tmp_path / name).symlink_to(ROOT / name)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages["stages"] = {k: v for k, v in stages["stages"].items() if k in ("render", "prepare")}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(stages))
    data = tiny_params()
    data["prepare"] = {"resolution": [32, 32], "splits": {"train": 0.34, "val": 0.33, "test": 0.33}, "min_head_pixels": 10}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    _dvc(tmp_path, "init", "--no-scm", "-q")
    return tmp_path


def _edit(project: Path, section: str, key: str, value) -> None:
    data = yaml.safe_load((project / "params.yaml").read_text())
    target = data[section]
    *path, last = key.split(".")
    for k in path:
        target = target[k]
    target[last] = value
    (project / "params.yaml").write_text(yaml.safe_dump(data))


def test_repro_caches_and_reruns_only_what_changed(project):
    out = _dvc(project, "repro")
    assert "Running stage 'render'" in out and "Running stage 'prepare'" in out
    assert json.loads((project / "reports/dataset/summary.json").read_text())["frames"]["train"] > 0
    out = _dvc(project, "repro")
    assert "Running stage" not in out
    _edit(project, "prepare", "resolution", [24, 24])
    out = _dvc(project, "repro")
    assert "Running stage 'render'" not in out and "Running stage 'prepare'" in out
    _edit(project, "render", "pose.yaw", [-30, 30])
    out = _dvc(project, "repro")
    assert "Running stage 'render'" in out and "Running stage 'prepare'" in out
    assert "reports/dataset/summary.json" in _dvc(project, "metrics", "show")


def test_default_pipeline_outputs():
    """CI runs `dvc repro` on the default params before the tests; check what it produced."""
    lock = ROOT / "dvc.lock"
    assert lock.is_file(), "run `dvc repro` first (CI does)"
    summary = json.loads((ROOT / "reports/dataset/summary.json").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    expected = params["render"]["identities"] * params["render"]["frames_per_identity"]
    assert sum(summary["frames"].values()) + summary["rejected"] == expected
    assert all(v > 0 for v in summary["identities"].values())
    assert (ROOT / "reports/dataset/stats.png").stat().st_size > 10_000
    shown = json.loads(_dvc(ROOT, "metrics", "show", "--json"))
    metric_files = {path for run in shown.values() for path in run.get("data", {})}
    for model in params["train"]["models"]:
        assert f"reports/eval/{model}/metrics.json" in metric_files
        assert f"reports/train/{model}/metrics.json" in metric_files
        assert (ROOT / "models" / model / "best.pt").is_file()
    table = (ROOT / "reports/comparison.md").read_text()
    assert all(f"| {model} |" in table for model in params["train"]["models"])
    assert (ROOT / "reports/comparison.png").stat().st_size > 20_000
