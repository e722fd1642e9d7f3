"""The public Python API: facedepth.load / Predictor.predict, what it accepts and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import facedepth
from facedepth.checkpoint import REFERENCE, resolve
from facedepth.predict import as_rgb, read_rgb


def test_version_and_lazy_names():
    assert facedepth.__version__.count(".") == 2
    assert facedepth.Predictor.__name__ == "Predictor"
    with pytest.raises(AttributeError):
        facedepth.nothing_here


def test_images_in_every_accepted_form_and_clear_refusals(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    assert np.array_equal(as_rgb(rgb), rgb)
    assert np.array_equal(as_rgb(rgb[..., ::-1], bgr=True), rgb)
    assert np.array_equal(as_rgb(np.dstack([rgb, np.full((6, 8), 9, np.uint8)])), rgb)  # RGBA: alpha dropped
    assert as_rgb(rgb[..., 0]).shape == (6, 8, 3)
    assert np.array_equal(as_rgb(Image.fromarray(rgb)), rgb)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(as_rgb(tmp_path / "a.png"), rgb) and np.array_equal(as_rgb(str(tmp_path / "a.png")), rgb)
    with pytest.raises(TypeError, match="float32.*astype\\(np.uint8\\)"):
        as_rgb(rgb.astype(np.float32) / 255)
    with pytest.raises(TypeError, match="got list"):
        as_rgb([[1, 2, 3]])
    with pytest.raises(ValueError, match="shape"):
        as_rgb(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="60000x1 pixels, a line not a photo"):
        as_rgb(np.zeros((1, 60000, 3), np.uint8))


@pytest.mark.parametrize(
    "mode, values, expect",
    [
        ("F", [[0.0, 0.5, 1.0]], [0, 128, 255]),
        ("F", [[0.0, 127.0, 255.0]], [0, 127, 255]),
        ("I", [[0, 1000, 65535]], [0, 4, 255]),
        ("I", [[0, 50, 200]], [0, 50, 200]),
    ],
)
def test_float_and_32_bit_tiffs_are_read_by_their_range(tmp_path, mode, values, expect):
    path = tmp_path / "x.tif"
    Image.fromarray(np.array(values, np.float32 if mode == "F" else np.int32), mode).save(path)
    assert read_rgb(path)[0, :, 0].tolist() == expect


def test_model_names_folders_files_and_the_shipped_default(tmp_path):
    (tmp_path / "models/m").mkdir(parents=True)
    (tmp_path / "models/m/best.pt").write_bytes(b"x")
    assert resolve("m", tmp_path / "models") == tmp_path / "models/m/best.pt"
    assert resolve(tmp_path / "models/m") == tmp_path / "models/m/best.pt"
    assert resolve(tmp_path / "models/m/best.pt") == tmp_path / "models/m/best.pt"
    with pytest.raises(FileNotFoundError, match="unet_simple_lite: checkpoint not found; train it first"):
        resolve("unet_simple_lite", tmp_path / "models")
    with pytest.raises(FileNotFoundError, match="nope.pt: checkpoint not found"):
        resolve("nope.pt", tmp_path / "models")
    if REFERENCE.is_file():
        assert resolve() == REFERENCE == resolve("reference")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, words",
    [
        (["--fx", "inf"], "--fx inf: need a finite"),
        (["--fx", "nan"], "--fx nan"),
        (["--device", "tpu"], "--device tpu: choose cpu, cuda"),
    ],
)
def test_predict_refuses_impossible_options(tmp_path, args, words):
    from conftest import facedepth as cli

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    proc = cli("predict", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), *args, check=False)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_huge_or_degenerate_photos_are_cut_with_bounded_work():
    import resource

    from facedepth.locate import Locator
    from facedepth.predict import cut, whole_region

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    thin = np.full((1, 60000, 3), 200, np.uint8)  # padded to a square at full size this was 10.8 GB
    out = cut(thin, whole_region(60000, 1, 1.0), (64, 64))
    assert out.shape == (64, 64, 3) and abs(int(out.mean()) - 200) <= 1
    big = np.zeros((9000, 12000, 3), np.uint8)
    heads, prob = Locator()(big)
    assert heads == [] and prob.shape == big.shape[:2]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 1500, grown_mb  # the photo itself is 324 MB; the old path peaked at gigabytes


def test_output_names_never_collide():
    from pathlib import Path

    from pipeline.predict import output_stems

    names = output_stems([Path("a.jpg"), Path("a.png"), Path("a.jpg.png"), Path("b.jpg")])
    assert names == {Path("a.jpg"): "a.jpg", Path("a.png"): "a.png", Path("a.jpg.png"): "a.jpg.png", Path("b.jpg"): "b"}
    assert len(set(names.values())) == len(names)


def test_load_mirrors_by_default_and_a_mirrored_photo_gets_the_mirrored_depth():
    """`facedepth.load()` predicts each crop with its mirror image, as `facedepth predict` does: the photo
    mirrored then gets exactly the depth mirrored (the letterboxed whole photo: no locator in between)."""
    from facedepth.predict import VIEWS

    rgb = read_rgb("docs/photos/grace_hopper.jpg")[::4, ::4]
    steady = facedepth.load()
    assert steady.mirror and steady.views == VIEWS  # and its other framings (pixel rounding breaks exact symmetry)
    mirrored, plain = facedepth.load(views=False), facedepth.load(mirror=False, views=False)
    assert mirrored.mirror and not plain.mirror and not mirrored.views
    a = mirrored.predict(rgb, crop=False).depth
    b = mirrored.predict(np.ascontiguousarray(rgb[:, ::-1]), crop=False).depth
    assert np.allclose(a, b[:, ::-1], rtol=1e-4, equal_nan=True)
    c = plain.predict(rgb, crop=False).depth
    d = plain.predict(np.ascontiguousarray(rgb[:, ::-1]), crop=False).depth
    assert not np.allclose(c, d[:, ::-1], rtol=1e-3)  # the network alone is not symmetric
