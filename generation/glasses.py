"""Glasses in the rest pose: rims, bridge and temples as tubes, lenses as thin curved discs.

Built around the identity's eyes and moved forward until no rim is within
4 mm of the face; nose pads reach from the inner rims to the sides of the
nose bridge and the temples run along the head to the top of each ear and
hook down behind it, so the glasses rest on the nose and ears of every head
shape and expression (tests/test_realise.py measures pad-to-skin and
temple-to-ear distances over sampled identities). Then posed with the head
like every other point.
Slot 0 is the frame (mask label GLASSES), slot 1 the lenses (label LENS,
depth of what is seen through them; README: data contract).
"""

from __future__ import annotations

import numpy as np

from generation.mesh import MeshData, tube

SHAPES = {"round": (0.022, 0.022, 1.0), "rect": (0.026, 0.018, 0.35)}  # half width, half height, corner roundness
RIM_M = {"round": 0.0011, "rect": 0.0018}
CLEARANCE_M = 0.004


def outline(shape: str, n: int = 40) -> np.ndarray:
    """Lens outline in its plane (n, 2): a superellipse, rounder with larger roundness."""
    a, b, r = SHAPES[shape]
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    p = 2 / (1 + 3 * r) + 2  # exponent 2 (ellipse) .. 5 (rounded rectangle)
    c, s = np.cos(t), np.sin(t)
    return np.stack([a * np.sign(c) * np.abs(c) ** (2 / p), b * np.sign(s) * np.abs(s) ** (2 / p)], axis=1)


PAD_GAP_M = 0.001  # nose pads sit this far off the skin: touching, not inside


def nose_pad_target(head: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Where a nose pad under the inner rim point `inner` rests: the skin on that side of the nose bridge
    (1-8 mm off the mid-line, 0-15 mm below the rim point), the front-most such point, PAD_GAP_M off it."""
    side = np.sign(inner[0]) or 1.0
    x = head[:, 0] * side
    band = head[(x > 0.001) & (x < 0.008) & (head[:, 2] < inner[2]) & (head[:, 2] > inner[2] - 0.015)]
    band = band[band[:, 1] < inner[1] + 0.03]  # the nose, not the back of the head
    if not len(band):
        return inner
    skin = band[np.argmin(band[:, 1])]
    out = np.array([0.6 * side, -1.0, 0.0])
    return skin + PAD_GAP_M * out / np.linalg.norm(out)


def ear_top(head: np.ndarray, ears: np.ndarray, side: float) -> np.ndarray:
    """The highest point of the ear on `side` (sign of x): where a temple rests."""
    own = ears[np.sign(ears[:, 0]) == side]
    return own[np.argmax(own[:, 2])]


def glasses(shape: str, eyes: np.ndarray, head: np.ndarray, ears: np.ndarray | None = None) -> MeshData:
    """Glasses for eye centres `eyes` (2, 3: left, right; rest world, face towards -y) on head vertices `head`
    (`ears`: the ear vertices, where the temples rest; None: a fixed 11 cm back)."""
    ring = outline(shape)
    eye_y = eyes[:, 1].mean()
    lens_y = eye_y - 0.026  # ~14 mm in front of the cornea
    centres = eyes.copy()
    centres[:, 1] = lens_y
    centres[:, 2] += 0.002
    pts = [c + np.stack([ring[:, 0] * np.sign(c[0] or 1), np.zeros(len(ring)), ring[:, 1]], 1) for c in centres]
    # clearance: move forward until every rim point is in front of the face surface near it
    front = head[head[:, 1] < eye_y + 0.01]
    shift = 0.0
    for p in pts:
        d2 = (p[:, None, 0] - front[None, :, 0]) ** 2 + (p[:, None, 2] - front[None, :, 2]) ** 2
        near = d2 < 0.004**2
        surface = np.where(near, front[None, :, 1], np.inf).min(1)
        shift = max(shift, float(np.max(p[:, 1] - (surface - CLEARANCE_M), initial=0.0)))
    pts = [p - [0, shift, 0] for p in pts]
    centres = centres - [0, shift, 0]
    rim = RIM_M[shape]
    parts = [tube(p, rim, closed=True) for p in pts]
    # bridge: between the inner rim points, arched up
    inner = [p[np.argmin(np.abs(p[:, 0]))] for p in pts]
    t = np.linspace(0, 1, 8)[:, None]
    bridge = inner[0] * (1 - t) + inner[1] * t + np.array([0, -0.002, 0.006]) * np.sin(np.pi * t)
    parts.append(tube(bridge, rim * 0.8))
    # nose pads: from each inner rim point down and back onto the side of the nose bridge
    for p in inner:
        pad = nose_pad_target(head, p)
        parts.append(tube(np.stack([p, (p + pad) / 2 + [0, 0.001, 0], pad]), rim * 0.6))
    # temples: from the outer rim point along the side of the head to the top of the ear, then down behind it
    for p in pts:
        outer = p[np.argmax(np.abs(p[:, 0]))]
        side = np.sign(outer[0])
        top = ear_top(head, ears, side) if ears is not None and len(ears) else None
        back_y = top[1] if top is not None else eye_y + 0.09
        over_z = top[2] + 0.003 if top is not None else outer[2] - 0.004
        band = head[(np.abs(head[:, 2] - (outer[2] + over_z) / 2) < 0.015) & (head[:, 1] < back_y)]
        band = band[np.sign(band[:, 0]) == side]
        # straight back from the hinge, pushed out only where the head is wider (3 mm off it), never back in:
        # a temple that juts sideways at the hinge floats in the air beside a broad face
        ys = np.linspace(outer[1], back_y - 0.02, 7)
        widths = [np.abs(band[np.abs(band[:, 1] - y) < 0.01, 0]).max(initial=0.0) + 0.003 for y in ys]
        xs = side * np.maximum.accumulate(np.maximum(widths, abs(outer[0])))
        zs = np.linspace(outer[2], (outer[2] + over_z) / 2, len(ys))
        ear_x = side * (abs(top[0]) - 0.002) if top is not None else xs[-1] * 0.97
        path = np.concatenate(
            [
                [outer],
                np.stack([xs, ys, zs], 1)[1:],
                [[ear_x, back_y, over_z], [ear_x * 0.98, back_y + 0.015, over_z - 0.02]],
            ]
        )
        parts.append(tube(path, rim * 0.7))
    frame = MeshData.concat(parts)
    lenses = MeshData.concat([_disc(p, c) for p, c in zip(pts, centres)])
    return MeshData.concat([frame, MeshData(lenses.vertices, lenses.quads, np.ones(len(lenses.quads), np.int64))])


def _disc(outline_pts: np.ndarray, centre: np.ndarray, rings: int = 4) -> MeshData:
    """A lens filling the rim, bulging 1.5 mm forward at the centre; quads ring by ring."""
    n = len(outline_pts)
    scale = np.linspace(1.0, 0.0, rings)[:, None, None]  # the last ring collapses to the centre
    bulge = (1 - scale**2) * np.array([0, -0.0015, 0])
    verts = (centre + (outline_pts - centre) * scale + bulge).reshape(-1, 3)
    i = np.arange(rings - 1)[:, None]
    k = np.arange(n)[None]
    quads = np.stack([i * n + k, i * n + (k + 1) % n, (i + 1) * n + (k + 1) % n, (i + 1) * n + k], -1).reshape(-1, 4)
    return MeshData(verts, quads, np.zeros(len(quads), np.int64))
