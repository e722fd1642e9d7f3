"""The `render` section of params.yaml as typed, validated dataclasses.

Every check runs before any rendering, so a typo or an inverted range fails in
milliseconds with the offending key named, not after an hour of rendering.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

Range = tuple[float, float]

HAIR_STYLES = ("none", "buzz", "short", "medium", "long", "curly", "coily", "ponytail", "bun")
GARMENTS = ("crew", "v_neck", "collared", "hoodie", "jacket")
LIGHT_TYPES = ("POINT", "AREA", "SPOT", "SUN")
HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")  # bpy's studiolights/world
BACKGROUND_KINDS = ("hdri", "plaster", "corner", "shelf", "door", "plain", "noise", "checker", "waves")
DENOISERS = ("OPENIMAGEDENOISE", "NONE")
DEVICES = ("auto", "cpu", "cuda", "optix")
TOP_LEVEL = {"seed", "render", "prepare", "train"}


class ParamsError(ValueError):
    """A params file that cannot describe a dataset; the message names key and fix."""


@dataclass(frozen=True)
class HumanParams:
    gender: Range = (0.0, 1.0)  # 0 female .. 1 male
    age: Range = (0.0, 0.55)  # 0 = 25 years .. 1 = 90 years (MakeHuman scale)
    weight: Range = (-0.6, 0.8)  # -1 thin .. 1 heavy
    muscle: Range = (-0.5, 0.6)
    face_morph: float = 0.45  # max |weight| of each local face/head morph
    asymmetry: float = 0.1  # max left/right difference of sided morphs
    skin_tone: Range = (0.0, 1.0)  # 0 very light .. 1 very dark
    hair_styles: tuple[str, ...] = HAIR_STYLES
    expressions: tuple[str, ...] = (
        "neutral", "smile", "open_mouth", "blink", "surprise", "frown", "pout", "talk",
    )
    expression_intensity: Range = (0.4, 1.0)
    garments: tuple[str, ...] = GARMENTS
    facial_hair: float = 0.5  # share of male identities with stubble, moustache, goatee or beard
    glasses: float = 0.25  # share of identities wearing glasses
    makeup: float = 0.4  # share of female identities wearing make-up
    freckles: float = 0.25  # share of identities with freckles


@dataclass(frozen=True)
class PoseParams:
    """Head rotation relative to the camera's frontal view, degrees."""

    yaw: Range = (-60.0, 60.0)
    pitch: Range = (-30.0, 30.0)
    roll: Range = (-20.0, 20.0)
    body_yaw: Range = (-15.0, 15.0)  # shoulders turn a little too


@dataclass(frozen=True)
class CameraParams:
    focal_mm: Range = (30.0, 85.0)
    sensor_mm: float = 36.0  # sensor width; fit is horizontal
    field_m: Range = (0.34, 0.5)  # width of view at the head: sets the distance
    shift_m: float = 0.03  # look-at jitter, metres
    roll_deg: Range = (-5.0, 5.0)


@dataclass(frozen=True)
class LightingParams:
    count: tuple[int, int] = (0, 2)  # key/fill lamps besides the HDRI
    types: tuple[str, ...] = ("AREA", "POINT", "SPOT")
    power_w: Range = (10.0, 80.0)
    kelvin: Range = (2800.0, 7500.0)
    distance_m: Range = (0.8, 2.5)
    hdris: tuple[str, ...] = HDRIS  # world light (CC0, inside the bpy wheel)
    environment: Range = (0.5, 1.3)  # world light strength (HDRIs scaled to one mean luminance first)
    tint: float = 0.15  # max saturation of the world's random tint


@dataclass(frozen=True)
class BackgroundParams:
    kinds: tuple[str, ...] = ("hdri", "plaster", "corner", "shelf", "door")  # also: plain, noise, checker, waves
    distance_m: Range = (0.3, 1.5)  # wall distance behind the head centre
    hdri_distance_m: Range = (1.5, 5.0)  # radius of the backdrop sphere the HDRI is projected on
    value: Range = (0.08, 0.85)  # wall brightness


