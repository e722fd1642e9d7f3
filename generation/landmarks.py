"""The 68 iBUG face landmarks as vertices of the cropped MakeHuman mesh, chosen once by geometry.

MakeHuman has no landmark table, so each point is found on the neutral base mesh
(x to the subject's left, y up, z forward; decimetres) by rules a person
annotating a frontal photo follows: eye and inner-lip points on the lid margin
and lip line (where face skin meets the eye and mouth cavities), outer-lip points
on the edge of MakeHuman's lip mask, nose points on the mid-line profile, brow
points along the brow band the renderer grows brows on, and the jaw line on the
frontal outline of the face from ear level round the chin. A landmark is a
vertex, so it follows identity morphs, expressions and the head pose exactly
(the renderer moves the same vertices). Order and numbering are iBUG's
(0-based here): 0-16 jaw from the subject's right, 17-26 brows, 27-35 nose,
36-47 eyes, 48-67 lips.
"""

from __future__ import annotations

import functools

import numpy as np

from generation import human
from generation.assets import base_mesh

COUNT = 68


def _boundary_vertices(faces: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Vertices on edges between a face in `inside` and one outside it (or the mesh border)."""
    edges = np.concatenate([faces[:, [i, (i + 1) % 4]] for i in range(4)])
    owner = np.tile(inside, 4)
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inner = np.bincount(inverse.ravel(), weights=owner.astype(float), minlength=len(counts))
    edge_ids = np.flatnonzero((inner >= 1) & (inner < counts))  # shared by an inside and an outside face
    if not len(edge_ids):
        return np.array([], int)
    first = np.zeros(len(counts), int)
    first[inverse.ravel()] = np.arange(len(key))
    return np.unique(key[first[edge_ids]])


def _nearest(V: np.ndarray, candidates: np.ndarray, x: float, y: float) -> int:
    """The candidate nearest (x, y) in the frontal view."""
    d = (V[candidates, 0] - x) ** 2 + (V[candidates, 1] - y) ** 2
    return int(candidates[np.argmin(d)])


def _front(V: np.ndarray, candidates: np.ndarray, x: float, y: float, radius: float = 0.04) -> int:
    """The front-most candidate within `radius` of (x, y) in the frontal view (else the nearest)."""
    d = np.hypot(V[candidates, 0] - x, V[candidates, 1] - y)
    near = candidates[d < radius]
    return int(near[np.argmax(V[near, 2])]) if len(near) else _nearest(V, candidates, x, y)


def _opening(V: np.ndarray, loop: np.ndarray, upper_t, lower_t) -> list[int]:
    """Corners of a lid or lip line, and its points at fractions `upper_t` / `lower_t` of the corner-to-corner
    width, above and below: iBUG order (left corner, upper left to right, right corner, lower right to left)."""
    left, right = int(loop[np.argmin(V[loop, 0])]), int(loop[np.argmax(V[loop, 0])])
    (x0, y0), (x1, y1) = V[left, :2], V[right, :2]
    mid_y = y0 + (V[loop, 0] - x0) / (x1 - x0) * (y1 - y0)
    upper, lower = loop[V[loop, 1] >= mid_y], loop[V[loop, 1] < mid_y]

    def at(side, t):
        x = x0 + t * (x1 - x0)
        near = side[np.abs(V[side, 0] - x) <= np.abs(V[side, 0] - x).min() + 1e-9]
        return int(near[np.argmax(V[near, 1])] if side is upper else near[np.argmin(V[near, 1])])

    return [left, *(at(upper, t) for t in upper_t), right, *(at(lower, t) for t in lower_t)]


@functools.cache
def ibug68() -> np.ndarray:
    """(68,) indices into the cropped mesh's vertices (human.topology().vert_index order)."""
    topo = human.topology()
    V = base_mesh()["verts"][topo.vert_index]
    F, L = topo.faces, topo.face_labels
    skin = np.unique(F[L == human.FACE])
    front = skin[V[skin, 2] > 0.3]
    openings = _boundary_vertices(F, L == human.FACE)
    openings = openings[V[openings, 2] > 0.8]  # lid margins and the lip line, not the neck seam
    eyes = {s: human.eye_joint(s) for s in ("r", "l")}
    eye_loops = {s: openings[np.hypot(*(V[openings, :2] - c[:2]).T) < 0.45] for s, c in eyes.items()}
    right_eye = _opening(V, eye_loops["r"], (1 / 3, 2 / 3), (2 / 3, 1 / 3))
    left_eye = _opening(V, eye_loops["l"], (1 / 3, 2 / 3), (2 / 3, 1 / 3))
    eye_y = np.mean([V[i, 1] for i in (*right_eye, *left_eye)])
    mouth_loop = openings[(V[openings, 1] < eye_y - 0.6) & (np.abs(V[openings, 0]) < 0.5)]
    lips = np.flatnonzero(human.region_mask("lips") > 0.5)
    lips = lips[np.isin(lips, front)]
    outer_lip = _opening(V, lips, (1 / 6, 1 / 3, 1 / 2, 2 / 3, 5 / 6), (5 / 6, 2 / 3, 1 / 2, 1 / 3, 1 / 6))
    # the closed lip line is shorter than the mouth: the inner corners are the outer ones (as on a closed mouth
    # in iBUG), the inner points the lip line's highest and lowest vertices at 1/4, 1/2, 3/4 of the width
    line = np.concatenate([mouth_loop, [outer_lip[0], outer_lip[6]]])
    inner_lip = _opening(V, line, (0.25, 0.5, 0.75), (0.75, 0.5, 0.25))
    # nose: the mid-line profile from between the eyes to the tip, then back under it
    mid = front[np.abs(V[front, 0]) < 0.015]
    lip_top = V[outer_lip[3], 1]
    span = mid[(V[mid, 1] < eye_y) & (V[mid, 1] > lip_top)]
    tip = int(span[np.argmax(V[span, 2])])
    bridge_top = _front(V, mid, 0.0, eye_y)
    bridge = [bridge_top] + [
        _front(V, mid, 0.0, V[bridge_top, 1] + t * (V[tip, 1] - V[bridge_top, 1])) for t in (1 / 3, 2 / 3)
    ]
    under = mid[(V[mid, 1] < V[tip, 1]) & (V[mid, 1] > lip_top)]
    subnasale = int(under[np.argmin(V[under, 2])])
    inner_canthi = abs(V[right_eye[3], 0] - V[left_eye[0], 0])
    ys = V[subnasale, 1] + 0.04
    nostrils = [_front(V, front, f * inner_canthi, ys, 0.06) for f in (-0.5, -0.25)]
    nostrils += [subnasale] + [_front(V, front, f * inner_canthi, ys, 0.06) for f in (0.25, 0.5)]
    # brows along the band the renderer grows them on (human.topology's brow weight)
    brows = []
    for side in (-1, 1):
        xs = np.array([0.58, 0.47, 0.36, 0.25, 0.14])[::-side]  # image left to right
        for ax in xs:
            brows.append(_front(V, front, side * ax, 7.56 - 0.05 * ((ax - 0.36) / 0.2) ** 2))
    jaw = _jaw(V, front, mid, V[outer_lip[9], 1], V[right_eye[0], 1])
    order = jaw + brows + bridge + [tip] + nostrils + right_eye + left_eye + outer_lip + inner_lip
    assert len(order) == COUNT, len(order)
    return np.asarray(order)


def _jaw(V: np.ndarray, front: np.ndarray, mid: np.ndarray, lower_lip_y: float, eye_y: float) -> list[int]:
    """17 points on the frontal outline of the face: from ear level on the subject's right, round the chin
    (the lowest mid-line point still facing forward), to ear level on the left."""
    below = mid[V[mid, 1] < lower_lip_y]
    chin_z = V[below, 2].max()
    chin = below[V[below, 2] > chin_z - 0.15]
    menton = int(chin[np.argmin(V[chin, 1])])
    ears = human.region_mask("ears") > 0.3
    cheek = front[~ears[front]]
    ys = np.linspace(eye_y - 0.15, V[menton, 1], 40)
    outline = []
    for side in (-1, 1):
        pts = []
        for y in ys:
            band = cheek[np.abs(V[cheek, 1] - y) < 0.04]
            band = band[np.sign(V[band, 0]) == side] if len(band) else band
            if len(band):
                pts.append(int(band[np.argmax(np.abs(V[band, 0]))]))
        outline.append(pts)
    out = []
    for side, pts in zip((-1, 1), outline):
        xy = np.array([V[p, :2] for p in pts] + [V[menton, :2]])
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
        # 8 points at equal steps along the outline down to the chin, each the outline vertex nearest its spot
        spots = [
            np.array([np.interp(a, arc, xy[:, 0]), np.interp(a, arc, xy[:, 1])]) for a in np.linspace(0, arc[-1], 9)
        ]
        chosen = [_nearest(V, front, *spot) for spot in spots[:-1]]
        out.append(chosen if side == -1 else chosen[::-1])
    return out[0] + [menton] + out[1]


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 2) pixel positions of camera-frame points (OpenCV axes) with K (pixel centres at +0.5)."""
    uvw = points_cam @ np.asarray(K, np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def visible(points_cam: np.ndarray, uv: np.ndarray, depth: np.ndarray, tolerance_m: float = 0.01) -> np.ndarray:
    """A landmark is visible when it lies in the image and no nearer surface covers it in the depth buffer:
    some pixel of the 3x3 around it is not in front of it by more than `tolerance_m` (a point on the face's
    outline shares its pixel with the wall or the cheek beside it)."""
    h, w = depth.shape
    u, v = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    out = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (points_cam[:, 2] > 0)
    far = np.full((h + 2, w + 2), -np.inf, np.float32)
    far[1:-1, 1:-1] = np.where(np.isfinite(depth), depth, np.inf)
    around = np.max([far[dv : dv + h, du : du + w] for dv in range(3) for du in range(3)], axis=0)
    out[out] = around[v[out], u[out]] >= points_cam[out, 2] - tolerance_m
    return out
