"""From a frame description to every value the renderer sets: pure numpy, no Blender.

`realise(frame)` computes geometry (posed vertices, hair strands), object
poses (camera, backdrop, lights) and material values (colours, roughness,
pattern) for one frame. The Blender backend copies these values into its
scene and computes nothing, so everything that reaches the image is
unit-testable here, and a frame's JSON plus this code renders it again.
"""

from __future__ import annotations

import colorsys
import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from fdcore.labels import BEARD, BROWS, EYE, NO_PART
from fdcore.schema import BACKGROUND_KINDS
from generation import garment, geometry, glasses, hair, human, room
from generation.assets import LUMA, base_mesh, hdri_luminance, hdri_mean_rgb, vertex_groups
from generation.description import Frame, Identity, Light
from generation.mesh import MeshData

LIGHT_SKIN = np.array([0.62, 0.40, 0.29])  # linear RGB
DARK_SKIN = np.array([0.085, 0.042, 0.025])
SUN_W_PER_UNIT = 100.0  # a sun's `power_w` is spread over 100 m^2 of irradiance (Blender sun strength in W/m^2)
HDRI_REFERENCE = 0.5  # mean luminance an HDRI is scaled to at environment strength 1
EXPOSURE_REFERENCE = 3.1  # irradiance at the face (W/m^2) that a camera exposes a mid-tone face at 0 EV
MID_SKIN = 0.2  # luminance of the skin albedo that face-priority metering treats as the mid tone
EXPOSURE_RANGE = 2.5  # the metering corrects at most this many stops either way
WHITE_BALANCE = 0.6  # share of the light's colour cast a camera's auto white balance removes (phones keep some warmth)


@dataclass(frozen=True)
class Strands:
    """Hair curves: `count` strands of `points` points each, world metres."""

    positions: np.ndarray  # (count * points, 3)
    radius: np.ndarray  # (count * points,)
    count: int
    points: int
    parts: np.ndarray | None = None  # (count,) face part of each strand (fdcore.labels.PARTS); None: no part

    def of_part(self, part: int) -> Strands | None:
        """The strands of one face part (None when there are none)."""
        if self.parts is None or not (keep := self.parts == part).any():
            return None
        n = int(keep.sum())
        pick = lambda a: a.reshape(self.count, self.points, *a.shape[1:])[keep].reshape(n * self.points, *a.shape[1:])  # noqa: E731
        return Strands(pick(self.positions), pick(self.radius), n, self.points, self.parts[keep])


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
    brow_density: float  # gain on brow weight x strand noise (a shadow under the brow hairs)
    roughness: float
    subsurface: float
    texture: str  # user skin file or ""
    flush_rgb: tuple[float, float, float]  # cheeks, nose and ears (redness, blush)
    flush: float
    under_eye_rgb: tuple[float, float, float]  # multiplies the skin below the eyes
    under_eye: float
    shadow_rgb: tuple[float, float, float]  # eyelids (eye shadow with make-up)
    eyelid: float
    freckle_rgb: tuple[float, float, float]  # multiplies the skin
    freckles: float
    mole_rgb: tuple[float, float, float]
    moles: float  # share of noise cells that hold a mole
    oil: float  # roughness drop on the T-zone
    stubble_rgb: tuple[float, float, float]
    stubble: float
    scalp_rgb: tuple[float, float, float]  # hair roots and stubble seen on the scalp under the hair
    scalp_cover: float  # 0 bald .. 1: how much the roots darken the scalp (short hair shows more of them)
    noise_offset: tuple[float, float, float]  # per identity: freckles and moles differ between people


@dataclass(frozen=True)
class FabricLook:
    rgb: tuple[float, float, float]
    alt_rgb: tuple[float, float, float]  # the pattern's second colour
    inner_rgb: tuple[float, float, float]
    pattern: str  # plain | stripes | check | heather
    scale: float
    offset: tuple[float, float, float]


