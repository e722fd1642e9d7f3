"""A full disk is a clear error naming the output and the fix, never a crash or a half-written result.

The file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes writes past a size fail as on a full disk, with
no special filesystem or privileges."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile

import pytest
from conftest import ROOT, tiny_train_params, write_params


def facedepth_limited(*args: str, max_bytes: int) -> subprocess.CompletedProcess:
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    # DVC's own hash database (dvclive consults it) starts empty, as on a fresh clone: in a long-used checkout
    # it outgrows the limit and the run fails there, before the write the test is about
    with tempfile.TemporaryDirectory() as site:
        env = {**os.environ, "DVC_SITE_CACHE_DIR": site}
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            preexec_fn=limit,
            env=env,
        )


def test_prepare_onto_a_full_disk_names_it_and_leaves_nothing(rendered, tmp_path):
    """It died with 'Bus error' (memory-mapped writes past the disk) and left its temporary folder."""
    params, renders = rendered
    out = tmp_path / "parent" / "prepared"
    proc = facedepth_limited(
        "prepare",
        "--params",
        str(params),
        "--renders",
        str(renders),
        "--out",
        str(out),
        "--reports",
        str(tmp_path / "reports"),
        max_bytes=20_000,
    )
    assert proc.returncode == 2, proc.stderr
    assert "out of disk space" in proc.stderr and "free space there or choose another --out" in proc.stderr
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    "max_bytes, says", [(30_000, "dvclive could not start its logs"), (800_000, "checkpoint not written")]
)
def test_training_onto_a_full_disk_is_named(prepared, tmp_path, max_bytes, says):
    """torch.save's traceback on a full disk (and DVC's sqlite one before it) became a named error."""
    params = write_params(tmp_path, tiny_train_params(steps=1))
    out = tmp_path / "model"
    proc = facedepth_limited(
        "train",
        "--model",
        "unet_simple_lite",
        "--params",
        str(params),
        "--prepared",
        str(prepared),
        "--out",
        str(out),
        "--live",
        str(tmp_path / "live"),
        max_bytes=max_bytes,
    )
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "is the disk full?" in proc.stderr and "Traceback" not in proc.stderr
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_export_to_an_impossible_path_is_named(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "export", "--out", str(blocker / "model.onnx")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr
