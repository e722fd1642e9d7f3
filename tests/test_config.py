import pytest

from conftest import facedepth, tiny_params, write_params
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
    import yaml

    from conftest import ROOT
    from facedepth.train import TrainConfig
    from pipeline.prepare import PrepareParams

    data = yaml.safe_load((ROOT / "params-paper.yaml").read_text())
    p = config.parse(data)
    assert p.frames >= 10_000 and p.identities >= 100 and p.settings.resolution == (640, 480)
    assert PrepareParams.from_params(data).size == (640, 480)
    for model in data["train"]["models"]:
        assert TrainConfig.from_params(data, model).model == model
