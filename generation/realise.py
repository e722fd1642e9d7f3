"""From a frame description to every value the renderer sets: pure numpy, no Blender.

`realise(frame)` computes geometry (posed vertices, hair strands), object
poses (camera, wall, lights) and material values (colours, roughness,
pattern) for one frame. The Blender backend copies these values into its
scene and computes nothing, so everything that reaches the image is
unit-testable here, and a frame's JSON plus this code renders it again.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from generation import geometry, hair, human
from generation.description import Background, Frame, Identity, Light

LIGHT_SKIN = np.array([0.62, 0.40, 0.29])  # linear RGB
DARK_SKIN = np.array([0.085, 0.042, 0.025])
SUN_W_PER_UNIT = 100.0  # a sun's `power_w` is spread over 100 m^2 of irradiance (Blender sun strength in W/m^2)
WALL_OVERSCAN = 2.0  # the wall spans twice the view at its depth, so no edge shows under any roll or shift


@dataclass(frozen=True)
class Strands:
    """Hair curves: `count` strands of `points` points each, world metres."""

    positions: np.ndarray  # (count * points, 3)
    radius: np.ndarray  # (count * points,)
    count: int
    points: int


@dataclass(frozen=True)
class LightSetup:
    type: str
    energy: float  # W (SUN: W/m^2)
    rgb: tuple[float, float, float]
    size_m: float  # AREA edge length
    soft_radius_m: float  # POINT / SPOT shadow radius
    spot_rad: float
    matrix: np.ndarray  # 4x4 world, Blender light axes (shines along -z)


@dataclass(frozen=True)
class SkinLook:
    rgb: tuple[float, float, float]
    lip_rgb: tuple[float, float, float]
    brow_rgb: tuple[float, float, float]
    brow_density: float  # gain on brow weight x strand noise
    roughness: float
    subsurface: float
    texture: str  # user skin file or ""


@dataclass(frozen=True)
class WallLook:
    rgb: tuple[float, float, float]
    pattern: str | None  # node that modulates the paint, None for plain
    pattern_weight: float
    scale: float
    offset: tuple[float, float, float]


@dataclass(frozen=True)
class Realised:
    vertices: np.ndarray  # (n, 3) posed mesh, world
    eyes_world: np.ndarray  # (3,) the posed eye centre
    hair: Strands | None
    camera_matrix: np.ndarray  # 4x4 world, Blender camera axes
    focal_mm: float
    sensor_mm: float
    wall_matrix: np.ndarray  # 4x4: the unit quad scaled, facing the camera
    lights: list[LightSetup]
    world_rgb: tuple[float, float, float]
    world_strength: float
    skin: SkinLook
    iris_rgb: tuple[float, float, float]
    iris_rim_rgb: tuple[float, float, float]
    hair_melanin: float
    hair_redness: float
    shirt_rgb: tuple[float, float, float]
    wall: WallLook


def _t(v) -> tuple[float, ...]:
    return tuple(float(x) for x in v)


def skin_rgb(ident: Identity) -> np.ndarray:
    """Linear albedo: a geometric blend light..dark (keeps mid tones plausible), tilted by undertone."""
    t = ident.skin_tone
    rgb = LIGHT_SKIN ** (1 - t) * DARK_SKIN ** t
    return rgb * np.array([1.0 + 0.06 * (0.5 - ident.skin_hue), 1.0, 1.0 - 0.12 * (ident.skin_hue - 0.5)])


def hair_rgb(ident: Identity) -> np.ndarray:
    """Rough diffuse colour of hair with this melanin, for painted eyebrows."""
    m = ident.hair_melanin
    red = 0.05 * ident.hair_redness * (1 - m) * np.array([1, 0, 0])
    return np.array([0.35, 0.22, 0.12]) * (1 - m) ** 2 + np.array([0.02, 0.015, 0.012]) + red


def skin_look(ident: Identity) -> SkinLook:
    rgb = skin_rgb(ident)
    lip = rgb * np.array([0.85, 0.5, 0.55]) * (1 - 0.3 * ident.lip_tint) + np.array([0.04, 0.0, 0.0]) * ident.lip_tint
    return SkinLook(rgb=_t(rgb), lip_rgb=_t(lip), brow_rgb=_t(np.minimum(hair_rgb(ident), rgb * 0.6)),
                    brow_density=2.5 * ident.brow_density, roughness=ident.skin_roughness,
                    subsurface=0.35 - 0.15 * ident.skin_tone, texture=ident.skin_texture)


def shirt_rgb(rgb) -> tuple[float, float, float]:
    """Shirts are less saturated than random RGB; keep them plausible."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    return colorsys.hsv_to_rgb(h, s * 0.7, v)


