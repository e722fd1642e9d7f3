import pytest
import yaml

from conftest import ROOT, facedepth, tiny_params, write_params
from generation import config


def test_defaults_parse():
    p = config.parse(tiny_params())
    assert p.frames == 6 and [len(s) for s in p.shards()] == [3, 3]


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["pose"].update(yaw=[60, -60]), "inverted range"),
    (lambda r: r["settings"].update(resolution=[0, 256]), "too small"),
    (lambda r: r.update(colour="red"), "unknown key"),
    (lambda r: r["camera"].update(focal_mmm=[30, 50]), "unknown key"),
    (lambda r: r["settings"].update(samples="many"), "expected int"),
    (lambda r: r["human"].update(hair_styles=["mohawk"]), "unknown value"),
    (lambda r: r["lighting"].update(count=[3, 1]), "inverted range"),
    (lambda r: r.update(identities=0), "must be >= 1"),
    (lambda r: r.update(assets_dir="/no/such/dir"), "not a directory"),
    (lambda r: r["human"].update(garments=["toga"]), r"render.human.garments: unknown value"),
    (lambda r: r["human"].update(glasses=1.5), r"render.human.glasses: a share"),
    (lambda r: r["lighting"].update(hdris=["moon"]), r"render.lighting.hdris: unknown value"),
    (lambda r: r["lighting"].update(tint=-0.1), r"render.lighting.tint"),
    (lambda r: r["background"].update(kinds=["beach"]), r"render.background.kinds: unknown value"),
    (lambda r: r["background"].update(hdri_distance_m=[5, 1]), "inverted range"),
])
def test_bad_params_are_rejected_with_the_key_named(mutate, message):
    data = tiny_params()
    mutate(data["render"])
    with pytest.raises(config.ParamsError, match=message):
        config.parse(data)


def test_cli_rejects_bad_params_before_rendering(tmp_path):
    data = tiny_params()
    data["render"]["pose"]["pitch"] = [30, -30]
    params = write_params(tmp_path, data)
    proc = facedepth("render", "--params", str(params), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2
    assert "render.pose.pitch" in proc.stderr and "inverted range" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(config.ParamsError, match="not found"):
        config.load(tmp_path / "nope.yaml")


def test_paper_profile_is_valid():
    from facedepth.train import TrainConfig
    from pipeline.prepare import PrepareParams

    data = yaml.safe_load((ROOT / "params-paper.yaml").read_text())
    p = config.parse(data)
    assert p.frames >= 10_000 and p.identities >= 100 and p.settings.resolution == (640, 480)
    assert PrepareParams.from_params(data).size == (640, 480)
    for model in data["train"]["models"]:
        assert TrainConfig.from_params(data, model).model == model


@pytest.mark.parametrize("section,key,value,words", [
    ("camera", "sensor_mm", -36, "render.camera.sensor_mm"),
    ("camera", "sensor_mm", 0, "render.camera.sensor_mm"),
    ("pose", "yaw", [float("nan"), float("nan")], "render.pose.yaw: must be a finite number"),
    ("camera", "shift_m", float("inf"), "render.camera.shift_m: must be a finite number"),
])
def test_signs_and_finiteness_are_checked(section, key, value, words):
    data = tiny_params()
    data["render"][section][key] = value
    with pytest.raises(config.ParamsError, match=words.replace(".", r"\.")):
        config.parse(data)


def test_unknown_top_level_key_and_directory_params_are_named(tmp_path):
    data = tiny_params()
    data["sead"] = 5
    with pytest.raises(config.ParamsError, match=r"unknown top-level key\(s\) \['sead'\]"):
        config.parse(data)
    with pytest.raises(config.ParamsError, match="pass a params.yaml file"):
        config.load(tmp_path)
    proc = facedepth("prepare", "--params", str(tmp_path), "--renders", str(tmp_path), check=False)
    assert proc.returncode == 2 and "pass a params.yaml file" in proc.stderr


def test_render_into_an_unwritable_out_is_named_before_blender_starts(tmp_path):
    (tmp_path / "file").write_text("a file where the render folder should go")
    params = write_params(tmp_path, tiny_params())
    proc = facedepth("render", "--params", str(params), "--out", str(tmp_path / "file" / "renders"), check=False)
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr


def test_learning_curve_profile_is_the_default_distribution_larger():
    from facedepth.train import TrainConfig

    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    curve = yaml.safe_load((ROOT / "params-curve.yaml").read_text())
    a, b = config.parse(default).to_dict(), config.parse(curve).to_dict()
    assert b["identities"] > a["identities"]
    assert {k: v for k, v in a.items() if k != "identities"} == {k: v for k, v in b.items() if k != "identities"}
    assert curve["prepare"] == default["prepare"] and TrainConfig.from_params(curve, "facedepth_lite").steps >= 1000


def test_code_defaults_equal_params_yaml():
    """One source of defaults: a section left empty means exactly what params.yaml says."""
    from facedepth.train import TrainConfig
    from pipeline.prepare import PrepareParams

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert config.parse({"seed": data["seed"], "render": {}}) == config.parse(data)
    assert PrepareParams.from_params({"seed": data["seed"]}) == PrepareParams.from_params(data)
    written = {k: v for k, v in data["train"].items() if k not in ("models", "model_cfg")}  # no code default
    for model in data["train"]["models"]:
        empty = TrainConfig.from_params({"seed": data["seed"], "train": {}}, model)
        assert empty == TrainConfig.from_params({"seed": data["seed"], "train": written}, model), model
