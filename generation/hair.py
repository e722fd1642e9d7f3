"""Hair strands grown on the scalp in numpy; Blender only receives the points.

Strands grow in the rest pose (out along the scalp normal, then combed back
and pulled down by gravity), are kept outside an ellipsoid fitted to the
skull, and are then posed with the same neck twist as the skin, so long hair
bends where the neck bends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    length_m: float
    gravity: float
    strands: int
    points: int
    radius_m: float


STYLES = {
    "buzz": Style(0.006, 0.0, 7000, 2, 0.00035),
    "short": Style(0.035, 0.35, 6000, 4, 0.0003),
    "medium": Style(0.11, 0.75, 7000, 8, 0.0003),
    "long": Style(0.28, 1.0, 8000, 14, 0.0003),
}


def sample_roots(verts: np.ndarray, faces: np.ndarray, scalp: np.ndarray, count: int, seed: int):
    """Area-weighted random roots on scalp quads: (face ids, barycentric weights over 4 corners)."""
    rng = np.random.default_rng(seed)
    quads = verts[faces[scalp]]
    area = 0.5 * np.linalg.norm(np.cross(quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1]), axis=1)
    chosen = rng.choice(scalp, size=count, p=area / area.sum())
    u, v = rng.uniform(size=(2, count))
    bilinear = np.stack([(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v], axis=1)
    return chosen, bilinear


def grow(verts: np.ndarray, faces: np.ndarray, roots, style: Style, skull_centre, skull_radii, seed: int) -> np.ndarray:
    """Strand points (S, P, 3) in the rest pose (world axes: z up, face towards -y)."""
    face_ids, w = roots
    corners = verts[faces[face_ids]]
    root = np.einsum("sk,skd->sd", w, corners)
    normal = np.cross(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    normal *= np.sign(np.einsum("sd,sd->s", normal, root - skull_centre))[:, None]  # outward
    rng = np.random.default_rng(seed)
    comb = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.25, (len(root), 3))  # combed back, loosely
    comb[:, 0] += 0.8 * np.sign(root[:, 0]) * (root[:, 1] < skull_centre[1])  # a parting to the sides in front
    gravity = np.array([0.0, 0.0, -1.0])
    length = style.length_m * rng.uniform(0.7, 1.1, (len(root), 1))
    step = length / max(style.points - 1, 1)
    flow = 0.5 * comb + style.gravity * gravity
    flow -= np.einsum("sd,sd->s", flow, normal)[:, None] * normal  # lie along the scalp, never into it
    flow /= np.linalg.norm(flow, axis=1, keepdims=True) + 1e-9
    points = [root]
    p = root + normal * 0.0005
    for k in range(1, style.points):
        t = k / max(style.points - 1, 1)
        lift = 0.5 * (1 - t) ** 4  # leave the scalp, then lie down
        fall = style.gravity * t  # long hair ends up hanging, short hair keeps its combed direction
        d = normal * lift + (flow * (1 - fall) + gravity * fall) * (1 - lift)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        p = _outside(p + d * step, skull_centre, skull_radii, 0.004 + 0.006 * t)
        points.append(p)
    return np.stack(points, axis=1)


def _outside(p: np.ndarray, centre, radii, margin: float) -> np.ndarray:
    q = (p - centre) / (np.asarray(radii) + margin)
    r = np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(r < 1, centre + q / np.maximum(r, 1e-9) * (np.asarray(radii) + margin), p)
