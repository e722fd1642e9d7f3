"""Prepare stage: validation report, identity-disjoint splits, edge-safe resizing, normalisation."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import facedepth
from PIL import Image

from facedepth.depthnorm import KINDS, DepthNorm, denormalize, normalize
from facedepth.splits import load_split
from fdcore import schema
from fdcore.labels import PARTS
from fdcore.schema import PrepareParams
from generation import exr, human
from pipeline.prepare import prepare, resize_extra, resize_frame, scan, split_identities

PARAMS = PrepareParams(
    resolution=(40, 32), splits={"train": 0.34, "val": 0.33, "test": 0.33}, min_head_pixels=20, seed=0
)


@pytest.fixture()
def renders(rendered, tmp_path):
    root = tmp_path / "renders"
    shutil.copytree(rendered[1], root)
    return root


def test_splits_are_identity_disjoint_and_complete(renders, tmp_path):
    table, rejected = prepare(renders, tmp_path / "prepared", PARAMS)
    assert rejected.empty and len(table) == 6
    ids = {s: set(table.loc[table.split == s, "identity_id"]) for s in ("train", "val", "test")}
    assert (
        ids["train"].isdisjoint(ids["val"])
        and ids["train"].isdisjoint(ids["test"])
        and ids["val"].isdisjoint(ids["test"])
    )
    assert all(ids.values())
    for split in ("train", "val", "test"):
        data = load_split(tmp_path / "prepared", split)
        n = len(data["manifest"])
        assert data["rgb"].shape == (n, 32, 40, 3) and data["depth"].shape == data["mask"].shape == (n, 32, 40)
        assert isinstance(data["rgb"], np.memmap)
        assert data["manifest"]["row"].tolist() == list(range(n))
        normal, matte = data["normal"].astype(np.float32), data["matte"].astype(np.float32)
        assert normal.shape == (n, 32, 40, 3) and matte.shape == (n, 32, 40)
        assert np.allclose(np.linalg.norm(normal, axis=-1), 1, atol=2e-3)  # renormalised after averaging
        person = data["mask"] != human.BACKGROUND
        assert ((matte > 0.5) == person).mean() > 0.95 and matte.min() >= 0 and matte.max() <= 1
        parts = np.asarray(data["parts"])
        assert parts.shape == (n, 32, 40) and parts.dtype == np.uint8
        assert np.all(parts[data["mask"] == human.BACKGROUND] == PARTS["none"])
        assert np.all(parts[data["mask"] == human.FACE] != PARTS["none"])  # every face pixel has its part


def test_renders_without_normals_and_mattes_still_prepare(renders, tmp_path):
    """Renders of format 2 (no parts) keep normals and mattes; format 1 (neither) prepares as before."""
    for f in renders.rglob("*.parts.png"):
        f.unlink()
    table, rejected = prepare(renders, tmp_path / "format2", PARAMS)
    data = load_split(tmp_path / "format2", "train")
    assert rejected.empty and "parts" not in data and {"normal", "matte"} <= set(data)
    for f in [*renders.rglob("*.normal.exr"), *renders.rglob("*.matte.exr")]:
        f.unlink()
    table, rejected = prepare(renders, tmp_path / "prepared", PARAMS)
    assert rejected.empty and len(table) == 6
    data = load_split(tmp_path / "prepared", "train")
    assert "normal" not in data and "matte" not in data and data["depth"].shape[1:] == (32, 40)


def test_resized_normals_average_within_a_label_and_stay_unit():
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = human.FACE
    normal = np.zeros((8, 8, 3), np.float32)
    normal[:, :4] = (0, 0, -1.0)  # the wall faces the camera
    tilt = np.array([0.6, 0, -0.8], np.float32)
    normal[:, 4:] = tilt
    matte = (mask > 0).astype(np.float32)
    _, _, m = resize_frame(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.float32), mask, (3, 3))
    n, a = (resize_extra(k, v, mask, m, (3, 3)) for k, v in (("normal", normal), ("matte", matte)))
    assert np.allclose(n[m == human.FACE], tilt, atol=1e-6) and np.allclose(n[m == 0], (0, 0, -1), atol=1e-6)
    assert np.allclose(a[:, 1], 0.5, atol=1e-6)  # the middle column: half face by area


def test_split_identities_many():
    assignment = split_identities(range(100), {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    counts = pd.Series(assignment).value_counts()
    assert counts["train"] == 70 and counts["val"] == 15 and counts["test"] == 15
    assert assignment == split_identities(reversed(range(100)), {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)


def _break(root, name, how):
    stem = next(root.glob(f"shard_*/{name}.json")).with_suffix("")
    if how == "missing":
        (stem.parent / f"{name}.mask.png").unlink()
    elif how == "corrupt_exr":
        (stem.parent / f"{name}.depth.exr").write_bytes(b"not an exr")
    elif how == "nan":
        path = stem.parent / f"{name}.depth.exr"
        d = exr.read_depth(path)
        d[d.shape[0] // 2] = np.nan
        exr.write_depth(path, d)
    elif how == "empty_head":
        path = stem.parent / f"{name}.mask.png"
        Image.fromarray(np.zeros_like(np.asarray(Image.open(path)))).save(path)
    elif how == "out_of_frame":
        path = stem.parent / f"{name}.mask.png"
        m = np.asarray(Image.open(path)).copy()
        m[:, 0] = human.FACE
        Image.fromarray(m).save(path)
    elif how == "no_json":
        (stem.parent / f"{name}.json").unlink()
    elif how == "bad_json":
        (stem.parent / f"{name}.json").write_text("{")


def test_every_kind_of_bad_frame_is_reported(renders, tmp_path):
    kinds = {
        "f0000000": ("missing", "missing file(s): f0000000.mask.png"),
        "f0000001": ("corrupt_exr", "unreadable EXR depth"),
        "f0000002": ("nan", "NaN depth"),
        "f0000003": ("empty_head", "empty head mask"),
        "f0000004": ("out_of_frame", "head out of frame"),
        "f0000005": ("no_json", "incomplete: no JSON"),
    }
    for name, (how, _) in kinds.items():
        _break(renders, name, how)
    kept, rejected = scan(renders, PARAMS.min_head_pixels)
    assert kept == [] and dict(zip(rejected.frame, rejected.reason)).keys() == kinds.keys()
    for frame, reason in zip(rejected.frame, rejected.reason):
        assert reason.startswith(kinds[frame][1]), (frame, reason)
    with pytest.raises(RuntimeError, match="no usable frames"):
        prepare(renders, tmp_path / "prepared", PARAMS)
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b"{}", b"null", b'{"name": "f0000001", "identity_id": 0}'])
def test_a_frame_json_without_metadata_is_rejected_not_fatal(renders, tmp_path, content):
    next(renders.glob("shard_*/f0000001.json")).write_bytes(content)
    kept, rejected = scan(renders, PARAMS.min_head_pixels)
    assert len(kept) == 5 and rejected.frame.tolist() == ["f0000001"]
    assert "JSON" in rejected.reason[0] and ("unreadable" in rejected.reason[0] or "re-render" in rejected.reason[0])


def test_out_that_holds_the_renders_or_foreign_files_is_refused(renders, tmp_path):
    before = sorted(p.name for p in renders.rglob("*"))
    for out in (renders.parent, renders, renders / "prepared"):
        with pytest.raises(ValueError, match="overlaps --renders"):
            prepare(renders, out, PARAMS)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="nothing was deleted"):
        prepare(renders, mine, PARAMS)
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in renders.rglob("*")) == before
    prepare(renders, tmp_path / "prepared", PARAMS)
    prepare(renders, tmp_path / "prepared", PARAMS)  # its own output is replaced
    assert (tmp_path / "prepared" / "train" / "rgb.npy").is_file()


def test_bad_frames_are_listed_with_reasons_and_good_ones_kept(renders, tmp_path):
    _break(renders, "f0000001", "corrupt_exr")
    _break(renders, "f0000002", "nan")
    _break(renders, "f0000004", "bad_json")
    table, rejected = prepare(renders, tmp_path / "prepared", PARAMS)
    reasons = dict(zip(rejected.frame, rejected.reason))
    assert "unreadable EXR" in reasons["f0000001"] and "NaN" in reasons["f0000002"] and "JSON" in reasons["f0000004"]
    assert sorted(table.name) == ["f0000000", "f0000003", "f0000005"]
    assert len(pd.read_csv(tmp_path / "prepared" / "rejected.csv")) == 3


def test_resize_never_mixes_head_and_background():
    h, w = 60, 80
    mask = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 30) ** 2 + (xx - 37) ** 2 < 17**2
    mask[disc] = human.FACE
    depth = np.where(disc, 0.5 + 0.001 * xx, 2.0).astype(np.float32)
    rgb = np.zeros((h, w, 3), np.uint8)
    for size in ((40, 30), (33, 27), (160, 120)):
        _, d, m = resize_frame(rgb, depth, mask, size)
        head = m == human.FACE
        assert head.any() and (~head).any()
        assert d[head].min() >= 0.5 and d[head].max() <= 0.5 + 0.001 * w
        assert np.all(d[~head] == 2.0)


def test_resize_keeps_background_misses_out_of_head_depth():
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = human.FACE
    depth = np.full((8, 8), np.inf, np.float32)
    depth[mask > 0] = 0.7
    _, d, m = resize_frame(np.zeros((8, 8, 3), np.uint8), depth, mask, (4, 4))
    assert np.all(d[m > 0] == np.float32(0.7)) and np.all(np.isinf(d[m == 0]))


def test_resize_averages_depth_only_within_each_label():
    # face (0.50 m) beside the neck (0.58 m) beside the wall (2 m): every output is one of the three
    mask = np.zeros((50, 70), np.uint8)
    mask[:, 20:40], mask[:, 40:55] = human.FACE, human.BODY
    depth = np.select([mask == human.FACE, mask == human.BODY], [0.50, 0.58], 2.0).astype(np.float32)
    for size in ((28, 20), (27, 19), (13, 9)):
        _, d, m = resize_frame(np.zeros((50, 70, 3), np.uint8), depth, mask, size)
        expected = np.select([m == human.FACE, m == human.BODY], [0.50, 0.58], 2.0).astype(np.float32)
        assert np.array_equal(d, expected), size


def test_resized_mask_stays_centred_on_the_rgb():
    yy, xx = np.mgrid[:256, :256]
    disc = (yy + 0.5 - 101.3) ** 2 + (xx + 0.5 - 131.7) ** 2 < 40**2  # centre in continuous pixel coordinates
    mask = np.where(disc, human.FACE, 0).astype(np.uint8)
    rgb = np.repeat(disc[..., None] * 255, 3, axis=2).astype(np.uint8)
    for out in (128, 100):  # 2x and 2.56x
        rgb_out, _, m = resize_frame(rgb, np.ones((256, 256), np.float32), mask, (out, out))
        scale = 256 / out
        vy, vx = np.nonzero(m == human.FACE)
        weights = rgb_out[..., 0].astype(float)
        ry = (weights * (np.mgrid[:out, :out][0] + 0.5)).sum() / weights.sum() * scale
        assert abs((vx.mean() + 0.5) * scale - 131.7) < 0.25 and abs((vy.mean() + 0.5) * scale - 101.3) < 0.25
        assert abs(ry - 101.3) < 0.25


@pytest.mark.parametrize("kind", KINDS)
def test_normalization_round_trips_numpy_and_torch(kind):
    import torch

    d = np.linspace(0.2, 3.0, 101)
    n = normalize(d, 0.2, 3.0, kind)
    assert sorted([n[0], n[-1]]) == pytest.approx([0, 1]) and np.all(
        np.diff(n) > 0 if kind == "log" else np.diff(n) < 0
    )
    assert np.allclose(denormalize(n, 0.2, 3.0, kind), d, rtol=1e-12)
    t = torch.tensor(d)
    assert torch.allclose(denormalize(normalize(t, 0.2, 3.0, kind), 0.2, 3.0, kind), t)
    if kind == "inverse":  # an affine map of the reference's DepthNorm = far / depth
        assert np.allclose(np.polyval(np.polyfit(3.0 / d, n, 1), 3.0 / d), n)


def test_canonical_focal_makes_depth_over_focal_the_target():
    """Same image through a 2x longer lens from 2x farther: the same trained target, metres recovered by each fx."""
    norm = DepthNorm(0.15, 3.0, "log", canonical_focal=1.0)
    near, far = norm.encode(0.5, norm.scale(128.0, 128)), norm.encode(1.0, norm.scale(256.0, 128))
    assert near == pytest.approx(far)
    assert norm.decode(near, norm.scale(256.0, 128)) == pytest.approx(1.0)
    assert DepthNorm().scale(np.array([100.0, 300.0]), 128).tolist() == [1.0, 1.0]  # off: metric depth as rendered
    with pytest.raises(ValueError, match="canonical_focal"):
        DepthNorm(canonical_focal=-1)


def test_prepare_params_validation():
    with pytest.raises(ValueError, match="summing to 1"):
        schema.parse({"prepare": {"splits": {"train": 0.9, "val": 0.2, "test": 0.1}}})
    with pytest.raises(ValueError, match="unknown key"):
        schema.parse({"prepare": {"size": [64, 64]}})
    for bad, words in (
        ({"resolution": "64"}, "prepare.resolution"),
        ({"resolution": [64.5, 64]}, "prepare.resolution"),
        ({"splits": {"train": 0, "val": 0.5, "test": 0.5}}, "ratios > 0"),
        ({"splits": {"train": 0, "val": 0, "test": 1}}, "ratios > 0"),
    ):
        with pytest.raises(ValueError, match=words):
            schema.parse({"prepare": bad})
    with pytest.raises(ValueError, match="cannot fill the train/val/test splits"):
        split_identities([1, 2], {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)


def test_unwritable_out_is_named_without_a_traceback(renders, tmp_path, rendered):
    (tmp_path / "file").write_text("a file where a folder should go")
    proc = facedepth(
        "prepare",
        "--params",
        str(rendered[0]),
        "--renders",
        str(renders),
        "--out",
        str(tmp_path / "file" / "prepared"),
        "--reports",
        str(tmp_path / "reports"),
        check=False,
    )
    assert proc.returncode == 2 and "cannot write there" in proc.stderr and "Traceback" not in proc.stderr


def test_folders_beside_out_that_this_run_did_not_make_are_never_deleted(renders, tmp_path):
    (tmp_path / "ds.tmp").mkdir()
    (tmp_path / "ds.tmp" / "thesis.txt").write_text("three years")
    shutil.copytree(renders, tmp_path / "ds.old")  # someone's renders, named like the old scheme's leftovers
    prepare(tmp_path / "ds.old", tmp_path / "ds", PARAMS)
    prepare(tmp_path / "ds.old", tmp_path / "ds", PARAMS)  # replacing its own output
    assert (tmp_path / "ds.tmp" / "thesis.txt").read_text() == "three years"
    assert sorted(p.name for p in (tmp_path / "ds.old").rglob("*")) == sorted(p.name for p in renders.rglob("*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "ds.old", "ds.tmp", "renders"]
    assert oct((tmp_path / "ds").stat().st_mode & 0o777) == oct(0o755)


@pytest.mark.parametrize(
    "path, value, words",
    [
        (("head_pose", "yaw"), float("nan"), "head_pose.yaw"),
        (("head_pose", "yaw"), "left", "head_pose.yaw"),
        (("head_pose", "eyes_cam"), [0, 0, 0], "eyes_cam\\[2\\]"),
        (("identity_id",), "abc", "identity_id"),
        (("identity_id",), 10**30, "identity_id"),
        (("identity_id",), [1], "identity_id"),
        (("identity_id",), 1.5, "identity_id"),
        (("description", "camera", "width"), 0, "camera.width"),
        (("K",), [[1, 0], [0, 1]], "K is not"),
    ],
)
def test_bad_numbers_in_a_frame_json_reject_that_frame_only(renders, path, value, words):
    import json

    meta_path = next(renders.glob("shard_*/f0000001.json"))
    meta = json.loads(meta_path.read_text())
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    meta_path.write_text(json.dumps(meta))
    kept, rejected = scan(renders, PARAMS.min_head_pixels)
    assert len(kept) == 5 and rejected.frame.tolist() == ["f0000001"]
    assert re.search(words, rejected.reason[0]), rejected.reason[0]


def test_deeply_nested_json_is_a_rejected_frame(renders):
    next(renders.glob("shard_*/f0000001.json")).write_text("[" * 100000 + "]" * 100000)
    kept, rejected = scan(renders, PARAMS.min_head_pixels)
    assert len(kept) == 5 and "unreadable JSON" in rejected.reason[0]


def test_two_prepares_into_one_folder_cannot_interleave(tmp_path):
    """They collided with 'None: cannot write there (None)'; the second now stops at once, named."""
    from pipeline.prepare import _only_writer

    out = tmp_path / "prepared"
    with _only_writer(out):
        with pytest.raises(RuntimeError, match="another `facedepth prepare` is writing here now"):
            with _only_writer(out):
                pass
    assert list(tmp_path.iterdir()) == []  # the lock goes with the writer
    with _only_writer(out):  # and the next one may write
        pass
