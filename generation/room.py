"""What stands behind the person: a backdrop sphere showing the HDRI, or room geometry.

Every background pixel is real geometry at a true distance: the HDRI is
projected onto a sphere around the head (its radius sampled), walls are
planes, shelves, books and doors are boxes. Built in world metres from the
frame's camera and a seed, so the same description gives the same room.
Slots: 0 paint/plaster, 1 wood, 2 painted objects (books); per-quad colours
ride in the `tint` face attribute.
"""

from __future__ import annotations

import numpy as np

from generation.mesh import MeshData, box

UP = np.array([0.0, 0.0, 1.0])
CLEAR_M = 0.25  # every background surface stays this far behind the head centre...
SHOULDERS_M = 0.45  # ...within this half-width of the view axis (head and shoulders)


def sphere(radius: float, segments: int = 96, rings: int = 48) -> MeshData:
    """A UV sphere around the origin (the eyes) with quads only (the poles are tiny rings)."""
    theta = np.linspace(1e-3, np.pi - 1e-3, rings)
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    verts = radius * np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    i = np.arange(rings - 1)[:, None]
    k = np.arange(segments)[None]
    quads = np.stack(
        [
            i * segments + k,
            (i + 1) * segments + k,
            (i + 1) * segments + (k + 1) % segments,
            i * segments + (k + 1) % segments,
        ],
        -1,
    ).reshape(-1, 4)
    return MeshData(verts, quads, np.zeros(len(quads), np.int64))


def _frame(forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal view direction and the horizontal axis to its right."""
    f = forward - UP * (forward @ UP)
    f /= np.linalg.norm(f)
    return f, np.cross(f, UP)


def _wall(centre, normal, right, width, height, slot, tint) -> MeshData:
    c = np.asarray(centre)
    quad = np.array(
        [c + right * sx * width / 2 + UP * sz * height / 2 for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    )
    if np.cross(quad[1] - quad[0], quad[2] - quad[0]) @ normal < 0:
        quad = quad[::-1]
    return MeshData(quad, np.array([[0, 1, 2, 3]]), np.array([slot]), {"tint": np.array([tint])})


def _tinted(mesh: MeshData, tint) -> MeshData:
    return MeshData(mesh.vertices, mesh.quads, mesh.slots, {"tint": np.tile(tint, (len(mesh.quads), 1))})


def room(
    kind: str, head_depth: float, distance: float, cam_pos: np.ndarray, forward: np.ndarray, wall_rgb, seed: int
) -> MeshData:
    """Walls `distance` behind the head (which is `head_depth` in front of the camera), facing the camera."""
    rng = np.random.default_rng(seed)
    f, r = _frame(forward)
    depth = head_depth + distance
    centre = cam_pos + f * depth
    wall_rgb = np.asarray(wall_rgb)
    big = 12.0
    if kind == "corner":  # two walls meeting behind the head, seen diagonally; they come nearer to the sides,
        offset = rng.uniform(-0.3, 0.3) * depth  # so the edge recedes until they clear the shoulders by CLEAR_M
        angle = np.radians(rng.uniform(35, 55))
        edge_distance = max(distance, CLEAR_M + (SHOULDERS_M + abs(offset)) * np.tan(angle))
        edge = cam_pos + f * (head_depth + edge_distance) + r * offset
        parts = []
        for side in (-1, 1):
            along = -f * np.sin(angle) + side * r * np.cos(angle)  # from the edge towards the camera side
            normal = np.cross(UP, along)
            normal *= -np.sign(normal @ f)  # towards the camera
            other = wall_rgb * rng.uniform(0.75, 1.1)
            parts.append(_wall(edge + along * big / 2, normal, along, big, big, 0, wall_rgb if side < 0 else other))
        return MeshData.concat(parts)
    parts = [_wall(centre, -f, r, big, big, 0, wall_rgb)]
    room_depth = max(distance - CLEAR_M, 0.0)  # what stands in front of the wall keeps clear of the head
    axes = np.stack([r, -f, UP], axis=1)
    if kind == "shelf" and room_depth > 0.08:
        d = min(0.28, room_depth)
        wood = np.array([0.25, 0.14, 0.07]) * rng.uniform(0.5, 1.5)
        for z in np.sort(rng.uniform(-0.45, 0.45, rng.integers(1, 3))):
            plank = centre - f * d / 2 + UP * z + r * rng.uniform(-0.3, 0.3)
            parts.append(_tinted(box(plank, (1.6, d, 0.025), axes, 1), wood))
            x = -0.8
            while x < 0.8:
                w = rng.uniform(0.015, 0.05)
                hgt = rng.uniform(0.15, 0.26)
                if rng.uniform() < 0.85:
                    book = plank + r * (x + w / 2) + UP * (0.0125 + hgt / 2) + f * rng.uniform(0, 0.04)
                    colour = rng.uniform(0.03, 0.6, 3) ** 1.5
                    parts.append(_tinted(box(book, (w, rng.uniform(0.6, 0.95) * d, hgt), axes, 2), colour))
                x += w + rng.uniform(0, 0.01)
    elif kind == "door" and room_depth > 0.05:
        x = rng.uniform(-0.9, 0.9) * depth * 0.4
        door = centre + r * x + UP * rng.uniform(-0.2, 0.3)
        panel = np.array([0.3, 0.2, 0.12]) * rng.uniform(0.4, 2.0) if rng.uniform() < 0.6 else wall_rgb * 1.2
        parts.append(_tinted(box(door - f * 0.01, (0.85, 0.02, 2.05), axes, 1), panel))
        for sx in (-1, 1):  # casing
            parts.append(_tinted(box(door + r * sx * 0.47 - f * 0.012, (0.08, 0.024, 2.2), axes, 2), wall_rgb * 1.3))
        handle = door + r * 0.33 - f * 0.04
        parts.append(_tinted(box(handle, (0.12, 0.02, 0.02), axes, 2), np.array([0.5, 0.45, 0.35])))
    return MeshData.concat([p if "tint" in p.face_attrs else _tinted(p, wall_rgb) for p in parts])
