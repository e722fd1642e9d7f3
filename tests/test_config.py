import dataclasses
import json

import pytest
import yaml
from conftest import ROOT, facedepth, tiny_params, write_params

from fdcore import schema
from generation import config


def test_defaults_parse():
    p = config.parse(tiny_params())
    assert p.frames == 6 and [len(s) for s in p.shards()] == [3, 3]


@pytest.mark.parametrize(
    "mutate, message",
    [
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
    ],
)
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

    data = config.read(ROOT / "profiles/paper.yaml")
    p = config.parse(data)
    assert p.frames >= 10_000 and p.identities >= 100 and p.settings.resolution == (640, 480)
    assert schema.parse(data).prepare.resolution == (640, 480)
    for model in data["train"]["models"]:
        assert TrainConfig.from_params(data, model).model == model


@pytest.mark.parametrize(
    "section,key,value,words",
    [
        ("camera", "sensor_mm", -36, "render.camera.sensor_mm"),
        ("camera", "sensor_mm", 0, "render.camera.sensor_mm"),
        ("pose", "yaw", [float("nan"), float("nan")], "render.pose.yaw: must be a finite number"),
        ("camera", "shift_m", float("inf"), "render.camera.shift_m: must be a finite number"),
    ],
)
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
    curve = config.read(ROOT / "profiles/curve.yaml")
    a, b = config.parse(default).to_dict(), config.parse(curve).to_dict()
    assert b["identities"] > a["identities"]
    assert {k: v for k, v in a.items() if k != "identities"} == {k: v for k, v in b.items() if k != "identities"}
    assert curve["prepare"] == default["prepare"] and TrainConfig.from_params(curve, "facedepth_lite").steps >= 1000


