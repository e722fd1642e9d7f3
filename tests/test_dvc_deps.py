"""DVC deps are exact: every project module a stage's code imports is among its `deps` (so DVC never serves
stale results), and no module it does not import is (so an unrelated edit does not rerun it)."""

import ast

import pytest
import yaml
from conftest import ROOT

PACKAGES = ("generation", "pipeline", "facedepth", "fdcore")
# the library modules each stage's CLI command calls (pipeline/cli.py only parses arguments and prints)
STAGE_ENTRIES = {
    "render": ["generation.jobs", "generation.config", "generation.assets", "generation.shard"],
    "prepare": ["pipeline.prepare", "pipeline.stats"],
    "train": ["facedepth.train"],
    "evaluate": ["facedepth.evaluate"],
    "baselines": ["facedepth.scoring"],
    "report": ["pipeline.report"],
}


def _path(module: str):
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_closure(entries: list[str]) -> set[str]:
    """Project files reachable by imports (top-level and lazy) from the entry modules."""
    seen, todo = set(), list(entries)
    while todo:
        module = todo.pop()
        path = _path(module)
        if not path.is_file() or str(path) in seen:
            continue
        seen.add(str(path))
        tree = ast.parse(path.read_text())
        # a package __init__ runs only its top level on import; its functions (the public API) run when called
        nodes = (
            [n for stmt in tree.body if not isinstance(stmt, ast.FunctionDef) for n in ast.walk(stmt)]
            if path.name == "__init__.py"
            else ast.walk(tree)
        )
        for node in nodes:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    parts = name.split(".")
                    todo += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return {str(__import__("pathlib").Path(p).relative_to(ROOT)) for p in seen}


def _top_level_imports(path) -> bool:
    """Whether a package __init__ runs imports when imported (else it cannot change a stage's result)."""
    return any(
        isinstance(stmt, (ast.Import, ast.ImportFrom))
        and not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__")
        for stmt in ast.parse(path.read_text()).body
    )


def _covered(file: str, deps: list[str]) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGE_ENTRIES))
def test_stage_deps_cover_every_module_it_imports(stage):
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    spec = spec.get("do", spec)
    deps = [d for d in spec["deps"] if not d.startswith(("data/", "models/", "reports/"))]
    files = imported_closure(STAGE_ENTRIES[stage])
    ignorable = {f for f in files if f.endswith("__init__.py") and not _top_level_imports(ROOT / f)}
    missing = sorted(f for f in files - ignorable if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage}: add {missing} to its deps"


@pytest.mark.parametrize("stage", sorted(STAGE_ENTRIES))
def test_stage_deps_name_no_module_it_does_not_import(stage):
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    spec = spec.get("do", spec)
    files = imported_closure(STAGE_ENTRIES[stage])
    extra = [d for d in spec["deps"] if d.endswith(".py") and d not in files]
    assert not extra, f"dvc.yaml stage {stage}: {extra} are not imported by its code; remove them from its deps"


def test_a_plain_dvc_repro_never_runs_the_reference_pipeline():
    """No stage of dvc.yaml may depend on an output of reference/dvc.yaml: DVC would run that pipeline too."""
    ref = yaml.safe_load((ROOT / "reference/dvc.yaml").read_text())["stages"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for s in ref.values() for o in s.get("outs", [])]
    outs += [next(iter(m)) for s in ref.values() for m in s.get("metrics", [])]
    for name, spec in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        for dep in spec.get("do", spec)["deps"]:
            clash = [o for o in outs if o == dep or o.startswith(dep.rstrip("/") + "/") or dep.startswith(o + "/")]
            assert not clash, f"dvc.yaml stage {name} depends on {dep}, which holds reference outputs {clash}"