@dataclass(frozen=True)
class RenderSettings:
    resolution: tuple[int, int] = (128, 128)  # width, height
    samples: int = 8
    denoiser: str = "OPENIMAGEDENOISE"
    threads: int = 0  # 0 = all cores of the worker
    device: str = "auto"  # auto (OptiX, else CUDA, else CPU) | cpu | cuda | optix


@dataclass(frozen=True)
class RenderParams:
    seed: int = 0
    identities: int = 60
    frames_per_identity: int = 5
    shard_size: int = 40
    workers: int = 0  # local Blender processes; 0 = one per 4 cores
    assets_dir: str = ""  # optional user assets, see README
    settings: RenderSettings = field(default_factory=RenderSettings)
    human: HumanParams = field(default_factory=HumanParams)
    pose: PoseParams = field(default_factory=PoseParams)
    camera: CameraParams = field(default_factory=CameraParams)
    lighting: LightingParams = field(default_factory=LightingParams)
    background: BackgroundParams = field(default_factory=BackgroundParams)

    @property
    def frames(self) -> int:
        return self.identities * self.frames_per_identity

    def shards(self) -> list[range]:
        """Frame index ranges, one per shard; shards are independent jobs."""
        return [range(s, min(s + self.shard_size, self.frames)) for s in range(0, self.frames, self.shard_size)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data, path: str):
    """Build dataclass `cls` from a mapping, rejecting unknown keys and bad types."""
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    kwargs = {name: _coerce(hints[name], value, f"{path}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint, value, path: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = tuple(_coerce(args[0], v, path) for v in value)
            if not items:
                raise ParamsError(f"{path}: must not be empty")
            return items
        if len(value) != len(args):
            raise ParamsError(f"{path}: expected {len(args)} values, got {list(value)}")
        return tuple(_coerce(a, v, path) for a, v in zip(args, value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ParamsError(f"{path}: must be a finite number, got {value!r}")
        return float(value)
    if hint in (int, str) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    if isinstance(hint, types.UnionType):
        raise TypeError(f"unsupported type {hint}")
    raise ParamsError(f"{path}: expected {hint.__name__}, got {value!r}")


def _check_range(path: str, rng, lo=None, hi=None):
    a, b = rng
    if a > b:
        raise ParamsError(f"{path}: inverted range [{a}, {b}]; write it as [{b}, {a}]")
    if lo is not None and a < lo or hi is not None and b > hi:
        raise ParamsError(f"{path}: range [{a}, {b}] must lie within [{lo}, {hi}]")


def _check_choices(path: str, values, allowed):
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ParamsError(f"{path}: unknown value(s) {bad}; allowed: {list(allowed)}")


def validate(p: RenderParams) -> RenderParams:
    """Semantic checks that types alone cannot express."""
    from generation.expressions import PRESETS

    for name, n in (("identities", p.identities), ("frames_per_identity", p.frames_per_identity),
                    ("shard_size", p.shard_size), ("settings.samples", p.settings.samples)):
        if n < 1:
            raise ParamsError(f"render.{name}: must be >= 1, got {n}")
    if p.workers < 0 or p.settings.threads < 0:
        raise ParamsError(f"render.workers and settings.threads: need >= 0 (0 = automatic), got {p.workers}, "
                          f"{p.settings.threads}")
    w, h = p.settings.resolution
    if w < 8 or h < 8:
        raise ParamsError(f"render.settings.resolution: {w}x{h} is too small; use at least 8x8 (e.g. [256, 256])")
    _check_choices("render.settings.denoiser", [p.settings.denoiser], DENOISERS)
    _check_choices("render.settings.device", [p.settings.device], DEVICES)
    hu = p.human
    for name in ("gender", "age", "skin_tone", "expression_intensity"):
        _check_range(f"render.human.{name}", getattr(hu, name), 0.0, 1.0)
    for name in ("weight", "muscle"):
        _check_range(f"render.human.{name}", getattr(hu, name), -1.0, 1.0)
    if not 0 <= hu.face_morph <= 1 or not 0 <= hu.asymmetry <= 1:
        raise ParamsError("render.human.face_morph and asymmetry must lie within [0, 1]")
    _check_choices("render.human.hair_styles", hu.hair_styles, HAIR_STYLES)
    _check_choices("render.human.expressions", hu.expressions, tuple(PRESETS))
    _check_choices("render.human.garments", hu.garments, GARMENTS)
    for name in ("facial_hair", "glasses", "makeup", "freckles"):
        if not 0 <= getattr(hu, name) <= 1:
            raise ParamsError(f"render.human.{name}: a share of identities, must lie within [0, 1]")
    _check_range("render.pose.yaw", p.pose.yaw, -90, 90)
    _check_range("render.pose.pitch", p.pose.pitch, -60, 60)
    _check_range("render.pose.roll", p.pose.roll, -60, 60)
    _check_range("render.pose.body_yaw", p.pose.body_yaw, -45, 45)
    if not 1 <= p.camera.sensor_mm <= 100:
        raise ParamsError(f"render.camera.sensor_mm: {p.camera.sensor_mm} is not a sensor width in mm; use 1..100 (36 = full frame)")
    if not 0 <= p.camera.shift_m <= 1:
        raise ParamsError(f"render.camera.shift_m: {p.camera.shift_m} must lie within [0, 1] m")
    _check_range("render.camera.focal_mm", p.camera.focal_mm, 5, 500)
    _check_range("render.camera.field_m", p.camera.field_m, 0.1, 5)
    _check_range("render.camera.roll_deg", p.camera.roll_deg, -45, 45)
    li = p.lighting
    _check_range("render.lighting.count", li.count, 0, 8)
    _check_choices("render.lighting.types", li.types, LIGHT_TYPES)
    _check_range("render.lighting.power_w", li.power_w, 0, 1e5)
    _check_range("render.lighting.kelvin", li.kelvin, 1000, 20000)
    _check_range("render.lighting.distance_m", li.distance_m, 0.1, 50)
    _check_range("render.lighting.environment", li.environment, 0, 100)
    _check_choices("render.lighting.hdris", li.hdris, HDRIS)
    if not 0 <= li.tint <= 1:
        raise ParamsError(f"render.lighting.tint: {li.tint} must lie within [0, 1]")
    if li.count[1] == 0 and li.environment[1] == 0:
        raise ParamsError("render.lighting: no lights and no environment light would render black frames")
    _check_choices("render.background.kinds", p.background.kinds, BACKGROUND_KINDS)
    _check_range("render.background.distance_m", p.background.distance_m, 0.15, 100)
    _check_range("render.background.hdri_distance_m", p.background.hdri_distance_m, 0.5, 100)

    _check_range("render.background.value", p.background.value, 0, 1)
    from generation.assets import AssetError, check_bundled

    try:
        check_bundled(li.hdris)
    except AssetError as exc:
        raise ParamsError(f"render.lighting.hdris: {exc}") from None
    if p.assets_dir:
        from generation.assets import check_user_assets

        if not Path(p.assets_dir).is_dir():
            raise ParamsError(f"render.assets_dir: {p.assets_dir} is not a directory; fix the path or set it to ''")
        try:
            check_user_assets(p.assets_dir)
        except AssetError as exc:
            raise ParamsError(f"render.assets_dir: {exc}") from None
    return p


def parse(data: dict) -> RenderParams:
    """Validated RenderParams from the top-level params mapping (`seed` + `render`)."""
    if not isinstance(data, dict) or "render" not in data:
        raise ParamsError("params: missing the `render` section")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise ParamsError(f"params: unknown top-level key(s) {unknown}; allowed: {sorted(TOP_LEVEL)}")
    section = dict(data["render"] or {})
    if "seed" in data:
        section.setdefault("seed", data["seed"])
    return validate(_build(RenderParams, section, "render"))


def load(path: str | Path) -> RenderParams:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the params file ({exc.strerror}); pass a params.yaml file") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse(data)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
