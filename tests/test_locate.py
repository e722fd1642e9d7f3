"""The person locator: scene composition, crop geometry, head maps, the shipped weights and training."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch


def _tiles(n: int = 3, size: int = 64):
    """Render-like tiles: a head disc above a shoulder block, labelled as the data contract does."""
    from fdcore.labels import CLOTHES, FACE, HAIR

    rgb = np.zeros((n, size, size, 3), np.uint8)
    mask = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cv2.rectangle(mask[i], (8, 44), (56, 63), int(CLOTHES), -1)
        cv2.circle(mask[i], (32, 26), 14, int(FACE), -1)
        cv2.ellipse(mask[i], (32, 18), (14, 8), 0, 180, 360, int(HAIR), -1)
        rgb[i] = np.where(mask[i][..., None] > 0, 200 - 40 * i, 30)
    return rgb, mask


def test_scenes_are_reproducible_and_their_labels_follow_the_pixels():
    from facedepth.scenes import compose

    rgb, mask = _tiles()
    a = compose(np.random.default_rng(5), rgb, mask, (96, 128), people=2)
    b = compose(np.random.default_rng(5), rgb, mask, (96, 128), people=2)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.person, b.person) and len(a.placed) == 2
    assert not (a.head & (a.person == 0)).any()  # a head pixel belongs to a person
    for k, placed in enumerate(a.placed, 1):  # each person's pixels lie where the affine put its tile's person
        tile = (mask[placed.index] > 0)[:, ::-1] if placed.flip else mask[placed.index] > 0
        where = cv2.warpAffine(tile.astype(np.uint8), placed.matrix, (128, 96), flags=cv2.INTER_NEAREST) > 0
        assert ((a.person == k) & ~where).sum() == 0
    empty = compose(np.random.default_rng(0), rgb, mask, (96, 128), people=0)
    assert not empty.person.any() and not empty.head.any() and empty.placed == []


@pytest.mark.parametrize("roll", [-40.0, 0.0, 25.0])
def test_a_turned_crop_is_seen_upright_and_pasted_back_in_place(roll):
    """Geometry of cut and paste against an analytic scene: a tile turned `roll` degrees into a photo comes out of
    `cut` upright as it went in, and `paste` puts a map of the crop back on the same photo pixels."""
    from facedepth.predict import Crop, cut, paste
    from facedepth.scenes import tile_matrix

    rng = np.random.default_rng(1)
    tile = cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
    h, w = 240, 320
    centre, height = (150.3, 110.7), 128.0
    m = tile_matrix((64, 64), centre, height, roll)
    photo = cv2.warpAffine(tile, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # tile_matrix maps OpenCV pixel centres; Crop centres are in pixel-edge coordinates (+0.5)
    c = m @ np.array([31.5, 31.5, 1.0])
    crop = Crop(c[0] + 0.5, c[1] + 0.5, height, height, roll)
    seen = cut(photo, crop, (64, 64)).astype(np.float64)
    inner = (slice(6, 58), slice(6, 58))
    assert np.abs(seen[inner] - tile[inner]).mean() < 6.0  # upright again, up to two bilinear resamplings
    us, vs = np.meshgrid(np.arange(32.0), np.arange(32.0))
    to_photo = m @ np.diag([2.0, 2.0, 1.0]) + np.array([[0, 0, m[0, :2].sum() * 0.5], [0, 0, m[1, :2].sum() * 0.5]])
    for ramp in (us.astype(np.float32), vs.astype(np.float32)):  # map pixel u, then v, of a (32, 32) crop map
        depth, valid = np.full((h, w), np.nan, np.float32), np.zeros((h, w), bool)
        paste(depth, valid, crop, ramp)
        expect = cv2.warpAffine(ramp, to_photo, (w, h), flags=cv2.INTER_LINEAR, borderValue=np.nan)
        both = valid & np.isfinite(expect)
        assert both.sum() > 0.8 * valid.sum() > 0.5 * height**2
        assert np.abs(depth[both] - expect[both]).max() < 0.05  # the same crop pixel, to 1/20 of a map pixel
        assert np.isnan(depth[~valid]).all()


@pytest.mark.parametrize("roll", [0.0, 30.0, -90.0])
def test_other_framings_of_a_crop_line_up_in_its_frame(roll):
    """`reframed` moves and zooms a crop along its own axes; `moved` brings a map of that view back into the
    crop's frame: on a linear ramp photo, the same values as the crop's own view wherever the other view reaches."""
    from facedepth.crops import Crop, moved, reframed

    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)
    ramp = 0.7 * xs + 0.3 * ys

    def view(crop: Crop) -> np.ndarray:
        return cv2.warpAffine(ramp, crop.matrix((48, 48)), (48, 48), flags=cv2.INTER_LINEAR)

    crop = Crop(160.0, 120.0, 96.0, 96.0, roll)
    a = math.radians(roll)
    for zoom, dx, dy in ((1.25, 0.0, 0.0), (0.8, 0.0, 0.0), (1.0, 0.1, 0.0), (1.1, -0.05, 0.08)):
        other = reframed(crop, zoom, dx, dy)
        # the centre moves along the crop's own x (cos, -sin) and y (sin, cos) axes, in crop widths
        assert other.x == pytest.approx(160 + 96 * (dx * math.cos(a) + dy * math.sin(a)))
        assert other.y == pytest.approx(120 + 96 * (-dx * math.sin(a) + dy * math.cos(a)))
        assert other.w == pytest.approx(96 / zoom) and other.roll == roll
        back = moved(view(other), other, crop)
        reach = np.isfinite(back)
        assert 0.4 < reach.mean() <= 1.0 and (reach.all() or zoom > 1 or dx or dy)
        assert np.abs(back[reach] - view(crop)[reach]).max() < 0.6  # bilinear twice, on a ramp of 0.76/px


def test_heads_from_maps_separates_people_and_reads_size_and_roll():
    from facedepth.locate import heads_from_maps

    head = np.zeros((30, 40), np.float32)
    cv2.circle(head, (10, 12), 4, 1.0, -1)
    cv2.circle(head, (30, 15), 2, 1.0, -1)
    a = np.radians(np.where(np.arange(40) < 20, 30.0, -10.0))[None].repeat(30, 0)
    heads = heads_from_maps(head, np.cos(a), np.sin(a), scale=4.0)
    assert len(heads) == 2 and heads[0].size > heads[1].size  # largest first
    assert abs(heads[0].x - 10.5 * 4) < 1 and abs(heads[0].y - 12.5 * 4) < 1
    assert abs(heads[0].size - math.sqrt(head[:, :20].sum()) * 4) < 0.5
    assert abs(heads[0].roll - 30) < 1e-6 and abs(heads[1].roll + 10) < 1e-6
    assert heads_from_maps(np.zeros((30, 40)), np.ones((30, 40)), np.zeros((30, 40)), 4.0) == []


def test_touching_heads_are_told_apart_and_one_head_stays_whole():
    """Two heads side by side make one blob on the coarse map: cut at the narrows between them, each found
    near its own centre; a long head (hair), a round one and thin specks stay one region each."""
    from facedepth.locate import head_regions, heads_from_maps

    head = np.zeros((30, 40), np.float32)
    cv2.circle(head, (8, 10), 5, 1.0, -1)
    cv2.circle(head, (21, 11), 5, 1.0, -1)
    head[9:12, 8:22] = 1.0  # a bridge three pixels thick
    ones, zeros = np.ones_like(head), np.zeros_like(head)
    heads = heads_from_maps(head, ones, zeros, scale=1.0)
    assert len(heads) == 2
    assert sorted(round(h.x) for h in heads) == pytest.approx([8, 21], abs=1.5)
    assert sum(h.size**2 for h in heads) == pytest.approx(float(head.sum()), rel=0.25)  # every pixel in one
    single = np.zeros((30, 40), bool)
    cv2.ellipse(single.view(np.uint8), (20, 8), (12, 3), 10, 0, 360, 1, -1)
    cv2.circle(single.view(np.uint8), (10, 22), 5, 1, -1)
    single[25:27, 30] = True  # a speck under three pixels across
    count, labels = head_regions(single)
    parts = [int((labels == k).sum()) for k in range(1, count) if (labels == k).any()]
    blobs = np.bincount(cv2.connectedComponents(single.view(np.uint8))[1].ravel())[1:]
    assert sorted(parts) == sorted(int(n) for n in blobs)  # the same three regions, pixel for pixel in size


def test_centre_peaks_tell_heads_apart_where_the_head_map_cannot():
    """Two heads overlapping deep into each other have no narrows between them (one head by the distance
    rule); a centre map with two peaks cuts them, each found near its own centre; one peak keeps a two-lobed
    blob whole, a peak under CENTRE_PEAK is none, and a blob without one is no head."""
    from facedepth.locate import CENTRE_PEAK, heads_from_maps

    head = np.zeros((30, 40), np.float32)
    cv2.circle(head, (15, 12), 6, 1.0, -1)
    cv2.circle(head, (23, 13), 5, 1.0, -1)
    ones, zeros = np.ones_like(head), np.zeros_like(head)
    assert len(heads_from_maps(head, ones, zeros, scale=1.0)) == 1
    ys, xs = np.mgrid[0:30, 0:40]

    def peaks(*centres, height=1.0):
        return np.max([height * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 2.0) for x, y in centres], axis=0)

    heads = heads_from_maps(head, ones, zeros, scale=1.0, centre=peaks((15, 12), (23, 13)).astype(np.float32))
    assert sorted(round(h.x) for h in heads) == pytest.approx([15, 23], abs=1.5)
    assert heads[0].size > heads[1].size  # the larger head first
    one = heads_from_maps(head, ones, zeros, scale=1.0, centre=peaks((18, 12)).astype(np.float32))
    assert len(one) == 1
    weak = peaks((15, 12)) + peaks((23, 13), height=0.9 * CENTRE_PEAK)
    assert len(heads_from_maps(head, ones, zeros, scale=1.0, centre=weak.astype(np.float32))) == 1
    none = peaks((15, 12), height=0.9 * CENTRE_PEAK).astype(np.float32)  # a blob with no head's centre
    assert heads_from_maps(head, ones, zeros, scale=1.0, centre=none) == []


def test_centre_targets_peak_on_each_visible_head(prepared):
    """The centre map a locator learns: one peak of 1 on the map pixel of each visible head's centroid, none
    for a person whose head is out of sight."""
    from facedepth.locate import OUT_STRIDE
    from facedepth.locate_train import MIN_HEAD_PX, centre_map, targets
    from facedepth.scenes import compose
    from facedepth.splits import load_split

    split = load_split(prepared, "train", mmap=True)
    rng = np.random.default_rng(3)
    seen = 0
    for _ in range(6):
        scene = compose(rng, split["rgb"], split["mask"], (128, 160), people=2)
        c = centre_map(scene)
        assert np.array_equal(targets(scene, centres=True)[4], c) and targets(scene).shape[0] == 4
        for k in range(1, len(scene.placed) + 1):
            py, px = np.nonzero(scene.head & (scene.person == k))
            if len(px) < MIN_HEAD_PX:
                continue
            seen += 1
            x, y = int((px.mean() + 0.5) / OUT_STRIDE), int((py.mean() + 0.5) / OUT_STRIDE)
            assert c[y, x] == 1.0
        assert int((c == 1.0).sum()) <= len(scene.placed)
    assert seen >= 4


def test_framing_constants_match_the_renders(rendered):
    """FRAME and DOWN (how a depth crop is framed around a head) come from the renders' label maps."""
    from PIL import Image

    from facedepth.locate import DOWN, FRAME, framing

    masks = np.stack([np.asarray(Image.open(p)) for p in sorted(rendered[1].rglob("*.mask.png"))])
    frame, down = framing(masks)
    assert abs(frame - FRAME) < 0.35 * FRAME and abs(down - DOWN) < 0.2


