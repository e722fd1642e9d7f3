"""The scaling study runner: real one-step trainings on the session's prepared renders, resumable plans."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import facedepth, tiny_train_params, write_params
from PIL import Image

from pipeline.scaling import axes, point_config, read_plan


def write_plan(folder, prepared, points):
    params = write_params(folder, tiny_train_params(steps=1))
    plan = {"params": str(params), "prepared": str(prepared), "tests": {"same": str(prepared)}, "points": points}
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_point_overrides_one_setting_and_its_step_count(tmp_path):
    plan = read_plan(
        write_plan(
            tmp_path,
            tmp_path,
            [
                {"name": "a", "model": "unet_simple_lite", "steps": 3},
                {"name": "b", "model": "unet_simple_lite", "steps": 5, "fraction": 0.5, "train": {"ema": 0.5}},
            ],
        )
    )
    a, b = (point_config(plan, p) for p in plan.points)
    assert (a.steps, b.steps, b.ema, plan.points[1].fraction) == (3, 5, 0.5, 0.5)
    assert a.ema == 0 and a.model_cfg == b.model_cfg == {"unet_simple_lite": {"base": 4}}


@pytest.mark.parametrize(
    "points, says",
    [
        ([{"name": "a", "model": "unet_simple_lite"}], "needs name, model and steps"),
        ([{"name": "a", "model": "x", "steps": 1}] * 2, "used twice"),
        ([{"name": "a", "model": "x", "steps": 1, "fraction": 1.5}], "fraction must lie in (0, 1]"),
    ],
)
def test_bad_plans_are_refused_before_training(tmp_path, points, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_plan(write_plan(tmp_path, tmp_path, points))


def test_axes_pick_the_plain_recipe_of_the_first_model():
    rows = [{"model": "m", "train": {}, "steps": s, "frames": f} for s, f in [(6, 10), (6, 40), (2, 40), (20, 40)]] + [
        {"model": "m", "train": {"ema": 0}, "steps": 2, "frames": 40},
        {"model": "n", "train": {}, "steps": 2, "frames": 40},
    ]
    data, steps = axes(rows, "m")
    assert [r["frames"] for r in data] == [10, 40] and [r["steps"] for r in steps] == [2, 6, 20]
    # a larger render at one step count joins the data axis; the step axis stays where the step counts are
    data, steps = axes([*rows, {"model": "m", "train": {}, "steps": 6, "frames": 80}], "m")
    assert [r["frames"] for r in data] == [10, 40, 80] and [r["steps"] for r in steps] == [2, 6, 20]


def test_scaling_trains_scores_and_keeps_finished_points(prepared, tmp_path):
    plan = write_plan(
        tmp_path,
        prepared,
        [
            {"name": "base", "model": "unet_simple_lite", "steps": 1},
            {"name": "no-ema", "model": "unet_simple_lite", "steps": 1, "train": {"ema": 0.0}},
            {  # a point on other prepared frames, with a normal head
                "name": "normals",
                "model": "unet_simple_lite",
                "steps": 1,
                "prepared": str(prepared),
                "tests": {"same": str(prepared)},
                "train": {"model_cfg": {"unet_simple_lite": {"heads": ["normal"]}}},
            },
        ],
    )
    args = ("scaling", "--plan", str(plan), "--models", str(tmp_path / "m"), "--out", str(tmp_path / "r"))
    facedepth(*args)
    base = tmp_path / "r/points/base.json"
    result = json.loads(base.read_text())
    assert result["frames"] > 0 and result["cpu_hours"] > 0 and -1 <= result["scores"]["same"]["shape.spearman"] <= 1
    normals = json.loads((tmp_path / "r/points/normals.json").read_text())["scores"]["same"]
    assert 0 <= normals["heads.normal.mean_deg"] <= 180 and "heads.matte.iou" not in normals
    table = (tmp_path / "r/scaling.md").read_text()
    assert "| no-ema | unet_simple_lite |" in table and "ema=0.0" in table
    assert "| normals |" in table.split("Extra heads")[1]  # the heads' own scores, in their table
    assert Image.open(tmp_path / "r/scaling.png").size[0] > 300
    before = base.stat().st_mtime_ns
    facedepth(*args)  # a rerun keeps what finished
    assert base.stat().st_mtime_ns == before
    proc = facedepth(*args, "--only", "nope", check=False)
    assert proc.returncode == 2 and "not points of" in proc.stderr
