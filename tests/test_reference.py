"""The shipped reference model: never trained on the people it is scored on; shipped safely and small."""

from __future__ import annotations

import hashlib
import re

import pytest
import torch
from conftest import ROOT

from generation import config
from generation.sampling import sample_identity
from pipeline.prepare import split_identities


def _people(p, ids):
    """Each identity's shape: its macro blend and every face morph weight (what makes a person)."""
    out = []
    for i in ids:
        ident = sample_identity(p, i)
        out.append(
            (
                round(ident.gender, 9),
                round(ident.age, 9),
                tuple(sorted((k, round(v, 9)) for k, v in ident.morphs.items())),
            )
        )
    return out


@pytest.mark.parametrize("profile", ["reference.yaml", "reference-large.yaml"])
def test_reference_training_people_are_not_the_default_test_people(profile):
    default = config.load(ROOT / "params.yaml")
    reference = config.load(ROOT / "profiles" / profile)
    assert reference.seed != default.seed
    test_ids = [
        i
        for i, s in split_identities(
            range(default.identities), config.load_all(ROOT / "params.yaml").prepare.splits, default.seed
        ).items()
        if s == "test"
    ]
    assert len(test_ids) >= 10
    seen = set(_people(reference, range(reference.identities)))
    assert len(seen) == reference.identities  # distinct people (the comparison can tell people apart)
    assert not seen & set(_people(default, test_ids))
    # and the same comparison does catch a leak: the default profile's people recur under its own seed
    assert set(_people(default, test_ids)) <= set(_people(default, range(default.identities)))


def test_the_large_profile_extends_the_reference_people():
    """The scaling study's largest render: the reference's 480 people, then 270 more (people are drawn one by
    one from the seed), so its own held-out people, not the reference's, score the points trained on it."""
    small, large = (config.load(ROOT / "profiles" / p) for p in ("reference.yaml", "reference-large.yaml"))
    assert large.identities > small.identities
    assert _people(large, range(small.identities)) == _people(small, range(small.identities))


def test_shipped_weights_are_weights_only_small_and_match_their_card():
    path = ROOT / "facedepth/weights/reference.pt"
    state = torch.load(path, weights_only=True)
    assert set(state) <= {
        "model",
        "config",
        "step",
        "epoch",
        "best_si_abs_rel",
        "input_size",
        "train_seconds",
        "device",
    }
    assert path.stat().st_size < 25 * 2**20
    card = (ROOT / "facedepth/weights/reference.md").read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in card
    assert f"| schedule | {state['step']} " in card and "optimiser steps" in card and state["config"]["seed"] == 1


def _run_python_block(doc: str, cwd, photos=None) -> str:
    """What the first ```python block of `doc` prints, run as written from `cwd` (photos: where docs/photos is)."""
    import contextlib
    import io

    code = re.search(r"```python\n(.*?)```", (ROOT / doc).read_text(), re.S).group(1)
    if photos is not None:
        code = code.replace('"docs/photos/', f'"{photos}/docs/photos/')
    buf = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(buf):
        exec(compile(code, doc, "exec"), {})
    return buf.getvalue()


def test_readme_python_example_runs():
    """The README's Python snippet, as written, on the shipped model."""
    printed = _run_python_block("README.md", ROOT).split()
    assert printed[0].startswith("(") and int(printed[-2]) >= 1  # Grace Hopper located
    assert 0.3 < float(printed[-1]) < 3.0  # her nearest point, in metres


def test_onnx_example_in_the_docs_runs_on_the_exported_reference(tmp_path):
    from facedepth.export import export_onnx

    assert export_onnx(ROOT / "facedepth/weights/reference.pt", tmp_path / "model.onnx") < 1e-4
    shape, nearest = _run_python_block("docs/inference.md", tmp_path, photos=ROOT).rsplit(" ", 1)
    assert shape.startswith("(64, 64)") and 0.05 < float(nearest) < 5


def test_shipping_again_keeps_identical_weights_byte_for_byte(tmp_path):
    from pipeline.ship import ship

    out = tmp_path / "w.pt"
    card = ship(ROOT / "facedepth/weights/reference.pt", out, {}, None, "profiles/reference.yaml")
    first = out.read_bytes()
    ship(ROOT / "facedepth/weights/reference.pt", out, {}, None, "profiles/reference.yaml")
    assert out.read_bytes() == first and hashlib.sha256(first).hexdigest() in card.read_text()