def test_the_shipped_locator_finds_renders_at_any_roll_and_marks_the_person(frontal):
    from facedepth.locate import Locator
    from facedepth.scenes import tile_matrix
    from fdcore.labels import HEAD_LABELS

    locator = Locator()
    for rgb, mask, _ in frontal:
        for roll in (-40.0, 0.0, 40.0):
            photo = np.repeat(np.linspace(40, 200, 640, dtype=np.uint8)[None, :, None], 480, 0).repeat(3, 2)
            m = tile_matrix(mask.shape, (300, 260), 300, roll)
            person = cv2.warpAffine((mask > 0).astype(np.uint8), m, (640, 480), flags=cv2.INTER_NEAREST) > 0
            alpha = person[..., None]
            photo = np.where(alpha, cv2.warpAffine(rgb, m, (640, 480), flags=cv2.INTER_LINEAR), photo)
            heads, prob = locator(photo)
            assert heads, f"roll {roll}: nobody found"
            hd = heads[0]
            assert person[int(hd.y), int(hd.x)], f"roll {roll}: head centre off the person"
            assert abs(hd.roll - roll) < 20, (roll, hd.roll)
            # the refined head against the true one (the head labels' centroid and sqrt(pixels)), and the
            # whole-photo pass alone beside it
            head = cv2.warpAffine(np.isin(mask, HEAD_LABELS).astype(np.uint8), m, (640, 480), flags=cv2.INTER_NEAREST)
            ys, xs = np.nonzero(head)
            size = math.sqrt(len(xs))
            coarse = locator.refined(photo, [])  # nothing to refine: nothing comes back
            assert coarse == []
            coarse = Locator(refine=False)(photo)[0][0]
            for found in (hd, coarse):
                off = math.hypot(found.x - xs.mean() - 0.5, found.y - ys.mean() - 0.5) / size
                print(f"roll {roll}: refine {found is hd}: offset {off:.3f}, size {found.size / size:.3f}")
            assert math.hypot(hd.x - xs.mean() - 0.5, hd.y - ys.mean() - 0.5) < 0.08 * size  # 0.003-0.021 seen
            assert 0.85 < hd.size / size < 1.15  # 0.955-0.970 seen
            # a head near the photo's edge (its 1.5 head-size square leaves the photo) keeps its whole-photo measure
            edge = np.ascontiguousarray(photo[:, 240:])
            near = Locator(refine=False)(edge)[0]
            assert near and [vars(k) for k in locator(edge)[0]] == [vars(k) for k in near]
            found = prob > 0.5
            iou = (found & person).sum() / (found | person).sum()
            print(f"roll {roll}: IoU {iou:.2f}, found roll {hd.roll:.1f}")
            assert iou > 0.45, (roll, iou)


