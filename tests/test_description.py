import json

import numpy as np
import pytest
from conftest import tiny_params

from generation import config, geometry, human
from generation.description import frame_from_dict
from generation.sampling import sample_frame


@pytest.fixture(scope="module")
def params():
    return config.parse(tiny_params(identities=20, frames_per_identity=5))


def test_same_seed_same_description_and_seed_changes_it(params):
    a = sample_frame(params, 7).to_dict()
    assert json.dumps(a) == json.dumps(sample_frame(params, 7).to_dict())
    other = config.parse({**tiny_params(identities=20, frames_per_identity=5), "seed": 1})
    assert sample_frame(other, 7).to_dict() != a


def test_identity_is_stable_across_its_frames(params):
    frames = [sample_frame(params, i) for i in range(10, 15)]
    assert len({json.dumps(f.identity.__dict__, sort_keys=True) for f in frames}) == 1
    assert sample_frame(params, 15).identity != frames[0].identity
    assert len({f.head_pose_deg["yaw"] for f in frames}) == 5


def test_sampled_values_respect_ranges(params):
    frames = [sample_frame(params, i) for i in range(params.frames)]
    for f in frames:
        for k in ("yaw", "pitch", "roll"):
            lo, hi = getattr(params.pose, k)
            assert lo <= f.head_pose_deg[k] <= hi
        assert params.camera.focal_mm[0] <= f.camera.focal_mm <= params.camera.focal_mm[1]
        assert f.identity.hair_style in params.human.hair_styles
        assert all(0 <= w <= 1 for w in f.expression.units.values())
    yaws = [f.head_pose_deg["yaw"] for f in frames]
    assert min(yaws) < -40 and max(yaws) > 40  # the range is actually explored


def test_description_round_trips_through_json(params):
    f = sample_frame(params, 3)
    assert frame_from_dict(json.loads(json.dumps(f.to_dict()))) == f
    # frames written before a field's rename still read (shirt_rgb is now garment_rgb)
    old = json.loads(json.dumps(f.to_dict()))
    old["identity"]["shirt_rgb"] = old["identity"].pop("garment_rgb")
    assert frame_from_dict(old) == f


def test_head_pose_euler_round_trip():
    for angles in [(0, 0, 0), (55, -25, 15), (-60, 30, -20)]:
        assert np.allclose(geometry.euler_from_head_rotation(geometry.head_rotation_cv(*angles)), angles)


def test_posed_head_realises_the_sampled_pose(params):
    """The head's rigid rotation, seen from the camera, is the sampled yaw/pitch/roll."""
    f = sample_frame(params, 11)
    rest, pivot = human.rest_vertices(f.identity, f.expression.units)
    posed = human.pose(rest, f.body_yaw_deg, f.head_world_rotation(), pivot)
    head = human.head_vertex_mask()
    a, b = rest[head] - rest[head].mean(0), posed[head] - posed[head].mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)  # Kabsch: world rotation of the head
    R_world = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    R_cw = f.camera.cam_from_world[:3, :3]
    frontal = geometry.look_at((0, -1, 0), (0, 0, 0))
    Q = R_cw @ R_world @ frontal
    assert np.allclose(
        geometry.euler_from_head_rotation(Q), [f.head_pose_deg[k] for k in ("yaw", "pitch", "roll")], atol=0.05
    )


def test_head_is_framed(params):
    for i in range(0, params.frames, 7):
        f = sample_frame(params, i)
        uv, z = geometry.project(f.camera.K, f.camera.cam_from_world, human.posed_vertices(f)[human.head_vertex_mask()])
        centre = uv.mean(0) / [f.camera.width, f.camera.height]
        assert np.all(z > 0) and np.all((centre > 0.2) & (centre < 0.8))
