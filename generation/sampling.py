"""Sampling a frame description from params + seed, no Blender involved.

Identity streams depend only on (seed, identity id), frame streams on
(seed, frame index), so any frame can be sampled alone, in any order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fdcore.schema import RenderParams
from generation import geometry, human
from generation.assets import face_morph_categories, user_skins
from generation.description import Background, Camera, Environment, Expression, Frame, Identity, Light
from generation.expressions import ETHNICITIES, PRESETS, UNITS

IDENTITY_STREAM, FRAME_STREAM = 1, 2


def _u(rng, rng_range) -> float:
    return float(rng.uniform(*rng_range))


def _rgb(values) -> tuple[float, float, float]:
    return tuple(round(float(v), 6) for v in values)


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate linear RGB of a black body, normalised to max 1 (Tanner Helland's fit)."""
    t = kelvin / 100
    r = 255 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * np.log(t) - 161.12 if t <= 66 else 288.12 * (t - 60) ** -0.0755
    b = 255 if t >= 66 else (0 if t <= 19 else 138.52 * np.log(t - 10) - 305.04)
    srgb = np.clip(np.array([r, g, b]) / 255, 0, 1)
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return _rgb(linear / linear.max())


def sample_identity(p: RenderParams, identity_id: int) -> Identity:
    rng = np.random.default_rng([p.seed, IDENTITY_STREAM, identity_id])
    h = p.human
    eth = rng.dirichlet([0.6, 0.6, 0.6])
    morphs: dict[str, float] = {}
    for axis in face_morph_categories():
        value = rng.uniform(-h.face_morph, h.face_morph) if axis["negative"] else rng.uniform(0, h.face_morph)
        files = axis["positive"] if value >= 0 else axis["negative"]
        for j, f in enumerate(files):
            skew = rng.uniform(-h.asymmetry, h.asymmetry) if j else 0.0
            morphs[f] = round(float(np.clip(abs(value) + skew, 0, 1)), 6)
    skin_tone = _u(rng, h.skin_tone)
    # eumelanin darkens both hair and irises; darker skin tends to darker hair and eyes;
    # greying with age removes melanin
    age = _u(rng, h.age)
    grey = float(np.clip((age - 0.3) / 0.4, 0, 1) * rng.uniform(0, 1))
    melanin = float(np.clip(0.35 + 0.65 * rng.beta(2.5, 1.0) + 0.2 * skin_tone, 0.1, 1.0)) * (1 - grey)
    iris_choices = np.array(
        [[0.08, 0.04, 0.02], [0.2, 0.1, 0.04], [0.15, 0.2, 0.08], [0.12, 0.22, 0.35], [0.2, 0.25, 0.3]]
    )
    iris = iris_choices[min(4, int(rng.uniform(0, 5) * (1 - 0.8 * skin_tone)))]
    shirt = np.array([rng.uniform(0.02, 0.7) for _ in range(3)])
    skins = user_skins(p.assets_dir) if p.assets_dir else []
    gender = _u(rng, h.gender)
    details = _details(p, np.random.default_rng([p.seed, IDENTITY_STREAM, identity_id, 1]), gender, age, skin_tone)
    return Identity(
        id=identity_id,
        gender=gender,
        age=age,
        weight=_u(rng, h.weight),
        muscle=_u(rng, h.muscle),
        ethnicity={e: round(float(w), 6) for e, w in zip(ETHNICITIES, eth)},
        morphs=morphs,
        skin_tone=skin_tone,
        skin_hue=float(rng.uniform(0, 1)),
        skin_roughness=float(rng.uniform(0.35, 0.55)),
        lip_tint=float(rng.uniform(0.2, 0.8)),
        iris_rgb=_rgb(iris * rng.uniform(0.8, 1.2, 3)),
        hair_style=str(rng.choice(h.hair_styles)),
        hair_melanin=melanin,
        hair_redness=float(rng.beta(1.2, 4)),
        hair_seed=int(rng.integers(2**31)),
        brow_density=float(rng.uniform(0.4, 1.0)),
        garment_rgb=_rgb(shirt),
        skin_texture=str(skins[int(rng.integers(len(skins)))]) if skins else "",
        **details,
    )


