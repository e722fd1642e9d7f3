"""The package walls of DESIGN.md: generation/ never imports torch, facedepth/ never imports bpy."""

import subprocess
import sys

import pytest
from conftest import ROOT


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_generation_never_imports_torch_or_facedepth():
    mods = [f"generation.{p.stem}" for p in (ROOT / "generation").glob("*.py") if p.stem != "__init__"]
    mods += [f"generation.blender.{p.stem}" for p in (ROOT / "generation/blender").glob("*.py") if p.stem != "__init__"]
    loaded = _loaded_after_importing(mods)
    assert "bpy" in loaded and not {"torch", "facedepth", "timm"} & loaded


@pytest.mark.slow
def test_facedepth_never_imports_bpy_or_generation():
    mods = [f"facedepth.{p.stem}" for p in (ROOT / "facedepth").glob("*.py") if p.stem != "__init__"]
    mods += [f"facedepth.models.{p.stem}" for p in (ROOT / "facedepth/models").glob("*.py") if p.stem != "__init__"]
    loaded = _loaded_after_importing(mods)
    assert "torch" in loaded and not {"bpy", "generation"} & loaded


def test_fdcore_is_stdlib_only():
    """Both walls let generation/ and facedepth/ import fdcore, so it may import nothing else."""
    mods = [f"fdcore.{p.stem}" for p in (ROOT / "fdcore").glob("*.py") if p.stem != "__init__"]
    added = _loaded_after_importing(mods) - _loaded_after_importing([])  # minus what start-up hooks load
    assert mods and added - set(sys.stdlib_module_names) == {"fdcore"}
