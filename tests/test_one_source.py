"""One spelling per fact: no list of names is written out in two places of the package.

Every tuple, list or set of three or more string literals, and every dict with three or more string keys,
in fdcore, generation, facedepth and pipeline is collected; the same set of names twice means a fact that
can drift. The few repeats left are named below with why they are not one fact.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from conftest import ROOT

PACKAGES = ("fdcore", "generation", "facedepth", "pipeline")
ALLOWED = {
    # field names read from a frame's head pose, not a list of choices
    frozenset({"yaw", "pitch", "roll"}),
    # the metric names: computed in one function, returned by it as a dict
    frozenset({"abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3"}),
    # a rejected frame's table columns, built and read in the same function
    frozenset({"frame", "shard", "reason"}),
    # Blender node input names of the noise texture, set in two materials
    frozenset({"Scale", "Detail", "Distortion"}),
    # the split names and their default ratios (a mapping keyed by the names, checked against them)
    frozenset({"train", "val", "test"}),
    # params choices (fdcore/schema.py, stdlib-only, checked before any work) and the generation registries
    # that give each its geometry; tests/test_config.py asserts each registry covers exactly its choices
    frozenset({"crew", "v_neck", "collared", "hoodie", "jacket"}),
    frozenset({"neutral", "smile", "open_mouth", "blink", "surprise", "frown", "pout", "talk"}),
}


def name_lists():
    seen = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = None
                if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 3:
                    if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                        names = [e.value for e in node.elts]
                elif isinstance(node, ast.Dict) and len(node.keys) >= 3:
                    if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
                        names = [k.value for k in node.keys]
                if names:
                    seen[frozenset(names)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return seen


def test_no_list_of_names_is_spelled_twice():
    twice = {tuple(sorted(k)): v for k, v in name_lists().items() if len(v) > 1 and k not in ALLOWED}
    assert not twice, f"spelled in two places (derive one from the other): {twice}"