FACIAL_HAIR = ("stubble", "moustache", "goatee", "beard")
PATTERNS = ("plain", "plain", "stripes", "check", "heather")  # plain twice as often


def _details(p: RenderParams, rng: np.random.Generator, gender: float, age: float, skin_tone: float) -> dict:
    """Skin, face-hair, garment and glasses details of an identity, from their own stream.

    Drawn after the identity's other values, so adding them left every earlier
    identity value as it was.
    """
    h = p.human
    male = gender > 0.5
    facial = str(rng.choice(FACIAL_HAIR)) if male and rng.uniform() < h.facial_hair else "none"
    makeup = float(rng.uniform(0.3, 1.0)) if not male and rng.uniform() < h.makeup else 0.0
    freckles = float(rng.uniform(0.2, 1.0) * (1 - skin_tone)) if rng.uniform() < h.freckles else 0.0
    glasses = str(rng.choice(["round", "rect"])) if rng.uniform() < h.glasses else "none"
    inner = rng.uniform(0.5, 0.95) * np.ones(3) * rng.uniform(0.9, 1.0, 3)
    return dict(
        detail_seed=int(rng.integers(2**31)),
        freckles=freckles,
        moles=int(rng.integers(0, 6)),
        redness=float(rng.uniform(0.1, 0.8) * (1 - 0.6 * skin_tone)),
        under_eye=float(rng.uniform(0.1, 0.6) + 0.3 * age),
        oil=float(rng.uniform(0.0, 1.0)),
        makeup=makeup,
        lipstick_rgb=_rgb(np.array([rng.uniform(0.12, 0.35), rng.uniform(0.01, 0.05), rng.uniform(0.02, 0.08)])),
        facial_hair=facial,
        facial_hair_density=float(rng.uniform(0.5, 1.0)) if facial != "none" else 0.0,
        lash_length_m=float(rng.uniform(0.007, 0.011) * (1.15 if not male else 1.0)),
        garment=str(rng.choice(h.garments)),
        garment_pattern=str(rng.choice(PATTERNS)),
        inner_rgb=_rgb(inner),
        glasses=glasses,
        glasses_rgb=_rgb(rng.uniform(0.01, 0.25) * rng.uniform(0.4, 1.0, 3)),
    )


def sample_expression(p: RenderParams, rng: np.random.Generator) -> Expression:
    preset = str(rng.choice(p.human.expressions))
    intensity = _u(rng, p.human.expression_intensity) if preset != "neutral" else 0.0
    units = {}
    for unit in UNITS:
        w = PRESETS[preset].get(unit, 0.0) * intensity + rng.uniform(0, 0.08)
        units[unit] = round(float(np.clip(w, 0, 1)), 6)
    return Expression(preset=preset, intensity=intensity, units=units)


def sample_camera(p: RenderParams, rng: np.random.Generator) -> Camera:
    c = p.camera
    w, h = p.settings.resolution
    focal = _u(rng, c.focal_mm)
    field = _u(rng, c.field_m) * max(1.0, w / h * 0.75)
    distance = focal / c.sensor_mm * field
    # camera slightly above or below eye level, looking at the face
    elevation = np.radians(rng.uniform(-8, 12))
    azimuth = np.radians(rng.uniform(-5, 5))
    eye = distance * np.array(
        [np.sin(azimuth) * np.cos(elevation), -np.cos(azimuth) * np.cos(elevation), np.sin(elevation)]
    )
    target = rng.uniform(-c.shift_m, c.shift_m, 3) + np.array([0, 0, -0.04])  # the nose, below the eyes
    M = np.eye(4)
    M[:3, :3] = geometry.look_at(eye, target, _u(rng, c.roll_deg))
    M[:3, 3] = eye
    return Camera(
        focal_mm=focal,
        sensor_mm=c.sensor_mm,
        width=w,
        height=h,
        distance_m=float(distance),
        world_from_cam=M.round(12).tolist(),
    )


