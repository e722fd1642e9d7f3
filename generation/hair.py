"""Hair as curves, in numpy: scalp hair, eyebrows, eyelashes and facial hair.

Scalp hair follows the recipe of Blender's procedural hair node groups
(Generate guides, Interpolate children, Clump, Frizz, Curl), done here so the
exact strand points are part of the realised frame and testable: a few
hundred guides grow in the rest pose (out along the scalp normal, combed
back, pulled by gravity, kept outside an ellipsoid fitted to the skull, or
gathered into a ponytail or bun); thousands of children copy the shape of
their nearest guides, clump towards them and get frizz or curls. Short
surface hairs (brows, lashes, beard) lie along the skin in a given
direction. Everything is posed afterwards with the same neck twist as the
skin, so long hair bends where the neck bends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    length_m: float
    gravity: float
    strands: int  # children
    points: int
    radius_m: float
    guides: int = 300
    clump: float = 0.6  # how far tips gather towards their guide
    frizz_m: float = 0.002
    curl_radius_m: float = 0.0
    curl_turns: float = 0.0
    lift: float = 0.5  # how far strands stand off the scalp before lying down
    gather: str = ""  # "" | ponytail | bun
    cover: float = 0.45  # how strongly roots tint the scalp skin under the hair (generation.realise.scalp_cover)


STYLES = {
    "buzz": Style(0.006, 0.0, 8000, 2, 0.00017, clump=0.0, frizz_m=0.0003, cover=0.8),
    "short": Style(0.04, 0.35, 11000, 5, 0.00014, clump=0.5, cover=0.6),
    "medium": Style(0.12, 0.75, 12000, 9, 0.00014),
    "long": Style(0.28, 1.0, 13000, 14, 0.00014, clump=0.7),
    "curly": Style(
        0.12, 0.45, 11000, 16, 0.00014, clump=0.7, frizz_m=0.003, curl_radius_m=0.007, curl_turns=3.0, lift=0.9
    ),
    "coily": Style(
        0.06, 0.05, 12000, 20, 0.00017, clump=0.5, frizz_m=0.003, curl_radius_m=0.003, curl_turns=5.0, lift=1.6
    ),
    "ponytail": Style(0.3, 1.0, 11000, 16, 0.00014, clump=0.6, frizz_m=0.001, gather="ponytail"),
    "bun": Style(0.25, 0.4, 11000, 16, 0.00014, clump=0.4, frizz_m=0.001, gather="bun"),
}


MAP_BINS = (72, 144)  # polar x azimuth bins of a head's radius map (2.5 degrees, ~4 mm on a skull)


@dataclass(frozen=True)
class Skull:
    """Ellipsoid fitted to the rest-pose head, and the head's own radius by direction: hair stays outside
    both (the ellipsoid alone lies a centimetre under the crown, where hair would sink into the scalp)."""

    centre: np.ndarray
    radii: np.ndarray
    radius_map: np.ndarray | None = None  # MAP_BINS: largest surface radius per direction, NaN where none

    def outside(self, p: np.ndarray, margin) -> np.ndarray:
        r_m = self.radii + np.asarray(margin)[..., None]
        q = (p - self.centre) / r_m
        r = np.linalg.norm(q, axis=-1, keepdims=True)
        p = np.where(r < 1, self.centre + q / np.maximum(r, 1e-9) * r_m, p)
        if self.radius_map is None:
            return p
        d = p - self.centre
        r = np.linalg.norm(d, axis=-1)
        surface = self.radius_map[_bins(d)]
        floor = np.where(np.isnan(surface), 0.0, surface + np.asarray(margin))
        return self.centre + d * (np.maximum(r, floor) / np.maximum(r, 1e-9))[..., None]


def _bins(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    polar = np.arccos(np.clip(d[..., 2] / np.maximum(np.linalg.norm(d, axis=-1), 1e-12), -1, 1))
    azimuth = np.arctan2(d[..., 1], d[..., 0]) + np.pi
    h, w = MAP_BINS
    return (
        np.minimum((polar / np.pi * h).astype(int), h - 1),
        np.minimum((azimuth / (2 * np.pi) * w).astype(int), w - 1),
    )


def radius_map(surface: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The largest radius of `surface` points in each direction bin, dilated so the gaps between vertices are
    covered: one bin in polar angle, and in azimuth as many bins as span ~3 degrees of arc at that latitude
    (azimuth bins narrow towards the crown). A slight overestimate keeps hair off the skin."""
    d = surface - centre
    h, w = MAP_BINS
    out = np.full(MAP_BINS, np.nan)
    rows, cols = _bins(d)
    np.fmax.at(out, (rows, cols), np.linalg.norm(d, axis=1))
    polar = np.fmax(out, np.fmax(np.roll(out, 1, 0), np.roll(out, -1, 0)))
    polar[0], polar[-1] = np.fmax(out[0], out[1]), np.fmax(out[-1], out[-2])  # no wrap over the poles
    grown = polar.copy()
    for i in range(h):
        arc = np.sin((i + 0.5) / h * np.pi) * 2 * np.pi / w  # radians of arc per azimuth bin
        for k in range(1, min(w // 2, int(np.ceil(np.radians(3.0) / arc))) + 1):
            grown[i] = np.fmax(grown[i], np.fmax(np.roll(polar[i], k), np.roll(polar[i], -k)))
    return grown


def sample_roots(
    verts: np.ndarray,
    faces: np.ndarray,
    chosen_faces: np.ndarray,
    count: int,
    seed: int,
    weights: np.ndarray | None = None,
):
    """Area-weighted random roots on quads: (face ids, bilinear weights over 4 corners)."""
    rng = np.random.default_rng(seed)
    quads = verts[faces[chosen_faces]]
    area = 0.5 * np.linalg.norm(np.cross(quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1]), axis=1)
    p = area * (1.0 if weights is None else weights)
    chosen = rng.choice(chosen_faces, size=count, p=p / p.sum())
    u, v = rng.uniform(size=(2, count))
    bilinear = np.stack([(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v], axis=1)
    return chosen, bilinear


def root_frames(verts: np.ndarray, faces: np.ndarray, roots, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root positions and unit normals pointing away from `inside` (a point within the surface)."""
    face_ids, w = roots
    corners = verts[faces[face_ids]]
    root = np.einsum("sk,skd->sd", w, corners)
    normal = np.cross(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    normal *= np.sign(np.einsum("sd,sd->s", normal, root - inside))[:, None]
    return root, normal


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


def grow(root: np.ndarray, normal: np.ndarray, style: Style, skull: Skull, rng: np.random.Generator) -> np.ndarray:
    """Guide strands (S, P, 3) in the rest pose (world axes: z up, face towards -y)."""
    if style.gather:
        return _gathered(root, style, skull, rng)
    front = root[:, 1] < skull.centre[1]  # the face side of the head
    comb = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.25, (len(root), 3))  # combed back, loosely
    comb[:, 0] += 1.2 * np.sign(root[:, 0]) * front  # swept to the sides from a parting in front
    gravity = np.array([0.0, 0.0, -1.0])
    length = style.length_m * rng.uniform(0.7, 1.1, (len(root), 1))
    step = length / max(style.points - 1, 1)
    flow = 0.5 * comb + style.gravity * gravity * ~front[:, None]
    flow -= np.einsum("sd,sd->s", flow, normal)[:, None] * normal  # lie along the scalp, never into it
    flow = _unit(flow)
    face_plane = skull.centre[1] - 0.35 * skull.radii[1]
    points = [root]
    p = root + normal * 0.0005
    for k in range(1, style.points):
        t = k / max(style.points - 1, 1)
        lift = style.lift * (1 - t) ** 4  # leave the scalp, then lie down
        # long hair ends up hanging, but only once it has passed the sides of the face: never over the eyes
        beside = np.clip((p[:, 1] - face_plane) / (0.5 * skull.radii[1]), 0, 1)[:, None]
        beside = np.maximum(beside, np.clip((np.abs(p[:, 0]) - 0.8 * skull.radii[0]) / 0.02, 0, 1)[:, None])
        fall = style.gravity * t * beside
        d = _unit(normal * lift + (flow * (1 - fall) + gravity * fall) * (1 - min(lift, 0.9)))
        p = skull.outside(p + d * step, 0.004 + 0.006 * t)
        points.append(p)
    return np.stack(points, axis=1)


def _gathered(root: np.ndarray, style: Style, skull: Skull, rng: np.random.Generator) -> np.ndarray:
    """Hair pulled over the skull to a tie at the back, then a hanging tail (ponytail) or a coiled bun."""
    back_height = 0.35 if style.gather == "ponytail" else 0.75
    tie = skull.centre + np.array([0.0, 1.0, back_height]) / np.linalg.norm([0, 1, back_height]) * (skull.radii + 0.008)
    n = style.points
    split = n // 2
    t = np.linspace(0, 1, split)[None, :, None]
    path = root[:, None] * (1 - t) + tie * t  # straight to the tie, then pushed out over the scalp
    path = skull.outside(path, 0.003 + 0.003 * t[..., 0])
    s = np.linspace(0, 1, n - split + 1)[1:][None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (len(root), 1, 1))
    if style.gather == "ponytail":
        spread = rng.normal(0, 0.012, (len(root), 1, 3)) * s
        tail = tie + np.array([0, 0.03, 0]) * s + np.array([0, 0, -1.0]) * style.length_m * s + spread
    else:  # a bun: strands coil around a small torus behind the crown
        axis_out = _unit(tie - skull.centre)
        u = _unit(np.cross(axis_out, [1.0, 0, 0]))
        v = np.cross(axis_out, u)
        angle = phase + 4 * np.pi * s
        r = 0.022 + rng.uniform(-0.006, 0.006, (len(root), 1, 1))
        centre = tie + axis_out * 0.03
        tail = centre + r * (np.cos(angle) * u + np.sin(angle) * v) + axis_out * 0.012 * np.sin(3 * angle)
    return np.concatenate([path, tail], axis=1)


def children(
    root: np.ndarray,
    normal: np.ndarray,
    guide_roots: np.ndarray,
    guides: np.ndarray,
    style: Style,
    skull: Skull,
    rng: np.random.Generator,
) -> np.ndarray:
    """Interpolate, clump, frizz and curl children (S, P, 3) from guides (G, P, 3)."""
    d2 = (root**2).sum(1)[:, None] + (guide_roots**2).sum(1)[None] - 2 * root @ guide_roots.T
    k = min(3, len(guide_roots))
    near = np.argpartition(d2, k - 1, axis=1)[:, :k]
    w = 1 / (np.sqrt(np.maximum(np.take_along_axis(d2, near, 1), 0)) + 1e-4)
    w /= w.sum(1, keepdims=True)
    shape = guides - guides[:, :1]  # guide offsets from their roots
    strands = root[:, None] + np.einsum("sk,skpd->spd", w, shape[near])
    t = np.linspace(0, 1, style.points)[None, :, None]
    if style.clump:
        own = guides[near[:, 0]]
        strands += (own - strands) * style.clump * t**1.5 * rng.uniform(0.6, 1.0, (len(root), 1, 1))
    if style.frizz_m:
        strands += np.cumsum(rng.normal(0, style.frizz_m / np.sqrt(style.points), strands.shape), axis=1) * t
    if style.curl_turns:
        direction = _unit(np.gradient(strands, axis=1))
        u = _unit(np.cross(direction, normal[:, None]))
        v = np.cross(direction, u)
        angle = rng.uniform(0, 2 * np.pi, (len(root), 1, 1)) + 2 * np.pi * style.curl_turns * t
        radius = style.curl_radius_m * np.minimum(t * 4, 1) * rng.uniform(0.7, 1.3, (len(root), 1, 1))
        strands += radius * (np.cos(angle) * u + np.sin(angle) * v)
    margin = 0.003 + 0.006 * t[..., 0].repeat(len(root), 0)
    strands[:, 1:] = skull.outside(strands[:, 1:], margin[:, 1:])
    return strands


def scalp(
    verts: np.ndarray, faces: np.ndarray, scalp_faces: np.ndarray, style: Style, skull: Skull, seed: int
) -> np.ndarray:
    """Scalp hair strands (S, P, 3), rest pose."""
    rng = np.random.default_rng(seed)
    g_root, g_normal = root_frames(
        verts, faces, sample_roots(verts, faces, scalp_faces, style.guides, seed), skull.centre
    )
    guides = grow(g_root, g_normal, style, skull, rng)
    c_root, c_normal = root_frames(
        verts, faces, sample_roots(verts, faces, scalp_faces, style.strands, seed + 1), skull.centre
    )
    return children(c_root, c_normal, g_root, guides, style, skull, rng)


def surface_hairs(
    root: np.ndarray,
    normal: np.ndarray,
    direction: np.ndarray,
    length: np.ndarray,
    points: int,
    lift: float,
    curl: float = 0.0,
) -> np.ndarray:
    """Short hairs (S, P, 3) that leave the skin at a low angle along `direction` (brows, beard, lashes).

    `curl` bends them towards the normal (lashes curl away from the eye).
    """
    tangent = _unit(direction - np.einsum("sd,sd->s", direction, normal)[:, None] * normal)
    t = np.linspace(0, 1, points)[None, :, None]
    along = tangent[:, None] * t * length[:, None, None]
    up = normal[:, None] * (lift * t + curl * t**2) * length[:, None, None]
    return root[:, None] + normal[:, None] * 0.0002 + along + up
