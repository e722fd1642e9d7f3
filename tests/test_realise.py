"""realise(frame): every value the Blender backend copies, checked without Blender."""

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, tiny_params
from generation import config, geometry, human
from generation.description import frame_from_dict
from generation.realise import hair_strands, realise, skin_look
from generation.sampling import sample_frame


@pytest.fixture(scope="module")
def params():
    return config.parse(tiny_params(identities=8, frames_per_identity=1))


def _assert_same(x, y, path="realised"):
    if dataclasses.is_dataclass(x):
        for f in dataclasses.fields(x):
            _assert_same(getattr(x, f.name), getattr(y, f.name), f"{path}.{f.name}")
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), path
        for k in x:
            _assert_same(x[k], y[k], f"{path}[{k}]")
    elif isinstance(x, (list, tuple)) and x and not isinstance(x[0], (int, float)):
        assert len(x) == len(y), path
        for k, (a, b) in enumerate(zip(x, y)):
            _assert_same(a, b, f"{path}[{k}]")
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, y, err_msg=path)
    else:
        assert x == y, path


def test_realise_is_a_pure_function_of_the_description(params):
    for i in range(4):
        frame = sample_frame(params, i)
        _assert_same(realise(frame), realise(frame_from_dict(json.loads(json.dumps(frame.to_dict())))))


def test_posed_vertices_and_eyes_agree_with_the_pose(params):
    frame = sample_frame(params, 1)
    r = realise(frame)
    np.testing.assert_allclose(r.vertices, human.posed_vertices(frame))
    # the eye centre is the world origin of the rest pose: posing it puts it where the camera aims
    uv, z = geometry.project(frame.camera.K, frame.camera.cam_from_world, r.eyes_world[None])
    assert 0 < uv[0, 0] < frame.camera.width and 0 < uv[0, 1] < frame.camera.height and z[0] > 0


def test_wall_faces_the_camera_behind_the_head_and_fills_the_view(params):
    for i in range(4):
        frame = sample_frame(params, i)
        assert realise(frame).wall_matrix is None  # the default kinds are rooms and backdrops, not a flat wall
        frame = dataclasses.replace(frame, background=dataclasses.replace(frame.background, kind="plain"))
        W = realise(frame).wall_matrix
        cam = frame.camera
        corners = np.array([[x, y, 0, 1] for x in (-0.5, 0.5) for y in (-0.5, 0.5)]) @ W.T
        uv, z = geometry.project(cam.K, cam.cam_from_world, corners[:, :3])
        np.testing.assert_allclose(z, cam.distance_m + frame.background.distance_m, rtol=1e-9)  # parallel to the image
        assert uv[:, 0].min() < 0 and uv[:, 0].max() > cam.width and uv[:, 1].min() < 0 and uv[:, 1].max() > cam.height


def test_lights_aim_at_the_head_and_suns_use_irradiance(params):
    frame = sample_frame(params, 0)
    light = dataclasses.replace(frame.lights[0], type="SUN", power_w=250.0)
    r = realise(dataclasses.replace(frame, lights=[light, *frame.lights[1:]]))
    for setup in r.lights:
        loc, forward = setup.matrix[:3, 3], -setup.matrix[:3, 2]  # Blender lights shine along local -z
        np.testing.assert_allclose(forward, -loc / np.linalg.norm(loc), atol=1e-12)
    assert r.lights[0].energy == pytest.approx(2.5)
    assert r.lights[0].spot_rad == pytest.approx(np.radians(light.spot_deg))


def test_skin_darkens_with_tone_and_lips_are_redder_than_skin(params):
    ident = sample_frame(params, 0).identity
    looks = [skin_look(dataclasses.replace(ident, skin_tone=t)) for t in (0.0, 0.5, 1.0)]
    luminance = [np.dot(look.rgb, [0.2126, 0.7152, 0.0722]) for look in looks]
    assert luminance[0] > luminance[1] > luminance[2] > 0.02
    for look in looks:
        assert look.lip_rgb[0] / look.lip_rgb[1] > look.rgb[0] / look.rgb[1]
        assert all(0 < c < 1 for c in look.rgb)


def test_hair_grows_from_the_scalp_outside_the_skull(params):
    frame = sample_frame(params, 0)
    bald = dataclasses.replace(frame, identity=dataclasses.replace(frame.identity, hair_style="none"))
    rest, pivot = human.rest_vertices(frame.identity, frame.expression.units)
    assert hair_strands(bald, pivot) is None
    long = dataclasses.replace(frame, identity=dataclasses.replace(frame.identity, hair_style="long"))
    strands = hair_strands(long, pivot)
    pts = strands.positions.reshape(strands.count, strands.points, 3)
    assert pts.shape[0] > 1000 and np.isfinite(pts).all()
    head = realise(long).vertices[human.head_vertex_mask()]
    top = head[:, 2].max()
    assert np.all(pts[:, 0, 2] > top - 0.12)  # roots on the cranium, not the face
    assert np.all(strands.radius > 0)


def test_blender_backend_imports_no_maths_modules():
    """The backend copies values: it may not reach for the modules that compute them."""
    computing = {"generation.geometry", "generation.hair", "generation.sampling"}
    for path in (ROOT / "generation" / "blender").glob("*.py"):
        tree = ast.parse(Path(path).read_text())
        imported = {f"{n.module}.{a.name}" if n.module == "generation" else n.module
                    for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not imported & computing, (path.name, imported & computing)


@pytest.mark.parametrize("kind", ["plaster", "corner", "shelf", "door"])
def test_rooms_keep_clear_of_the_head_at_every_distance(kind):
    """Every background surface within the head-and-shoulders band stands >= 0.25 m behind the head centre
    (less the 1 cm books may stand proud), for near and far walls: the person never intersects the room."""
    from generation import room

    cam = np.array([0.1, -0.7, 0.05])
    forward = -cam / np.linalg.norm(cam)
    head_depth = float(np.linalg.norm(cam))
    flat = forward - np.array([0, 0, forward[2]])
    flat /= np.linalg.norm(flat)
    side = np.cross(flat, [0, 0, 1.0])
    u, v = np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41))
    w = np.stack([(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v], -1).reshape(-1, 4)
    for seed in range(20):
        for distance in (0.3, 0.35, 0.5, 1.5):
            mesh = room.room(kind, head_depth, distance, cam, forward, (0.5, 0.5, 0.5), seed)
            points = np.einsum("pk,qkd->qpd", w, mesh.vertices[mesh.quads]).reshape(-1, 3) - cam
            band = np.abs(points @ side) < room.SHOULDERS_M
            assert band.any()
            behind = points[band] @ flat - head_depth
            assert behind.min() > room.CLEAR_M - 0.011, (seed, distance, behind.min())
            assert mesh.face_attrs["tint"].shape == (len(mesh.quads), 3) and np.isfinite(mesh.vertices).all()
