"""The photo-context augmentations measured against the geometry they stand for (no data needed: fast)."""

import math

import numpy as np
import pytest

from facedepth.augment import beyond_edges, geometric, only, photo_edge


def coordinates(h: int, w: int) -> np.ndarray:
    """An image whose colour is its own pixel position (x, y, 0): a resampled pixel says where it came from."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys, np.zeros_like(xs)], -1)


@pytest.mark.parametrize("seed", range(8))
def test_photo_edge_hides_part_of_the_image_and_keeps_the_rest(seed):
    image = coordinates(48, 64)
    out, beyond = photo_edge(image, np.random.default_rng(seed))
    assert 0.001 < beyond.mean() < 0.75  # 5-45% of the way across along the normal: a corner triangle or more
    assert np.array_equal(out[~beyond], image[~beyond]) and not np.array_equal(out[beyond], image[beyond])


@pytest.mark.parametrize("degrees", [0, 30, 100, 215, 300])
@pytest.mark.parametrize("corner", [False, True])
def test_beyond_an_edge_each_pixel_copies_the_photo_border_point_straight_across(degrees, corner):
    """What `crops.cut` does where a turned crop leaves the photo: a pixel at p beyond the edge x.n = o copies the
    border point p - (p.n - o) n; beyond a corner, the corner's point. Measured against that formula (in the
    edges' own coordinates) on an image whose colour is its pixel position."""
    h, w = 48, 64
    image = coordinates(h, w)
    a = math.radians(degrees)
    n = [np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])][: 1 + corner]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    edges = [(math.atan2(v[1], v[0]), float(v @ centre) - 8.0) for v in n]  # 8 px before the centre
    out, beyond = beyond_edges(image, edges)
    p = image[..., :2].astype(np.float64)
    border = p.copy()
    for v, (_, o) in zip(n, edges):
        border -= np.minimum(p @ v - o, 0)[..., None] * v
    expected = np.clip(border, 0, [w - 1, h - 1])  # a border point off the image: the image's edge replicated
    assert np.array_equal(beyond, (p @ np.stack(n).T < np.array([o for _, o in edges]) - 1e-9).any(-1))
    assert np.abs(out[..., :2] - expected).max() < 0.05  # remap's 1/32 px grid


def sphere_normals(h: int, w: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame unit normals (OpenCV axes: x right, y down, z away) of a sphere facing the camera, centred on
    the image's centre, and where it is (away from its rim)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (xs - (w - 1) / 2) / r, (ys - (h - 1) / 2) / r
    on = x**2 + y**2 < 0.8
    z = np.sqrt(np.clip(1 - x**2 - y**2, 0, 1))
    return np.stack([x, y, -z], -1).astype(np.float32), on


def test_roll_turns_the_normals_with_the_image():
    """A sphere centred on the image looks the same turned about the centre: after a roll, each pixel's normal
    must be the sphere's normal there again, which it is only if the vectors turn with the pixels."""
    h, w = 64, 80
    normal, on = sphere_normals(h, w, 25.0)
    rgb = np.zeros((h, w, 3), np.uint8)
    depth = np.ones((h, w), np.float32)
    mask = on.astype(np.uint8)
    aug = only(p_roll=1.0, roll=40.0)
    _, _, _, s, moved = geometric(rgb, depth, mask, np.random.default_rng(3), aug, normal, normals=True)
    assert s == 1.0
    inner = on & np.isfinite(moved).all(-1)
    err = np.degrees(np.arccos(np.clip((moved[inner] * normal[inner]).sum(-1), -1, 1)))
    assert np.median(err) < 3.0  # nearest-neighbour resampling: a pixel's worth of the sphere
    _, _, _, _, unturned = geometric(rgb, depth, mask, np.random.default_rng(3), aug, normal, normals=False)
    err = np.degrees(np.arccos(np.clip((unturned[inner] * normal[inner]).sum(-1), -1, 1)))
    assert np.median(err) > 5.0  # the roll was drawn and is large enough to tell


def test_roll_turns_the_image_counter_clockwise_on_screen():
    """A positive roll moves a mark right of the centre upwards (screen y down), as `Crop.roll` does."""
    h, w = 41, 41
    mask = np.zeros((h, w), np.uint8)
    mask[19:22, 34:37] = 1  # a mark 15 px right of the centre
    rgb, depth = np.zeros((h, w, 3), np.uint8), np.ones((h, w), np.float32)
    aug = only(p_roll=1.0, roll=90.0)
    for seed in range(20):
        _, _, m, _ = geometric(rgb, depth, mask, np.random.default_rng(seed), aug)
        rng = np.random.default_rng(seed)  # geometric's draws: the zoom's coin, the roll's coin, the angle
        rng.uniform(), rng.uniform()
        a = math.radians(rng.uniform(-90, 90))
        ys, xs = np.nonzero(m)
        assert len(ys) >= 6
        assert abs(xs.mean() - (20 + 15 * math.cos(a))) < 1 and abs(ys.mean() - (20 - 15 * math.sin(a))) < 1


def test_with_the_new_effects_off_the_random_stream_is_that_of_earlier_versions():
    """p_roll and p_photo_edge at 0 draw nothing: a profile that does not use them trains exactly as before."""
    from facedepth.augment import context

    rgb, depth = np.zeros((32, 32, 3), np.uint8), np.ones((32, 32), np.float32)
    mask = np.zeros((32, 32), np.uint8)
    aug = only(p_zoom=1.0, zoom=(0.8, 1.2), shift=0.1, p_edge=1.0)
    rng, ref = np.random.default_rng(7), np.random.default_rng(7)
    geometric(rgb, depth, mask, rng, aug)
    ref.uniform(), ref.uniform(0.8, 1.2), ref.uniform(-0.1, 0.1, 2)  # the zoom's coin, factor and shift
    context(rgb, depth, mask, rng, aug)
    ref.uniform(), ref.uniform(), ref.uniform(), ref.uniform(0.6, 0.95)  # backdrop, occluder, edge coins, row
    assert rng.uniform() == ref.uniform()
