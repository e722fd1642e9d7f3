"""A frame as pure data, no sampling and no Blender: the dataclasses and their JSON round trip.

The description is saved next to every frame and is enough to render it
again; generation.sampling draws it from params + seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fdcore import schema
from generation import geometry
from generation.layout import frame_name


@dataclass(frozen=True)
class Identity:
    id: int
    gender: float
    age: float
    weight: float
    muscle: float
    ethnicity: dict[str, float]
    morphs: dict[str, float]  # target file -> weight
    skin_tone: float  # 0 light .. 1 dark
    skin_hue: float  # undertone: 0 pink .. 1 yellow/olive
    skin_roughness: float
    lip_tint: float
    iris_rgb: tuple[float, float, float]
    hair_style: str
    hair_melanin: float
    hair_redness: float
    hair_seed: int
    brow_density: float
    garment_rgb: tuple[float, float, float]  # the garment's colour (frames before 0.4 name it shirt_rgb)
    skin_texture: str = ""  # file under <assets_dir>/skins, or "" for the procedural skin
    # realism details (all 0 / "none" in frames made before they existed)
    detail_seed: int = 0  # freckle, mole and fabric noise
    freckles: float = 0.0  # 0..1 density
    moles: int = 0
    redness: float = 0.0  # cheeks, nose and ears
    under_eye: float = 0.0  # darkening below the eyes
    oil: float = 0.0  # T-zone shine
    makeup: float = 0.0  # 0 none .. 1 full (lipstick, eye shadow, blush)
    lipstick_rgb: tuple[float, float, float] = (0.3, 0.03, 0.05)
    facial_hair: str = "none"  # none | stubble | moustache | goatee | beard
    facial_hair_density: float = 0.0
    lash_length_m: float = 0.0  # 0: no lash curves
    garment: str = "crew"  # crew | v_neck | collared | hoodie | jacket (generation.garment)
    garment_pattern: str = "plain"  # plain | stripes | check | heather
    inner_rgb: tuple[float, float, float] = (0.8, 0.8, 0.8)  # the shirt under a jacket
    glasses: str = "none"  # none | round | rect
    glasses_rgb: tuple[float, float, float] = (0.02, 0.02, 0.02)


@dataclass(frozen=True)
class Expression:
    preset: str
    intensity: float
    units: dict[str, float]


@dataclass(frozen=True)
class Light:
    type: str
    power_w: float
    rgb: tuple[float, float, float]
    kelvin: float
    location: tuple[float, float, float]
    size_m: float
    spot_deg: float = 60.0  # cone angle of a SPOT


@dataclass(frozen=True)
class Environment:
    """The world light: an HDRI from the bpy wheel (or "" for a uniform colour), turned and tinted."""

    hdri: str
    rotation_deg: float
    strength: float
    rgb: tuple[float, float, float]  # tint multiplying the HDRI


@dataclass(frozen=True)
class Camera:
    focal_mm: float
    sensor_mm: float
    width: int
    height: int
    distance_m: float
    world_from_cam: list[list[float]]  # 4x4, OpenCV camera axes

    @property
    def K(self) -> np.ndarray:
        return geometry.intrinsics(self.focal_mm, self.sensor_mm, self.width, self.height)

    @property
    def cam_from_world(self) -> np.ndarray:
        return np.linalg.inv(np.asarray(self.world_from_cam))


@dataclass(frozen=True)
class Background:
    kind: str
    distance_m: float  # walls and rooms: behind the head centre along the view axis; HDRI: the backdrop sphere radius
    rgb: tuple[float, float, float]
    seed: int


@dataclass(frozen=True)
class Frame:
    index: int
    seed: int
    identity: Identity
    expression: Expression
    head_pose_deg: dict[str, float]  # yaw/pitch/roll in the camera frame
    body_yaw_deg: float
    camera: Camera
    lights: list[Light]
    environment: float  # world light strength (= world.strength; frames without a world: a uniform world)
    background: Background
    samples: int
    denoiser: str
    threads: int
    world_rgb: tuple[float, float, float] = (0.8, 0.8, 0.85)  # colour of the legacy uniform world
    world: Environment | None = None

    @property
    def name(self) -> str:
        return frame_name(self.index)

    def head_world_rotation(self) -> np.ndarray:
        """Head rotation in world axes realising the sampled camera-frame pose exactly."""
        Q = geometry.head_rotation_cv(*(self.head_pose_deg[k] for k in ("yaw", "pitch", "roll")))
        R_wc = np.asarray(self.camera.world_from_cam)[:3, :3]
        frontal = geometry.look_at((0, -1, 0), (0, 0, 0))  # camera straight in front of the rest head
        return R_wc @ Q @ frontal.T

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RENAMED = {"shirt_rgb": "garment_rgb"}  # identity fields renamed since frames were first written: old JSON reads
DROPPED = {"scale"}  # background fields of removed features (the flat walls' pattern scale): old JSON reads


def frame_from_dict(d: dict) -> Frame:
    """Inverse of Frame.to_dict (the JSON next to each frame): typed, unknown keys rejected, later fields defaulted."""
    if isinstance(d, dict) and isinstance(d.get("identity"), dict):
        d = {**d, "identity": {RENAMED.get(k, k): v for k, v in d["identity"].items()}}
    if isinstance(d, dict) and isinstance(d.get("background"), dict):
        d = {**d, "background": {k: v for k, v in d["background"].items() if k not in DROPPED}}
    return schema.build(Frame, d, "description")