def test_a_photo_without_people_has_no_heads():
    from facedepth.locate import Locator

    rng = np.random.default_rng(0)
    flat = np.full((480, 640, 3), 128, np.uint8)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    locator = Locator()
    for photo in (flat, noise):
        heads, prob = locator(photo)
        assert heads == [] and prob.shape == (480, 640) and (prob > 0.5).mean() < 0.05


def test_no_head_is_found_in_the_padding_below_or_beside_the_photo():
    """A photo whose sides are no multiple of 16 is padded (its last rows and columns repeated) before the
    network: a head the maps put there is not in the photo. Noise photos saved as JPEG, the first of which
    once gave a head centred three pixels below its bottom edge."""
    import io

    from PIL import Image

    from facedepth.locate import Locator

    locator = Locator()
    for seed, (h, w) in enumerate([(97, 131), (61, 45), (150, 201), (233, 97)]):
        noise = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, "JPEG", quality=90)
        photo = np.asarray(Image.open(buf).convert("RGB"))
        y, scale, _ = locator.maps(photo)
        assert y.shape[1] * scale > h or y.shape[2] * scale > w  # the maps reach past the photo
        assert all(0 <= hd.x < w and 0 <= hd.y < h for hd in locator(photo)[0])


def test_recoloured_clothes_change_colour_keep_their_shading_and_nothing_else_changes():
    from facedepth.metrics import spearman
    from facedepth.scenes import compose, recoloured
    from fdcore.labels import CLOTHES

    rgb, mask = _tiles(1)
    shade = np.linspace(60, 220, 64).astype(np.uint8)[None, :, None]  # light falling off across the garment
    tile = np.where(mask[0][..., None] == CLOTHES, np.clip(shade * [1.0, 0.9, 0.8], 0, 255), rgb[0]).astype(np.uint8)
    clothes = mask[0] == CLOTHES
    hues = set()
    for seed in range(6):
        out = recoloured(tile, mask[0], np.random.default_rng(seed))
        assert np.array_equal(out[~clothes], tile[~clothes])
        v_in, v_out = tile[clothes].max(-1).astype(float), out[clothes].max(-1).astype(float)
        assert spearman(v_out, v_in, np.ones_like(v_in, bool)) > 0.95  # shading kept
        hues.add(int(cv2.cvtColor(out[clothes][None], cv2.COLOR_RGB2HSV)[0, :, 0].mean()) // 20)
    assert len(hues) >= 3  # many hues, not one tint
    a = compose(np.random.default_rng(5), rgb, mask, (96, 128), people=2, recolour=1.0)
    b = compose(np.random.default_rng(5), rgb, mask, (96, 128), people=2)
    assert not np.array_equal(a.rgb, b.rgb)


def test_locator_training_resumes_and_refuses_other_settings(prepared, tmp_path):
    from facedepth.checkpoint import read_state
    from facedepth.locate import Locator
    from facedepth.locate_train import LocatorConfig, train_locator

    cfg = LocatorConfig(steps=2, batch=2, base=4, hw=(64, 80))
    scores = train_locator(prepared, tmp_path, cfg, [], log=lambda m: None)
    assert set(scores) == {"located", "heads", "false_per_scene", "frame_offset"}
    assert read_state(tmp_path / "best.pt", kind="locator")["step"] == 2
    with pytest.raises(ValueError, match="a locator checkpoint where a depth one"):
        read_state(tmp_path / "best.pt")
    with pytest.raises(ValueError, match="other settings"):
        train_locator(prepared, tmp_path, LocatorConfig(steps=3, batch=2, base=8, hw=(64, 80)), [], log=print)
    longer = LocatorConfig(steps=2, batch=2, base=4, hw=(64, 80))
    logs = []
    train_locator(prepared, tmp_path, longer, [], log=logs.append)
    assert logs[0] == "resumed at step 2"
    heads, prob = Locator(tmp_path / "best.pt")(np.zeros((40, 50, 3), np.uint8))
    assert prob.shape == (40, 50)
    tuned = LocatorConfig(steps=1, batch=2, base=4, hw=(64, 80), lr=0.0, recolour=1.0, init=str(tmp_path / "best.pt"))
    logs = []
    train_locator(prepared, tmp_path / "tuned", tuned, [], log=logs.append)
    assert logs[0] == f"started from {tmp_path / 'best.pt'}"
    before, after = (read_state(p, kind="locator")["model"] for p in (tmp_path / "best.pt", tmp_path / "tuned/best.pt"))
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)
    # a centre map added to a 4-map locator: its old maps start as they were, the new one at a 0.1 peak prior
    centred = LocatorConfig(steps=1, batch=2, base=4, hw=(64, 80), lr=0.0, init=str(tmp_path / "best.pt"), centres=True)
    train_locator(prepared, tmp_path / "centred", centred, [], log=lambda m: None)
    wide = read_state(tmp_path / "centred/best.pt", kind="locator")["model"]
    assert torch.equal(wide["out.weight"][:4], before["out.weight"]) and torch.equal(
        wide["out.bias"][:4], before["out.bias"]
    )
    assert wide["out.bias"][4].item() == pytest.approx(-2.2) and not wide["out.weight"][4].any()
    locator = Locator(tmp_path / "centred/best.pt")
    assert locator.maps(np.zeros((40, 50, 3), np.uint8))[0].shape[0] == 5
    narrowed = LocatorConfig(steps=1, batch=2, base=4, hw=(64, 80), init=str(tmp_path / "centred/best.pt"))
    with pytest.raises(ValueError, match="with --centres"):
        train_locator(prepared, tmp_path / "narrowed", narrowed, [], log=lambda m: None)


def test_onnx_runtime_gives_the_torch_numbers(checkpoint):
    from facedepth.predict import Predictor

    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 2)
    a = Predictor(checkpoint).predict(photo)
    b = Predictor(checkpoint, runtime="onnx").predict(photo)
    assert np.array_equal(a.valid, b.valid)
    assert np.allclose(a.depth[a.valid], b.depth[b.valid], rtol=1e-3)
    with pytest.raises(ValueError, match="onnx on the cpu"):
        Predictor(checkpoint, runtime="tensorrt")
    assert torch.get_num_threads() >= 1
