"""DVC: real `dvc repro` runs, caching behaviour, and the outputs of the default pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tiny_params, tiny_train_params

pytestmark = pytest.mark.slow


def _dvc(cwd: Path, *args: str) -> str:
    bindir = str(Path(sys.executable).parent)  # dvc and facedepth live beside this interpreter
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": bindir + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _project(tmp_path: Path, stages_kept: tuple[str, ...] | None) -> Path:
    """A scratch DVC project running this checkout's dvc.yaml (all stages, or those named) on tiny params."""
    for name in ("generation", "pipeline", "facedepth", "fdcore"):
        (tmp_path / name).symlink_to(ROOT / name)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    if stages_kept:
        stages["stages"] = {k: v for k, v in stages["stages"].items() if k in stages_kept}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(stages))
    data = tiny_train_params(steps=1, warmup_steps=0)
    data["render"] = tiny_params()["render"]
    data["prepare"] = {
        "resolution": [32, 32],
        "splits": {"train": 0.34, "val": 0.33, "test": 0.33},
        "min_head_pixels": 10,
    }
    data["train"]["model_cfg"]["densedepth_lite"] = {"encoder": "densenet121"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    _dvc(tmp_path, "init", "--no-scm", "-q")
    return tmp_path


@pytest.fixture()
def project(tmp_path):
    return _project(tmp_path, ("render", "prepare"))


def test_the_whole_dag_runs_on_tiny_params(tmp_path):
    """render -> prepare -> train/evaluate x 4 models, baselines -> report, as `dvc repro` runs them."""
    project = _project(tmp_path, None)
    out = _dvc(project, "repro")
    for stage in (
        "render",
        "prepare",
        "baselines",
        "report",
        *(
            f"{s}@{m}"
            for s in ("train", "evaluate")
            for m in ("facedepth_lite", "unet_simple_lite", "bts_lite", "densedepth_lite")
        ),
    ):
        assert f"Running stage '{stage}'" in out, stage
    table = (project / "reports/comparison.md").read_text()
    assert "| bts_lite |" in table and "| mean_face (baseline) |" in table and "beats every baseline" in table
    assert (project / "reports/training.png").stat().st_size > 10_000  # the models' curves, offline
    assert "Running stage" not in _dvc(project, "repro")


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


def test_committed_default_reports_match_the_default_params():
    """The reports in the repository come from `dvc repro` on the default params.yaml, as dvc.lock records."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert lock["render"]["params"]["params.yaml"]["render"] == params["render"], "rerun `dvc repro` and commit"
    assert lock["prepare"]["params"]["params.yaml"]["prepare"] == params["prepare"], "rerun `dvc repro` and commit"
    summary = json.loads((ROOT / "reports/dataset/summary.json").read_text())
    expected = params["render"]["identities"] * params["render"]["frames_per_identity"]
    assert sum(summary["frames"].values()) + summary["rejected"] == expected
    assert all(v > 0 for v in summary["identities"].values())
    assert (ROOT / "reports/dataset/stats.png").stat().st_size > 10_000
    for model in params["train"]["models"]:
        assert f"train@{model}" in lock and f"evaluate@{model}" in lock
        metrics = json.loads((ROOT / f"reports/eval/{model}/metrics.json").read_text())
        assert metrics["model"] == model and 0 < metrics["test_images"] <= summary["frames"]["test"]
    table = (ROOT / "reports/comparison.md").read_text()
    assert all(f"| {model} |" in table for model in params["train"]["models"])
    assert all(f"| {b} (baseline) |" in table for b in ("constant", "dome", "mean_face"))
    assert (ROOT / "reports/comparison.png").stat().st_size > 20_000