def sample_lights(p: RenderParams, rng: np.random.Generator) -> list[Light]:
    li = p.lighting
    lights = []
    for k in range(int(rng.integers(li.count[0], li.count[1] + 1))):
        az = np.radians(rng.uniform(-150, 150) if k else rng.uniform(-70, 70))  # key light in front
        el = np.radians(rng.uniform(-10, 60))
        d = _u(rng, li.distance_m)
        loc = d * np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)])
        kelvin = _u(rng, li.kelvin)
        lights.append(
            Light(
                type=str(rng.choice(li.types)),
                power_w=_u(rng, li.power_w) * d * d,
                rgb=kelvin_to_rgb(kelvin),
                kelvin=kelvin,
                location=_rgb(loc),
                size_m=float(rng.uniform(0.05, 0.8)),
            )
        )
    return lights


def sample_background(p: RenderParams, rng: np.random.Generator) -> Background:
    b = p.background
    hue = rng.uniform(0, 1)
    sat = rng.uniform(0, 0.5)
    value = _u(rng, b.value)
    rgb = value * (1 - sat + sat * np.clip(np.abs(((hue * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1))
    return Background(
        kind=str(rng.choice(b.kinds)),
        distance_m=_u(rng, b.distance_m),
        rgb=_rgb(rgb**2.2),
        seed=_after_unused_draw(rng),
    )


def _after_unused_draw(rng: np.random.Generator) -> int:
    """The backdrop's seed, one draw after where the removed flat walls drew their pattern scale: every later
    draw of the frame's stream stays where it was, so existing renders regenerate exactly."""
    rng.uniform(2, 30)
    return int(rng.integers(2**31))


def sample_world(p: RenderParams, rng: np.random.Generator, strength: float) -> Environment:
    li = p.lighting
    tint = 1 - rng.uniform(0, li.tint, 3)
    return Environment(
        hdri=str(rng.choice(li.hdris)),
        rotation_deg=float(rng.uniform(0, 360)),
        strength=strength,
        rgb=_rgb(tint / tint.max()),
    )


def sample_frame(p: RenderParams, index: int) -> Frame:
    """The full description of frame `index`; identity = index // frames_per_identity."""
    if not 0 <= index < p.frames:
        raise IndexError(f"frame {index} outside the dataset's {p.frames} frames")
    rng = np.random.default_rng([p.seed, FRAME_STREAM, index])
    pose = p.pose
    s = p.settings
    frame = Frame(
        index=index,
        seed=int(rng.integers(2**31)),
        identity=sample_identity(p, index // p.frames_per_identity),
        expression=sample_expression(p, rng),
        head_pose_deg={"yaw": _u(rng, pose.yaw), "pitch": _u(rng, pose.pitch), "roll": _u(rng, pose.roll)},
        body_yaw_deg=_u(rng, pose.body_yaw),
        camera=sample_camera(p, rng),
        lights=sample_lights(p, rng),
        environment=_u(rng, p.lighting.environment),
        background=sample_background(p, rng),
        samples=s.samples,
        denoiser=s.denoiser,
        threads=s.threads,
    )
    extra = np.random.default_rng([p.seed, FRAME_STREAM, index, 1])  # values added later: earlier ones unchanged
    frame = dataclasses.replace(frame, world=sample_world(p, extra, frame.environment))
    if frame.background.kind == "hdri":
        bg = dataclasses.replace(frame.background, distance_m=_u(extra, p.background.hdri_distance_m))
        frame = dataclasses.replace(frame, background=bg)
    return _follow_head(frame)


def _follow_head(frame: Frame) -> Frame:
    """Translate the camera with the posed head so the face stays framed.

    A pure translation leaves the head pose in the camera frame unchanged.
    """
    centre = human.pose(np.zeros((1, 3)), frame.body_yaw_deg, frame.head_world_rotation(), human.neck_pivot())[
        0
    ]  # where the rest-pose eyes move to
    M = np.asarray(frame.camera.world_from_cam)
    M[:3, 3] += centre
    camera = dataclasses.replace(frame.camera, world_from_cam=M.round(12).tolist())
    return dataclasses.replace(frame, camera=camera)
