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


def test_a_frame_of_the_removed_flat_walls_reads_and_names_the_kinds_to_render(params):
    frame = sample_frame(params, 0)
    old = frame.to_dict()
    old["background"] = {**old["background"], "kind": "checker", "scale": 12.0}  # as 0.3.0 wrote it
    legacy = frame_from_dict(json.loads(json.dumps(old)))
    assert legacy.background.kind == "checker"
    with pytest.raises(ValueError, match=r"kind 'checker' is not rendered.*one of \['hdri', 'plaster'"):
        realise(legacy)


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
        imported = {
            f"{n.module}.{a.name}" if n.module == "generation" else n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom)
            for a in n.names
        }
        assert not imported & computing, (path.name, imported & computing)


@pytest.mark.slow
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


def test_every_hdri_meters_the_same_and_lamps_add_inverse_square_light(params):
    """The environment's irradiance at the head is pi x the HDRI's mean radiance, which world_look scales to
    one luminance: every HDRI then lights (and meters) the same; a lamp adds power / (4 pi d^2) of its colour."""
    from generation.assets import LUMA
    from generation.realise import HDRI_REFERENCE, exposure, illuminant, world_look

    frame = dataclasses.replace(sample_frame(params, 0), lights=[])
    stops = set()
    for name in ("city", "night", "studio", "sunset"):
        f = dataclasses.replace(frame, world=dataclasses.replace(frame.world, hdri=name, rgb=(1.0, 1.0, 1.0)))
        light = illuminant(f, world_look(f))
        assert float(light @ LUMA) == pytest.approx(np.pi * f.world.strength * HDRI_REFERENCE, rel=1e-9)
        stops.add(round(exposure(f, light), 9))
    assert len(stops) == 1
    lamp = dataclasses.replace(
        sample_frame(params, 0).lights[0], type="POINT", power_w=40.0, location=(0.0, -2.0, 0.0), rgb=(1.0, 0.5, 0.25)
    )
    lit = dataclasses.replace(f, lights=[lamp])
    added = illuminant(lit, world_look(lit)) - illuminant(f, world_look(f))
    np.testing.assert_allclose(added, 40.0 / (4 * np.pi * 4.0) * np.array([1.0, 0.5, 0.25]), rtol=1e-12)
    from generation.realise import realise

    sun = dataclasses.replace(lamp, type="SUN", power_w=300.0)
    sunlit = dataclasses.replace(f, lights=[sun])
    added = illuminant(sunlit, world_look(sunlit)) - illuminant(f, world_look(f))
    blender_strength = realise(sunlit).lights[0].energy  # W/m^2 at any distance: what Cycles is given
    np.testing.assert_allclose(added, blender_strength * np.array([1.0, 0.5, 0.25]), rtol=1e-12)


@pytest.mark.parametrize("kelvin", [3400, 4500, 6500, 7500])
def test_white_balance_keeps_luminance_and_removes_most_of_a_cast(kelvin):
    """Gains x light keeps the light's luminance; its red/blue ratio keeps (1 - WHITE_BALANCE) of its log cast."""
    from generation.assets import LUMA
    from generation.realise import WHITE_BALANCE, white_balance
    from generation.sampling import kelvin_to_rgb

    light = 3.0 * np.asarray(kelvin_to_rgb(kelvin))
    balanced = np.asarray(white_balance(light)) * light
    assert float(balanced @ LUMA) == pytest.approx(float(light @ LUMA), rel=1e-9)
    cast = np.log(light[0] / light[2])
    assert np.log(balanced[0] / balanced[2]) == pytest.approx((1 - WHITE_BALANCE) * cast, abs=1e-9)
    np.testing.assert_allclose(white_balance(np.full(3, 2.0)), 1.0, rtol=1e-12)  # grey light: no correction


