"""Garments as geometry over the posed body: a shell offset from the skin, with a smooth neckline.

The shell keeps every body quad that reaches below the neckline; the exact
cut is the zero of a per-vertex function (`cut`, interpolated inside each
quad) that the fabric shader turns into fully transparent cloth above it,
so the neckline is a smooth curve in colour, depth and mask alike.
Collars, hoods and lapels are bands extruded from that curve, resampled
smooth. Pure numpy: realise() hands the mesh to the Blender backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generation.mesh import MeshData, vertex_normals


@dataclass(frozen=True)
class Cut:
    back_y: float  # neckline height at the back, base-mesh units (decimetres)
    dip: float  # how far it drops at the front centre
    v: bool  # V shape (linear) instead of a scoop
    width: float  # half-width of the dip
    thickness_m: float
    extras: tuple[str, ...] = ()  # collar | hood | lapels | inner


CUTS = {
    "crew": Cut(5.6, 0.3, False, 1.0, 0.004),
    "v_neck": Cut(5.55, 1.0, True, 0.75, 0.004),
    "collared": Cut(5.62, 0.45, True, 0.5, 0.005, ("collar",)),
    "hoodie": Cut(5.55, 0.35, False, 1.0, 0.009, ("hood",)),
    "jacket": Cut(5.5, 1.7, True, 0.95, 0.008, ("lapels", "inner")),
}
INNER = Cut(5.6, 0.3, False, 1.0, 0.003)  # the shirt under a jacket
RING_POINTS = 120
NECK_Z, NECK_R = 0.2, 0.55  # the neck's axis (z) and radius at its base, base-mesh units (decimetres)
SHOULDER_RISE = 0.6  # how fast the neckline climbs the shoulders away from the neck (dm per dm)
HUG_DM = 0.25  # the cloth thins towards the skin over this distance below the neckline (decimetres)


def neckline(cut: Cut, base: np.ndarray) -> np.ndarray:
    """Signed distance below the neckline (> 0: covered) for base-mesh vertices (x left, y up, z forward).

    The line rises with the distance from the neck axis, so cloth covers the sloping shoulders up to the
    base of the neck as real necklines do, instead of a level cut that bares them.
    """
    front = np.clip(base[:, 2] - 0.3, 0, 1)
    across = np.clip(1 - np.abs(base[:, 0]) / cut.width, 0, 1)
    dip = cut.dip * front * (across if cut.v else across**0.5)
    r = np.hypot(base[:, 0], base[:, 2] - NECK_Z)
    return cut.back_y - dip - base[:, 1] + SHOULDER_RISE * np.maximum(r - NECK_R, 0)


def shell(
    cut: Cut,
    base: np.ndarray,
    posed: np.ndarray,
    faces: np.ndarray,
    body_faces: np.ndarray,
    normals: np.ndarray,
    slot: int = 0,
) -> tuple[MeshData, np.ndarray]:
    """The shell (vertex attribute `cut`: > 0 covered) and the neckline's crossing points on it (k, 3)."""
    c = neckline(cut, base)
    f = faces[body_faces]
    kept = f[(c[f] > 0).any(1)]
    hug = 0.3 + 0.7 * np.clip(c / HUG_DM, 0, 1)[:, None] ** 0.5  # the edge lies on the skin, as a neck band does
    pos = posed + normals * cut.thickness_m * hug
    edges = np.concatenate([kept[:, [a, b]] for a, b in ((0, 1), (1, 2), (2, 3), (3, 0))])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    ca, cb = c[edges[:, 0]], c[edges[:, 1]]
    cross = (ca > 0) != (cb > 0)
    t = (ca[cross] / (ca[cross] - cb[cross]))[:, None]
    points = pos[edges[cross, 0]] + (pos[edges[cross, 1]] - pos[edges[cross, 0]]) * t
    used = np.unique(kept)
    remap = np.full(len(pos), -1)
    remap[used] = np.arange(len(used))
    mesh = MeshData(
        vertices=pos[used], quads=remap[kept], slots=np.full(len(kept), slot), vertex_attrs={"cut": c[used]}
    )
    return mesh, points