@dataclass(frozen=True)
class WorldLook:
    hdri: str  # name under bpy's studiolights/world, or "" for a uniform colour
    rotation_rad: float
    strength: float
    rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Realised:
    vertices: np.ndarray  # (n, 3) posed mesh, world
    eyes_world: np.ndarray  # (3,) the posed eye centre
    hair: Strands | None
    fur: Strands | None  # brows, lashes, facial hair
    garment: MeshData | None
    fabric: FabricLook
    glasses: MeshData | None  # slot 0 frame, slot 1 lenses
    glasses_rgb: tuple[float, float, float]
    backdrop: MeshData | None  # room geometry, or the HDRI sphere when backdrop_hdri
    backdrop_hdri: bool
    world: WorldLook
    exposure: float  # stops, like a camera's auto-exposure: bright and dark scenes both keep a visible face
    white_balance: tuple[float, float, float]  # linear RGB gains, like a camera's auto white balance
    camera_matrix: np.ndarray  # 4x4 world, Blender camera axes
    focal_mm: float
    sensor_mm: float
    lights: list[LightSetup]
    skin: SkinLook
    iris_rgb: tuple[float, float, float]
    iris_rim_rgb: tuple[float, float, float]
    hair_melanin: float
    fur_melanin: float  # brows, lashes and beard: a little darker than the scalp hair
    hair_redness: float

    @property
    def film_gains(self) -> tuple[float, float, float]:
        """Exposure and white balance as one scene-linear gain per channel, applied before the view transform.

        Blender's view-settings exposure would do the same, but every distinct value builds and caches a new
        colour-management processor (megabytes each, never freed): a render worker grew ~2-4 MB per frame.
        """
        return _t(np.asarray(self.white_balance) * 2.0**self.exposure)


def _t(v) -> tuple[float, float, float]:
    """A colour or offset as three plain floats (what the frozen looks and the backend take)."""
    x, y, z = (float(c) for c in v)
    return x, y, z


def skin_rgb(ident: Identity) -> np.ndarray:
    """Linear albedo: a geometric blend light..dark (keeps mid tones plausible), tilted by undertone."""
    t = ident.skin_tone
    rgb = LIGHT_SKIN ** (1 - t) * DARK_SKIN**t
    return rgb * np.array([1.0 + 0.06 * (0.5 - ident.skin_hue), 1.0, 1.0 - 0.12 * (ident.skin_hue - 0.5)])


def hair_rgb(ident: Identity) -> np.ndarray:
    """Rough diffuse colour of hair with this melanin, for painted eyebrows."""
    m = ident.hair_melanin
    red = 0.05 * ident.hair_redness * (1 - m) * np.array([1, 0, 0])
    return np.array([0.35, 0.22, 0.12]) * (1 - m) ** 2 + np.array([0.02, 0.015, 0.012]) + red


def skin_look(ident: Identity) -> SkinLook:
    rgb = skin_rgb(ident)
    lip = rgb * np.array([0.85, 0.5, 0.55]) * (1 - 0.3 * ident.lip_tint) + np.array([0.04, 0.0, 0.0]) * ident.lip_tint
    lip = lip * (1 - ident.makeup) + np.asarray(ident.lipstick_rgb) * ident.makeup
    stubble = {"none": 0.0, "stubble": 0.6}.get(ident.facial_hair, 0.35) * ident.facial_hair_density
    rng = np.random.default_rng(ident.detail_seed)
    return SkinLook(
        rgb=_t(rgb),
        lip_rgb=_t(lip),
        brow_rgb=_t(np.minimum(hair_rgb(ident), rgb * 0.6)),
        brow_density=0.8 * ident.brow_density,
        roughness=ident.skin_roughness,
        subsurface=0.35 - 0.15 * ident.skin_tone,
        texture=ident.skin_texture,
        flush_rgb=_t(rgb * np.array([1.3, 0.7, 0.72])),
        flush=0.5 * ident.redness + 0.4 * ident.makeup,
        under_eye_rgb=(0.78, 0.68, 0.74),
        under_eye=ident.under_eye,
        shadow_rgb=_t(rgb * np.array([0.55, 0.45, 0.5]) * (1 - 0.5 * ident.makeup)),
        eyelid=0.3 + 0.5 * ident.makeup,
        freckle_rgb=(0.62, 0.45, 0.35),
        freckles=ident.freckles,
        mole_rgb=_t(rgb * np.array([0.35, 0.25, 0.2])),
        moles=ident.moles / 300,
        oil=0.12 * ident.oil,
        stubble_rgb=_t(np.minimum(hair_rgb(ident), rgb * 0.45)),
        stubble=stubble,
        scalp_rgb=_t(np.minimum(hair_rgb(ident), rgb * 0.6)),
        scalp_cover=scalp_cover(ident),
        noise_offset=_t(rng.uniform(-100, 100, 3)),
    )


