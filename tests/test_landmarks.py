"""The 68 iBUG landmarks on the MakeHuman mesh: layout and symmetry on the base mesh, projection and
visibility in real renders."""

import json

import numpy as np
import pytest

from generation import exr, human, landmarks
from generation.assets import base_mesh

# iBUG's left-right pairs (0-based) and its mid-line points
PAIRS = [(i, 16 - i) for i in range(8)] + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34)]
PAIRS += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46), (48, 54), (49, 53), (50, 52), (59, 55)]
PAIRS += [(58, 56), (60, 64), (61, 63), (67, 65)]
MIDLINE = [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]


def test_the_68_points_follow_the_ibug_layout_on_the_base_mesh():
    idx = landmarks.ibug68()
    assert idx.shape == (68,) and len(set(idx.tolist())) >= 66  # inner lip corners are the outer ones
    V = base_mesh()["verts"][human.topology().vert_index][idx]
    x, y, z = V.T
    for a, b in PAIRS:  # mirror images: x opposite (the subject's right is image left, -x), same height
        assert x[a] < 0 < x[b] and abs(x[a] + x[b]) < 0.05 and abs(y[a] - y[b]) < 0.05, (a, b)
    assert np.abs(x[MIDLINE]).max() < 0.02
    assert np.all(np.diff(x[:9]) > 0) and np.all(np.diff(x[8:17]) > 0)  # jaw: image left to right
    assert y[8] == y[:17].min()  # the chin is the jaw's lowest point
    assert z[30] == z[27:36].max()  # the nose tip stands out most
    assert y[27] > y[28] > y[29] > y[30] > y[33]  # down the bridge to the tip, then under it
    assert y[17:27].min() > y[36:48].max() > y[36:48].min() > y[30] > y[48:68].max()  # brows, eyes, nose, lips
    assert x[36] < x[39] < x[42] < x[45]  # eye corners, left to right
    assert y[51] > y[62] >= y[66] > y[57]  # outer upper lip, inner upper, inner lower, outer lower


@pytest.fixture(scope="module")
def turned(tmp_path_factory):
    """One identity rendered frontal and turned 70 degrees, with landmarks, at 160x120."""
    import dataclasses

    from test_render import _semantics_frame

    from generation.blender.scene import BlenderScene
    from generation.realise import realise
    from generation.shard import finalize

    out = {}
    scene = BlenderScene(160, 120)
    for yaw in (0.0, 70.0):
        frame = _semantics_frame()
        frame = dataclasses.replace(frame, head_pose_deg={"yaw": yaw, "pitch": 0.0, "roll": 0.0})
        r = realise(frame)
        folder = tmp_path_factory.mktemp(f"yaw{int(yaw)}")
        files = finalize(
            frame,
            scene.render(frame, r, folder / "raw"),
            folder,
            "test",
            r.eyes_world,
            r.vertices[landmarks.ibug68()],
        )
        out[yaw] = (frame, json.loads(files["meta"].read_text()), exr.read_depth(files["depth"]))
    return out


def test_landmarks_project_with_K_and_are_the_rendered_vertices(turned):
    for frame, meta, _ in turned.values():
        lm = meta["landmarks"]
        cam, uv = np.asarray(lm["cam"]), np.asarray(lm["uv"])
        K = np.asarray(meta["K"])
        proj = cam @ K.T
        assert np.abs(proj[:, :2] / proj[:, 2:] - uv).max() < 1e-3  # 2D is the projection of 3D with K
        M = np.asarray(meta["cam_from_world"])
        posed = human.posed_vertices(frame)[landmarks.ibug68()]  # the mesh the renderer drew
        assert np.abs(posed @ M[:3, :3].T + M[:3, 3] - cam).max() < 1e-5


def test_visibility_follows_the_depth_buffer_on_a_turned_head(turned):
    _, front, depth0 = turned[0.0]
    _, side, depth70 = turned[70.0]
    seen0, seen70 = np.asarray(front["landmarks"]["visible"]), np.asarray(side["landmarks"]["visible"])
    assert seen0.mean() >= 0.9  # a frontal face shows nearly all of them
    assert seen70.sum() < seen0.sum() - 5  # a head turned 70 degrees hides its far side
    cam, uv = np.asarray(side["landmarks"]["cam"]), np.asarray(side["landmarks"]["uv"])
    u, v = uv.astype(int).T
    inside = (u >= 0) & (u < 160) & (v >= 0) & (v < 120)
    gap = np.full(68, np.nan)
    gap[inside] = cam[inside, 2] - depth70[v[inside], u[inside]]  # how far behind the visible surface
    assert np.nanmedian(gap[~seen70 & inside]) > 0.02  # hidden points lie centimetres behind the head's surface
    assert np.nanmedian(np.abs(gap[seen70])) < 0.005  # visible ones on it
    # the hidden ones are on the side turned away: the jaw and eye of one side, not both
    hidden_jaw = ~seen70[:17]
    assert hidden_jaw[:8].sum() != hidden_jaw[9:].sum()