def test_necklines_cover_the_shoulders_and_bare_the_neck():
    """Every cut covers the sloping shoulders up to the base of the neck, bares the neck above it, and its
    edge lies closer to the skin than the body of the garment (a neck band, not a rolled shell)."""
    from generation import garment
    from generation.assets import base_mesh

    topo = human.topology()
    base = base_mesh()["verts"][topo.vert_index]
    body = np.unique(topo.faces[topo.face_labels == human.BODY])
    shoulders = body[(np.abs(base[body, 0]) > 1.2) & (base[body, 1] > 5.3)]
    neck = body[base[body, 1] > 6.05]
    assert len(shoulders) > 20 and len(neck) > 20
    for kind, cut in garment.CUTS.items():
        c = garment.neckline(cut, base)
        assert np.all(c[shoulders] > 0), kind
        assert np.all(c[neck] < 0), kind
    normals = np.tile([0.0, 0.0, 1.0], (len(base), 1))
    faces = np.flatnonzero(topo.face_labels == human.BODY)
    mesh, _ = garment.shell(garment.CUTS["crew"], base, np.zeros_like(base), topo.faces, faces, normals)
    lift = mesh.vertices[:, 2]  # the skin at the origin: each shell vertex sits at its lift off the skin
    edge = mesh.vertex_attrs["cut"] < 0.02
    assert lift[edge].max() < 0.5 * lift[~edge].max()


def test_scalp_roots_tint_only_the_scalp_and_not_a_bald_head(params):
    topo = human.topology()
    scalp = topo.regions["scalp"]
    assert np.all(scalp[np.unique(topo.faces[topo.scalp_faces])] == 1.0)
    face_centre = topo.regions["cheek"] > 0.3  # cheeks and nose
    assert scalp[face_centre].max() < 0.5
    ident = sample_frame(params, 0).identity
    covers = {s: skin_look(dataclasses.replace(ident, hair_style=s)).scalp_cover for s in ("none", "buzz", "long")}
    assert covers["none"] == 0 and covers["buzz"] > covers["long"] > 0


def test_eye_uvs_put_each_cornea_on_the_procedural_eye_pupil():
    """MakeHuman's eye shader draws the pupil at its layout's centres and the iris out to MH_IRIS_SHARE of the
    eyeball: the cornea's apex must land on the pupil, skin beyond the iris on the white, and nothing off
    the eyeball layer (the tree makes that transparent)."""
    from generation.assets import base_mesh, vertex_groups

    topo = human.topology()
    uv = human.eye_uv(topo)
    base = base_mesh()["verts"]
    corners = base[topo.vert_index[topo.faces]]
    iris_uv = human.MH_IRIS_SHARE * human.MH_EYEBALL_UV
    for side, centre_uv in human.MH_EYE_CENTRES.items():
        centre = base[vertex_groups()[f"joint-{side}-eye"]].mean(0)
        faces = (topo.face_labels == human.EYES) & (np.sign(corners[:, :, 0].mean(1)) == np.sign(centre[0]))
        local = (corners[faces] - centre).reshape(-1, 3)
        dist = np.linalg.norm(uv[faces].reshape(-1, 2) - centre_uv, axis=1)
        apex = np.argmax(local[:, 2])
        assert dist[apex] < 1e-9
        off_axis = np.linalg.norm(local[:, :2] - local[apex, :2], axis=1)
        assert np.all(dist[(off_axis > 1.2 * human.IRIS_RADIUS_MH) & (local[:, 2] > 0)] > iris_uv)
        assert dist.max() < human.MH_EYEBALL_UV


@pytest.mark.parametrize("style", ["short", "ponytail", "bun", "long"])
def test_scalp_hair_lies_over_the_cranium_not_under_it(params, style):
    """Past its root, no strand point is under the skin: checked by brute force against every cranium vertex
    within 3 degrees of its direction from the skull centre (strands combed over the crown once sank ~1 cm)."""
    from generation.realise import scalp_strands, skull

    ident = dataclasses.replace(sample_frame(params, 0).identity, hair_style=style)
    strands = scalp_strands(ident)[:, 1:].reshape(-1, 3)
    rest, _ = human.rest_vertices(ident, {})
    centre = skull(rest).centre
    head = rest[human.head_vertex_mask()]
    cranium = head[head[:, 2] > 0.0] - centre
    pts = strands[np.random.default_rng(0).choice(len(strands), 4000, replace=False)] - centre
    r, rc = np.linalg.norm(pts, axis=1), np.linalg.norm(cranium, axis=1)
    cos = (pts / r[:, None]) @ (cranium / rc[:, None]).T
    near = cos > np.cos(np.radians(3))
    has = near.any(1)
    under = r[has] < np.where(near, rc[None], 0).max(1)[has] - 0.0005
    assert has.sum() > 500 and under.mean() < 0.01, under.mean()