def test_schema_defaults_equal_params_yaml():
    """One source of defaults: an empty params file means exactly what params.yaml says, in every section."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert schema.parse(data) == schema.parse({}) == schema.Params()
    assert config.parse({"render": {}}) == config.parse(data)


@pytest.mark.parametrize(
    "section, mutate, message",
    [
        ("prepare", lambda s: s.update(resolutoin=[64, 64]), r"prepare: unknown key\(s\) \['resolutoin'\]"),
        ("prepare", lambda s: s.update(resolution=[64, "64"]), r"prepare.resolution: expected int"),
        ("prepare", lambda s: s.update(splits={"train": 0.9, "val": 0.2, "test": 0.1}), "summing to 1"),
        ("prepare", lambda s: s.update(seed=3), "the seed is top-level"),
        ("train", lambda s: s.update(stpes=10), r"train: unknown key\(s\) \['stpes'\]"),
        ("train", lambda s: s.update(lr="3e-4"), r"train.lr: expected float.*write 3.0e-4"),
        ("train", lambda s: s.update(amp="yes"), r"train.amp: expected bool"),
        ("train", lambda s: s["loss"].update(w_ssmi=0.1), r"train.loss: unknown key"),
        ("train", lambda s: s["augment"].update(p_jpeg=2), r"train.augment.p_jpeg: .*a probability"),
        ("train", lambda s: s["augment"].update(zoom=[1.3, 0.7]), r"train.augment.zoom: need \[low, high\]"),
        ("train", lambda s: s["model_cfg"].update(bts_lite={"steps": 0}), r"train.model_cfg.bts_lite"),
        ("train", lambda s: s.update(models="facedepth_lite"), r"train.models: expected a list"),
    ],
)
def test_every_section_is_typed(section, mutate, message):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    mutate(data[section])
    with pytest.raises(schema.ParamsError, match=message):
        schema.parse(data)


def test_a_typo_in_train_stops_the_render_stage_before_rendering(tmp_path):
    """Unknown or mistyped keys in any section fail before work starts, whichever stage reads the file."""
    data = tiny_params()
    data["train"]["batch_szie"] = 4
    params = write_params(tmp_path, data)
    proc = facedepth("render", "--params", str(params), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2 and "train: unknown key(s) ['batch_szie']" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_checkpoint_config_and_frame_json_use_the_schema():
    from facedepth.train import TrainConfig
    from generation.description import frame_from_dict
    from generation.sampling import sample_frame

    cfg = TrainConfig.from_params(yaml.safe_load((ROOT / "params.yaml").read_text()), "bts_lite")
    stored = json.loads(json.dumps(dataclasses.asdict(cfg)))  # a checkpoint's config, lists for tuples
    assert schema.build(TrainConfig, stored, "config") == cfg
    with pytest.raises(schema.ParamsError, match=r"config.loss.gain: expected float"):
        schema.build(TrainConfig, {**stored, "loss": {**stored["loss"], "gain": "high"}}, "config")
    frame = json.loads(json.dumps(sample_frame(config.parse(tiny_params()), 0).to_dict()))
    frame["identity"]["hair_colour"] = "red"
    with pytest.raises(schema.ParamsError, match=r"description.identity: unknown key\(s\) \['hair_colour'\]"):
        frame_from_dict(frame)


def test_profiles_are_short_overlays_and_their_errors_name_the_file(tmp_path):
    for name in ("paper", "curve", "reference"):
        text = (ROOT / "profiles" / f"{name}.yaml").read_text()
        assert "extends: ../params.yaml" in text and len(text.splitlines()) < 40  # an overlay, not a copy
    (tmp_path / "base.yaml").write_text("seed: 3\nrender: {identities: 4}\n")
    (tmp_path / "p.yaml").write_text("extends: base.yaml\nrender: {frames_per_identity: 2}\n")
    assert config.read(tmp_path / "p.yaml") == {"seed": 3, "render": {"identities": 4, "frames_per_identity": 2}}
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(config.ParamsError, match="loop.yaml.*loops back"):
        config.read(tmp_path / "loop.yaml")
    (tmp_path / "dup.yaml").write_text("seed: 1\nseed: 2\n")
    with pytest.raises(config.ParamsError, match="dup.yaml: not valid YAML.*duplicate key 'seed'"):
        config.read(tmp_path / "dup.yaml")


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("seed", -1, "seed: need a whole number"),
        ("seed", 10**100, "seed: need"),
        ("identities", 10**9, "frames is over"),
    ],
)
def test_seeds_and_dataset_sizes_are_checked_before_any_work(key, value, words):
    data = tiny_params()
    if key == "seed":
        data["seed"] = value
    else:
        data["render"][key] = value
    with pytest.raises(config.ParamsError, match=words):
        config.parse(data)


def test_each_generation_registry_covers_exactly_the_params_choices():
    """The schema (stdlib-only, checked before any work) lists the choices; the registries give each one its
    geometry. A choice without geometry, or geometry no params value can reach, fails here."""
    from fdcore import schema
    from generation import expressions, garment, hair

    assert set(garment.CUTS) == set(schema.GARMENTS)
    assert set(expressions.PRESETS) == set(schema.HumanParams().expressions)
    assert set(hair.STYLES) | {"none"} == set(schema.HAIR_STYLES)


@pytest.mark.slow
def test_an_error_inside_a_guarded_block_is_printed_once(tmp_path):
    """`train` outside a project printed its error and then a stray `error: 2` (click's Exit is a
    RuntimeError, caught by the command's own handler)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--model", "unet_simple_lite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == "error: params.yaml: params file not found"


def test_a_loss_that_learns_nothing_is_refused():
    data = tiny_params()
    data["train"]["loss"] = {k: 0.0 for k in ("w_ssim", "w_l1", "w_grad", "w_normal", "w_relief", "w_face")}
    from fdcore import schema

    with pytest.raises(config.ParamsError, match="every depth weight is 0"):
        schema.parse(data)
    # the extra heads' weights (on by default) teach no depth: still refused
    data["train"]["loss"] |= {"w_head_normal": 1.0, "w_head_matte": 1.0}
    with pytest.raises(config.ParamsError, match="every depth weight is 0"):
        schema.parse(data)