def wall_look(bg: Background) -> WallLook:
    pattern = None if bg.kind == "plain" else bg.kind
    return WallLook(rgb=bg.rgb, pattern=pattern, pattern_weight=0.0 if pattern is None else 0.6, scale=bg.scale,
                    offset=(bg.seed % 997 / 97.0, bg.seed % 991 / 89.0, 0.0))


def hair_strands(frame: Frame, rest: np.ndarray, pivot: np.ndarray) -> Strands | None:
    """Strands grown on the rest-pose scalp, outside an ellipsoid fitted to the skull, then posed like the skin."""
    ident = frame.identity
    style = hair.STYLES.get(ident.hair_style)
    if style is None:
        return None
    topo = human.topology()
    head = rest[human.neck_weights(rest[:, 2]) > 0.999]
    centre = (head.max(0) + head.min(0)) / 2
    radii = (head.max(0) - head.min(0)) / 2 * 0.9
    roots = hair.sample_roots(rest, topo.faces, topo.scalp_faces, style.strands, ident.hair_seed)
    strands = hair.grow(rest, topo.faces, roots, style, centre, radii, ident.hair_seed)
    points = human.pose(strands.reshape(-1, 3), frame.body_yaw_deg, frame.head_world_rotation(), pivot)
    radius = np.linspace(1.0, 0.4, style.points)[None, :].repeat(style.strands, 0) * style.radius_m
    return Strands(positions=points, radius=radius.ravel(), count=style.strands, points=style.points)


def camera_matrix(frame: Frame) -> np.ndarray:
    M = np.asarray(frame.camera.world_from_cam, dtype=np.float64).copy()
    M[:3, :3] = M[:3, :3] @ geometry.CV_TO_BLENDER_CAM
    return M


def wall_matrix(frame: Frame) -> np.ndarray:
    """The unit quad placed `background.distance_m` behind the head, facing the camera, covering the view."""
    cam = frame.camera
    M = np.asarray(cam.world_from_cam)
    depth = cam.distance_m + frame.background.distance_m
    half_fov = np.arctan(cam.sensor_mm / 2 / cam.focal_mm)
    size = 2 * depth * np.tan(half_fov) * WALL_OVERSCAN
    W = np.eye(4)
    W[:3, :3] = M[:3, :3] @ geometry.CV_TO_BLENDER_CAM * size
    W[:3, 3] = M[:3, 3] + M[:3, 2] * depth
    return W


def light_setup(light: Light) -> LightSetup:
    loc = np.asarray(light.location)
    M = np.eye(4)
    M[:3, :3] = geometry.look_at(loc, (0, 0, 0)) @ geometry.CV_TO_BLENDER_CAM  # aimed at the head
    M[:3, 3] = loc
    return LightSetup(type=light.type, energy=light.power_w / SUN_W_PER_UNIT if light.type == "SUN" else light.power_w,
                      rgb=light.rgb, size_m=light.size_m, soft_radius_m=light.size_m / 4,
                      spot_rad=float(np.radians(light.spot_deg)), matrix=M)


def realise(frame: Frame) -> Realised:
    ident = frame.identity
    rest, pivot = human.rest_vertices(ident, frame.expression.units)
    head = frame.head_world_rotation()
    return Realised(
        vertices=human.pose(rest, frame.body_yaw_deg, head, pivot),
        eyes_world=human.pose(np.zeros((1, 3)), frame.body_yaw_deg, head, pivot)[0],
        hair=hair_strands(frame, rest, pivot),
        camera_matrix=camera_matrix(frame), focal_mm=frame.camera.focal_mm, sensor_mm=frame.camera.sensor_mm,
        wall_matrix=wall_matrix(frame),
        lights=[light_setup(light) for light in frame.lights],
        world_rgb=frame.world_rgb, world_strength=frame.environment,
        skin=skin_look(ident),
        iris_rgb=ident.iris_rgb, iris_rim_rgb=_t(np.asarray(ident.iris_rgb) * 0.5),
        hair_melanin=ident.hair_melanin, hair_redness=ident.hair_redness,
        shirt_rgb=_t(shirt_rgb(ident.shirt_rgb)),
        wall=wall_look(frame.background),
    )