def scalp_cover(ident: Identity) -> float:
    """How strongly hair roots tint the scalp: none when bald, most for a buzz cut (the scalp is what shows)."""
    style = hair.STYLES.get(ident.hair_style)
    return 0.0 if style is None else style.cover


def garment_colour(rgb) -> tuple[float, float, float]:
    """Garments are less saturated than random RGB; keep them plausible."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    return colorsys.hsv_to_rgb(h, s * 0.7, v)


def head_vertices(rest: np.ndarray) -> np.ndarray:
    """The rest-pose vertices that move wholly with the head (above the neck blend)."""
    return rest[human.neck_weights(rest[:, 2]) > 0.999]


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(2, 3) left and right eyeball centres of the rest-pose points (MakeHuman's eye joints)."""
    return np.stack([points[vertex_groups()[f"joint-{s}-eye"]].mean(0) for s in "lr"])


def _box_centre(points: np.ndarray) -> np.ndarray:
    return (points.max(0) + points.min(0)) / 2


def skull(rest: np.ndarray) -> hair.Skull:
    head = head_vertices(rest)
    centre = _box_centre(head)
    cranium = head[head[:, 2] > -0.02]  # above the eyes (the rest pose's origin)
    return hair.Skull(
        centre=centre, radii=(head.max(0) - head.min(0)) / 2 * 0.9, radius_map=hair.radius_map(cranium, centre)
    )


