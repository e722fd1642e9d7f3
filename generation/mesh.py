"""Quad meshes as plain arrays: what realise() builds and the Blender backend copies."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MeshData:
    vertices: np.ndarray  # (n, 3) world metres
    quads: np.ndarray  # (f, 4) vertex ids
    slots: np.ndarray  # (f,) material slot per quad
    face_attrs: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (f,) or (f, 3) per-quad values
    vertex_attrs: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,) per-vertex values

    @staticmethod
    def concat(meshes: list[MeshData]) -> MeshData:
        """One mesh of all parts; an attribute a part lacks is 0 on its quads, 1 on its vertices."""
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        return MeshData(
            np.concatenate([m.vertices for m in meshes]),
            np.concatenate([m.quads + o for m, o in zip(meshes, offsets)]),
            np.concatenate([m.slots for m in meshes]),
            _merge([(m.face_attrs, len(m.quads)) for m in meshes], 0.0),
            _merge([(m.vertex_attrs, len(m.vertices)) for m in meshes], 1.0),
        )


def _merge(parts: list[tuple[dict, int]], fill: float) -> dict[str, np.ndarray]:
    out = {}
    for name in set().union(*(attrs for attrs, _ in parts)):
        like = next(attrs[name] for attrs, _ in parts if name in attrs)
        out[name] = np.concatenate(
            [attrs[name] if name in attrs else np.full((n,) + like.shape[1:], fill) for attrs, n in parts]
        )
    return out


def vertex_normals(verts: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals of a quad mesh (orientation as wound)."""
    q = verts[quads]
    n = np.cross(q[:, 2] - q[:, 0], q[:, 3] - q[:, 1])
    out = np.zeros_like(verts)
    for k in range(4):
        np.add.at(out, quads[:, k], n)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-12)


def box(centre, size, axes: np.ndarray, slot: int = 0) -> MeshData:
    """A box: `size` along the columns of `axes` (3x3 world), six outward quads."""
    c = np.asarray(centre, float)
    half = np.asarray(size, float) / 2
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    verts = c + (corners * half) @ np.asarray(axes).T
    quads = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
    return MeshData(verts, quads, np.full(6, slot))


def tube(path: np.ndarray, radius: float, sides: int = 6, closed: bool = False) -> MeshData:
    """A tube of `sides` around a polyline (n, 3); `closed` joins the ends (a rim)."""
    d = np.gradient(path, axis=0)
    if closed:
        d = np.roll(path, -1, 0) - np.roll(path, 1, 0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    ref = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(d, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(d, u)
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = path[:, None] + radius * (np.cos(a)[None, :, None] * u[:, None] + np.sin(a)[None, :, None] * v[:, None])
    n = len(path)
    i = np.arange(n if closed else n - 1)
    j = (i + 1) % n
    k = np.arange(sides)
    kk = (k + 1) % sides
    quads = np.stack(
        [i[:, None] * sides + k, i[:, None] * sides + kk, j[:, None] * sides + kk, j[:, None] * sides + k], -1
    ).reshape(-1, 4)
    return MeshData(ring.reshape(-1, 3), quads, np.zeros(len(quads), np.int64))
