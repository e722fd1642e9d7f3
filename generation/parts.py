"""Face parts of the cropped MakeHuman mesh and of the fur strands (the data contract's .parts.png).

Each face's part is chosen once on the neutral base mesh (x to the subject's left, y up, z forward) from what
the renderer already uses: the brow band it grows brows on, MakeHuman's ears and lips masks, the iBUG landmarks
(the nose's outline from the bridge to the nostril wings; the lip line, which splits upper from lower lip), and
the eye, teeth and tongue helper geometry. A part belongs to a face, so it follows identity morphs, expressions
and the head pose exactly; strands take the part of their set (brows, lashes with the eyes, facial hair).
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.path import Path as Polygon

from fdcore.labels import (
    BROWS,
    EARS,
    EYE,
    LOWER_LIP,
    MOUTH_INSIDE,
    NO_PART,
    NOSE,
    PART_STRIDE,
    SKIN,
    TEETH,
    UPPER_LIP,
)
from generation import human, landmarks
from generation.assets import base_mesh

NOSE_WIDEN = 1.35  # the nostril landmarks sit at half the inner-canthal width; the wings reach about 1.35x that
_TEETH_GROUPS = ("helper-upper-teeth", "helper-lower-teeth")


@functools.cache
def face_parts() -> np.ndarray:
    """(f,) part of every face of human.topology()."""
    topo = human.topology()
    V = base_mesh()["verts"][topo.vert_index]
    F, L = topo.faces, topo.face_labels
    centre = V[F].mean(1)
    parts = np.full(len(F), NO_PART, np.uint8)
    face = L == human.FACE
    parts[face] = SKIN
    parts[face & (human.region_mask("ears")[F].mean(1) > 0.5)] = EARS
    lm = V[landmarks.ibug68()]
    parts[face & _inside(centre, _nose_outline(lm))] = NOSE
    lips = face & (human.region_mask("lips")[F].mean(1) > 0.5) & (centre[:, 2] > 0.8)
    line = lm[60:68]  # the inner lip contour: on the closed neutral mouth, the line where the lips meet
    order = np.argsort(line[:, 0])
    line_y = np.interp(centre[:, 0], line[order, 0], line[order, 1])
    parts[lips & (centre[:, 1] >= line_y)] = UPPER_LIP
    parts[lips & (centre[:, 1] < line_y)] = LOWER_LIP
    parts[face & (topo.brow[F].max(1) > 0.5)] = BROWS  # the band is narrower than the quads it crosses
    parts[L == human.EYES] = EYE
    groups = base_mesh()["groups"][topo.face_index]
    parts[L == human.MOUTH] = MOUTH_INSIDE
    parts[(L == human.MOUTH) & np.isin(groups, _TEETH_GROUPS)] = TEETH
    return parts


def _nose_outline(lm: np.ndarray) -> np.ndarray:
    """The nose in the frontal view: from the bridge top (27) down to the nostril wings (31, 35, widened about
    the mid-line) and round under the tip (32-34)."""
    wings = lm[[35, 34, 33, 32, 31], :2].copy()
    wings[:, 0] *= NOSE_WIDEN
    return np.vstack([lm[27, :2], wings])


def _inside(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    return Polygon(outline).contains_points(points[:, :2])


def pass_index(label: int, part: int) -> int:
    """The material pass index that renders as this label and part (fdcore.labels.PART_STRIDE)."""
    return label + PART_STRIDE * part


def split_index(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A material-index pass (integers) -> (labels, parts)."""
    index = index.astype(np.int64)
    return index % PART_STRIDE, index // PART_STRIDE