@pytest.mark.slow
def test_glasses_rest_on_the_nose_and_over_the_ears_of_every_head():
    """Over 40 sampled identities and expressions, measured on the built frame: it comes within 3 mm of the skin
    on each side of the nose bridge (the pads), within 5 mm of the top of each ear (the temples) and never
    inside the face."""
    from generation import glasses
    from generation.realise import eye_centres, head_vertices

    p = config.parse(tiny_params(identities=40, frames_per_identity=1))
    worst_nose = worst_ear = worst_temple = 0.0
    for i in range(40):
        frame = sample_frame(p, i)
        points, _ = human.rest_points(frame.identity, frame.expression.units)
        rest = points[human.topology().vert_index]
        head, ears = head_vertices(rest), rest[human.region_mask("ears") > 0.5]
        eyes = eye_centres(points)
        mesh = glasses.glasses("rect" if i % 2 else "round", eyes, head, ears)
        v = mesh.vertices[np.unique(mesh.quads[mesh.slots == 0])]  # the frame, not the lenses
        eye_z = eyes[:, 2].mean()
        for side in (-1, 1):
            x = head[:, 0] * side
            nose = head[(x > 0.001) & (x < 0.008) & (np.abs(head[:, 2] - eye_z) < 0.02)]
            nose = nose[nose[:, 1] < eyes[:, 1].mean() - 0.005]  # in front of the eyes: the bridge of the nose
            worst_nose = max(worst_nose, np.linalg.norm(v[:, None] - nose[None], axis=-1).min())
            top = glasses.ear_top(head, ears, side)
            worst_ear = max(worst_ear, np.linalg.norm(v - top, axis=1).min())
        face = head[(head[:, 1] < eyes[:, 1].mean() + 0.01)]
        assert np.linalg.norm(v[:, None] - face[None], axis=-1).min() > 0.0002, i  # nothing inside the face
        # the temples, from 12 mm behind the rims to the ears, run along the head: none juts into the air
        temple = v[(v[:, 1] > v[:, 1].min() + 0.012) & (v[:, 1] < ears[:, 1].min())]
        worst_temple = max(worst_temple, np.linalg.norm(temple[:, None] - head[None], axis=-1).min(1).max())
    print(
        f"worst gap to the nose bridge {worst_nose * 1000:.1f} mm, to the top of an ear {worst_ear * 1000:.1f} mm, "
        f"of a temple to the head {worst_temple * 1000:.1f} mm"
    )
    assert worst_nose < 0.003 and worst_ear < 0.005 and worst_temple < 0.022  # temples jutting at the hinge: 48 mm


def test_the_body_is_cut_along_straight_lines():
    """Body quads crossing the crop keep their inner corners and have the outer ones moved onto its planes, so
    the mesh's open border at the shoulders and chest lies on |x| = CROP_X or y = CROP_Y: a straight edge at
    any resolution, not the saw-tooth of whole quads (issue: garment edge at 640x480)."""
    frame = sample_frame(config.parse(tiny_params()), 0)
    V = human.identity_vertices(frame.identity, frame.expression.units)[human.topology().vert_index]
    faces = human.topology().faces
    edges = np.sort(np.concatenate([faces[:, [i, (i + 1) % 4]] for i in range(4)]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border = np.unique(unique[counts == 1])  # vertices on the mesh's open edges
    low = border[(V[border, 1] < 5.0) & (np.abs(V[border, 0]) > 2.2)]  # the shoulders' open edge
    on_plane = np.isclose(np.abs(V[low, 0]), human.CROP_X) | np.isclose(V[low, 1], human.CROP_Y)
    assert len(low) > 20 and on_plane.all(), V[low][~on_plane][:5]
    assert np.abs(V[:, 0]).max() <= human.CROP_X + 1e-9 and V[:, 1].min() >= human.CROP_Y - 1e-9
