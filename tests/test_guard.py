"""Commands run by hand refuse to replace what a DVC stage owns, unless --force; under dvc repro they write."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml


def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_by_hand_runs_never_silently_replace_dvc_outputs(tmp_path):
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    stages = {"baselines": {"cmd": "facedepth baselines --out reports/baselines", "outs": ["reports/baselines"]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / "reports/baselines").mkdir(parents=True)
    (tmp_path / "reports/baselines/constant").mkdir()
    proc = run("baselines", "--prepared", "nowhere", cwd=tmp_path)
    assert proc.returncode == 2 and "output of the DVC stage `baselines`" in proc.stderr and "--force" in proc.stderr
    assert (tmp_path / "reports/baselines/constant").is_dir()
    proc = run("baselines", "--prepared", "nowhere", "--out", "elsewhere", cwd=tmp_path)  # not tracked: goes on
    assert "DVC stage" not in proc.stderr and "nowhere" in proc.stderr
    proc = run("baselines", "--prepared", "nowhere", "--force", cwd=tmp_path)
    assert "DVC stage" not in proc.stderr and "nowhere" in proc.stderr
    proc = run("baselines", "--prepared", "nowhere", cwd=tmp_path, env={**os.environ, "DVC_STAGE": "baselines"})
    assert "DVC stage" not in proc.stderr and "nowhere" in proc.stderr