def ring(points: np.ndarray, up: np.ndarray, n: int = RING_POINTS) -> np.ndarray:
    """The neckline crossing points ordered around the neck, smoothed and resampled to `n` points."""
    centre = points.mean(0)
    x = np.cross(up, [1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.cross(up, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(up, x)
    rel = points - centre
    angle = np.arctan2(rel @ y, rel @ x)
    order = np.argsort(angle)
    a, p = angle[order], points[order]
    grid = np.linspace(-np.pi, np.pi, n, endpoint=False)
    out = np.stack([np.interp(grid, a, p[:, k], period=2 * np.pi) for k in range(3)], axis=1)
    kernel = np.array([1, 2, 3, 2, 1], float) / 9
    return np.stack(
        [np.convolve(np.concatenate([out[-2:, k], out[:, k], out[:2, k]]), kernel, "valid") for k in range(3)], axis=1
    )


def band(rings: list[np.ndarray], slot: int = 0) -> MeshData:
    """Quads joining consecutive closed rings of equal length."""
    n = len(rings[0])
    k = np.arange(n)
    quads = [
        np.stack([i * n + k, i * n + (k + 1) % n, (i + 1) * n + (k + 1) % n, (i + 1) * n + k], 1)
        for i in range(len(rings) - 1)
    ]
    quads = np.concatenate(quads)
    return MeshData(
        np.concatenate(rings), quads, np.full(len(quads), slot), vertex_attrs={"cut": np.ones(n * len(rings))}
    )


def garment(
    kind: str,
    base: np.ndarray,
    posed: np.ndarray,
    faces: np.ndarray,
    body_faces: np.ndarray,
    up: np.ndarray,
    back: np.ndarray,
) -> MeshData:
    """Mesh of garment `kind` over the posed body; slot 0 the garment, slot 1 the shirt under a jacket.

    `up` and `back` are the torso's world axes (the body may be turned).
    """
    cut = CUTS[kind]
    normals = vertex_normals(posed, faces)
    normals *= np.sign(np.einsum("nd,nd->", normals, posed - posed.mean(0)))  # outward
    parts = []
    mesh, crossing = shell(cut, base, posed, faces, body_faces, normals)
    parts.append(mesh)
    if cut.extras and len(crossing) > 8:
        r0 = ring(crossing, up)
        out = r0 - r0.mean(0)
        out -= np.outer(out @ up, up)
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12  # horizontal, away from the neck axis
        behind = np.clip(out @ back, 0, 1)[:, None]
        front = np.clip(-(out @ back), 0, 1)[:, None]
        if "collar" in cut.extras:  # a band standing up, folded down over itself
            r1 = r0 + up * 0.03 * (1 - 0.5 * front) + out * 0.003
            parts.append(band([r0, r1, r1 + out * 0.006 - up * 0.028 * (1 - 0.5 * front)]))
        if "hood" in cut.extras:  # the hood lies bunched behind the neck
            r1 = r0 + out * 0.015 + up * 0.01
            r2 = r0 + out * (0.02 + 0.04 * behind) + up * (0.01 + 0.03 * behind)
            parts.append(band([r0, r1, r2, r0 + out * (0.02 + 0.06 * behind) - up * 0.01]))
        if "lapels" in cut.extras:  # the front edges turned out flat over the chest
            r1 = r0 + out * 0.004 + up * 0.006
            parts.append(band([r0, r1, r1 + out * (0.003 + 0.03 * front) - up * 0.02 * front]))
    if "inner" in cut.extras:
        parts.append(shell(INNER, base, posed, faces, body_faces, normals, slot=1)[0])
    return MeshData.concat(parts)