def _pose(frame: Frame, points: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    return human.pose(points.reshape(-1, 3), frame.body_yaw_deg, frame.head_world_rotation(), pivot)


def _strands(frame: Frame, pivot: np.ndarray, sets: list[tuple[np.ndarray, float, int]]) -> Strands | None:
    """Pose (S, P, 3) strand sets of equal P with their root radii and face part; None when there are none."""
    sets = [(s, r, part) for s, r, part in sets if len(s)]
    if not sets:
        return None
    points = sets[0][0].shape[1]
    taper = np.linspace(1.0, 0.3, points)
    radius = np.concatenate([np.outer(np.full(len(s), r), taper).ravel() for s, r, _ in sets])
    rest = np.concatenate([s for s, _, _ in sets])
    parts = np.concatenate([np.full(len(s), part, np.uint8) for s, _, part in sets])
    return Strands(
        positions=_pose(frame, rest, pivot),
        radius=radius,
        count=len(rest),
        points=points,
        parts=parts if parts.any() else None,
    )


_SCALP_CACHE: dict[str, np.ndarray] = {}


def scalp_strands(ident: Identity) -> np.ndarray:
    """Rest-pose scalp hair of an identity (S, P, 3), grown on its neutral face.

    Every frame of an identity has the same hair, so it is grown once per
    identity and process (expressions move the scalp by a millimetre at most).
    """
    key = json.dumps(dataclasses.asdict(ident), sort_keys=True)
    if key not in _SCALP_CACHE:
        if len(_SCALP_CACHE) >= 4:
            _SCALP_CACHE.clear()
        rest, _ = human.rest_vertices(ident, {})
        topo = human.topology()
        _SCALP_CACHE[key] = hair.scalp(
            rest, topo.faces, topo.scalp_faces, hair.STYLES[ident.hair_style], skull(rest), ident.hair_seed
        )
    return _SCALP_CACHE[key]


def hair_strands(frame: Frame, pivot: np.ndarray) -> Strands | None:
    """Scalp hair posed like the skin: guides and children grown outside the skull (generation.hair)."""
    style = hair.STYLES.get(frame.identity.hair_style)
    if style is None:
        return None
    return _strands(frame, pivot, [(scalp_strands(frame.identity), style.radius_m, NO_PART)])


FUR_POINTS = 4
FACIAL_HAIR = {  # kind: (mesh regions, strand length m, strands at full density)
    "moustache": (("moustache",), 0.010, 2500),
    "goatee": (("chin",), 0.012, 4000),
    "beard": (("beard",), 0.010, 14000),
}


def _region_roots(rest, weights: np.ndarray, count: int, seed: int, centre):
    topo = human.topology()
    w = weights[topo.faces].mean(1)
    faces = np.flatnonzero(w > 0.25)
    if not len(faces) or count < 1:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return hair.root_frames(rest, topo.faces, hair.sample_roots(rest, topo.faces, faces, count, seed, w[faces]), centre)


def fur_strands(frame: Frame, points: np.ndarray, rest: np.ndarray, pivot: np.ndarray) -> Strands | None:
    """Eyebrows, eyelashes and facial hair as short curves on the rest pose, then posed."""
    ident = frame.identity
    topo = human.topology()
    rng = np.random.default_rng(ident.hair_seed + 7)
    centre = _box_centre(head_vertices(rest))  # the skull's centre, without its radius map (per frame)
    sets = []
    # eyebrows: lying flat, pointing out from the nose and a little up at the inner end
    root, normal = _region_roots(rest, topo.brow, int(700 * ident.brow_density), ident.hair_seed + 1, centre)
    outward = np.sign(root[:, 0:1]) * np.array([1.0, 0, 0])
    inner = np.clip(1 - np.abs(root[:, 0:1]) / 0.03, 0, 1)
    direction = outward + np.array([0, 0, 1.0]) * (0.25 + 0.9 * inner) + rng.normal(0, 0.15, root.shape)
    length = rng.uniform(0.005, 0.009, len(root))
    sets.append((hair.surface_hairs(root, normal, direction, length, FUR_POINTS, lift=0.12), 0.00005, BROWS))
    # eyelashes: from MakeHuman's lash helper strips, out from the eyeball and curling away from the eye
    if ident.lash_length_m > 0:
        eyes = dict(zip("lr", eye_centres(points)))
        for lid, count, scale, up in (("upper", 90, 1.0, 1.0), ("lower", 45, 0.55, -1.0)):
            quads = human.lash_strips()[lid]
            face_ids, w = hair.sample_roots(points, quads, np.arange(len(quads)), 2 * count, ident.hair_seed + 2)
            root = np.einsum("sk,skd->sd", w, points[quads[face_ids]])
            eye = np.where(root[:, :1] > 0, eyes["l"], eyes["r"])
            radial = root - eye
            radial /= np.linalg.norm(radial, axis=1, keepdims=True)
            length = ident.lash_length_m * scale * rng.uniform(0.7, 1.1, len(root))
            t = np.linspace(0, 1, FUR_POINTS)[None, :, None]
            lash = (
                root[:, None]
                + radial[:, None] * t * length[:, None, None]
                + np.array([0, 0, up])[None, None] * (0.2 * t + 0.5 * t**2) * length[:, None, None]
            )
            sets.append((lash, 0.00006, EYE))
    # facial hair: down the face, out from the midline
    if ident.facial_hair in FACIAL_HAIR:
        regions, length_m, full = FACIAL_HAIR[ident.facial_hair]
        weights = np.max([topo.regions[r] for r in regions], axis=0)
        count = int(full * ident.facial_hair_density)
        root, normal = _region_roots(rest, weights, count, ident.hair_seed + 3, centre)
        direction = (
            np.array([0, 0, -1.0]) + np.sign(root[:, 0:1]) * np.array([0.4, 0, 0]) + rng.normal(0, 0.25, root.shape)
        )
        length = length_m * ident.facial_hair_density * rng.uniform(0.5, 1.1, len(root))
        sets.append(
            (hair.surface_hairs(root, normal, direction, length, FUR_POINTS, lift=0.3, curl=0.1), 0.00007, BEARD)
        )
    return _strands(frame, pivot, sets)


def garment_mesh(frame: Frame, posed: np.ndarray) -> MeshData | None:
    kind = frame.identity.garment
    if kind not in garment.CUTS:
        return None
    topo = human.topology()
    base = base_mesh()["verts"][topo.vert_index]
    body = np.flatnonzero(topo.face_labels == human.BODY)
    turn = geometry.axis_angle([0, 0, 1], np.radians(frame.body_yaw_deg))
    return garment.garment(kind, base, posed, topo.faces, body, up=turn @ [0, 0, 1.0], back=turn @ [0, 1.0, 0])


def fabric_look(ident: Identity) -> FabricLook:
    rng = np.random.default_rng(ident.detail_seed + 1)
    rgb = np.asarray(garment_colour(ident.garment_rgb))
    alt = rgb * 0.35 if ident.garment_pattern != "stripes" else np.asarray(ident.inner_rgb)
    return FabricLook(
        rgb=_t(rgb),
        alt_rgb=_t(alt),
        inner_rgb=ident.inner_rgb,
        pattern=ident.garment_pattern,
        scale=float(rng.uniform(20, 60)),
        offset=_t(rng.uniform(-10, 10, 3)),
    )


def glasses_mesh(frame: Frame, points: np.ndarray, rest: np.ndarray, pivot: np.ndarray) -> MeshData | None:
    if frame.identity.glasses not in glasses.SHAPES:
        return None
    ears = rest[human.region_mask("ears") > 0.5]
    mesh = glasses.glasses(frame.identity.glasses, eye_centres(points), head_vertices(rest), ears)
    return MeshData(_pose(frame, mesh.vertices, pivot), mesh.quads, mesh.slots)


def backdrop(frame: Frame) -> MeshData:
    """The HDRI sphere around the head, or room geometry behind it."""
    bg, cam = frame.background, frame.camera
    M = np.asarray(cam.world_from_cam)
    head = M[:3, :3].T @ (-M[:3, 3])  # the eyes (world origin) in camera axes
    if bg.kind == "hdri":
        if bg.distance_m < head[2] + 0.3:
            raise RuntimeError(
                f"frame {frame.name}: backdrop radius {bg.distance_m:.2f} m does not enclose the camera "
                f"({head[2]:.2f} m away); raise render.background.hdri_distance_m"
            )
        return room.sphere(bg.distance_m)
    if bg.kind in BACKGROUND_KINDS:
        return room.room(bg.kind, float(head[2]), bg.distance_m, M[:3, 3], M[:3, 2], bg.rgb, bg.seed)
    raise ValueError(
        f"frame {frame.name}: background kind {bg.kind!r} is not rendered by this version (the flat walls plain, "
        f"noise, checker and waves were removed after 0.3.0); set background.kind to one of {list(BACKGROUND_KINDS)}"
    )


def world_look(frame: Frame) -> WorldLook:
    w = frame.world
    if w is None:
        return WorldLook(hdri="", rotation_rad=0.0, strength=frame.environment, rgb=frame.world_rgb)
    strength = w.strength * HDRI_REFERENCE / hdri_luminance(w.hdri)  # the same exposure whichever HDRI
    return WorldLook(hdri=w.hdri, rotation_rad=float(np.radians(w.rotation_deg)), strength=strength, rgb=w.rgb)


def illuminant(frame: Frame, world: WorldLook) -> np.ndarray:
    """Linear RGB irradiance at the head: the environment's mean colour over the sphere plus the lamps."""
    sky = hdri_mean_rgb(world.hdri) if world.hdri else np.ones(3)
    rgb = np.pi * world.strength * sky * np.asarray(world.rgb)
    for light in frame.lights:
        rgb = rgb + lamp_irradiance(light) * np.asarray(light.rgb)
    return rgb


def lamp_irradiance(light) -> float:
    """W/m^2 a lamp delivers at the head (camera origin's neighbourhood, facing it): P / 4 pi d^2 for a
    point-like lamp; a sun's strength (its Blender energy, W/m^2) whatever its distance."""
    if light.type == "SUN":
        return light.power_w / SUN_W_PER_UNIT
    return light.power_w / (4 * np.pi * float(np.dot(light.location, light.location)))


def exposure(frame: Frame, light: np.ndarray) -> float:
    """Face-priority auto-exposure, as phones meter portraits: the irradiance at the head and, half-way in
    stops, the skin's albedo (dark skin is lifted, light skin held back, and both keep their tone)."""
    skin = float(skin_rgb(frame.identity) @ LUMA)
    stops = np.log2(EXPOSURE_REFERENCE / float(light @ LUMA)) + 0.5 * np.log2(MID_SKIN / skin)
    return float(np.clip(stops, -EXPOSURE_RANGE, EXPOSURE_RANGE))


def white_balance(light: np.ndarray) -> tuple[float, float, float]:
    """Auto white balance: per-channel gains that take most of the light's colour cast away at equal
    luminance, so a 7000 K lamp or a blue sky does not leave grey-blue skin (a camera corrects it)."""
    grey = float(light @ LUMA)
    gains = np.clip((grey / np.maximum(light, 1e-6 * grey)) ** WHITE_BALANCE, 0.4, 2.5)  # as far as cameras go
    return _t(gains * grey / float((gains * light) @ LUMA))


def camera_matrix(frame: Frame) -> np.ndarray:
    M = np.asarray(frame.camera.world_from_cam, dtype=np.float64).copy()
    M[:3, :3] = M[:3, :3] @ geometry.CV_TO_BLENDER_CAM
    return M


def light_setup(light: Light) -> LightSetup:
    loc = np.asarray(light.location)
    M = np.eye(4)
    M[:3, :3] = geometry.look_at(loc, (0, 0, 0)) @ geometry.CV_TO_BLENDER_CAM  # aimed at the head
    M[:3, 3] = loc
    return LightSetup(
        type=light.type,
        energy=light.power_w / SUN_W_PER_UNIT if light.type == "SUN" else light.power_w,
        rgb=light.rgb,
        size_m=light.size_m,
        soft_radius_m=light.size_m / 4,
        spot_rad=float(np.radians(light.spot_deg)),
        matrix=M,
    )


def realise(frame: Frame) -> Realised:
    ident = frame.identity
    points, pivot = human.rest_points(ident, frame.expression.units)
    rest = points[human.topology().vert_index]
    head = frame.head_world_rotation()
    posed = human.pose(rest, frame.body_yaw_deg, head, pivot)
    world = world_look(frame)
    irradiance = illuminant(frame, world)
    return Realised(
        vertices=posed,
        eyes_world=human.pose(np.zeros((1, 3)), frame.body_yaw_deg, head, pivot)[0],
        hair=hair_strands(frame, pivot),
        fur=fur_strands(frame, points, rest, pivot),
        garment=garment_mesh(frame, posed),
        fabric=fabric_look(ident),
        glasses=glasses_mesh(frame, points, rest, pivot),
        glasses_rgb=ident.glasses_rgb,
        backdrop=backdrop(frame),
        backdrop_hdri=frame.background.kind == "hdri",
        world=world,
        exposure=exposure(frame, irradiance),
        white_balance=white_balance(irradiance),
        camera_matrix=camera_matrix(frame),
        focal_mm=frame.camera.focal_mm,
        sensor_mm=frame.camera.sensor_mm,
        lights=[light_setup(light) for light in frame.lights],
        skin=skin_look(ident),
        iris_rgb=ident.iris_rgb,
        iris_rim_rgb=_t(np.asarray(ident.iris_rgb) * 0.5),
        hair_melanin=ident.hair_melanin,
        fur_melanin=min(1.0, ident.hair_melanin + 0.15),
        hair_redness=ident.hair_redness,
    )
