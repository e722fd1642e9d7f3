"""Reading params files, and the render section's checks that need generation's registries and bundled files.

The types and defaults live in fdcore/schema.py. Every check runs before any
rendering, so a typo or an inverted range fails in milliseconds with the
offending key named, not after an hour of rendering.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from fdcore import schema
from fdcore.schema import (
    BACKGROUND_KINDS,
    DENOISERS,
    DEVICES,
    GARMENTS,
    HAIR_STYLES,
    HDRIS,
    LIGHT_TYPES,
    ParamsError,
    RenderParams,
)

MAX_FRAMES = 10_000_000  # checked before anything is allocated per frame


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

    for name, n in (
        ("identities", p.identities),
        ("frames_per_identity", p.frames_per_identity),
        ("shard_size", p.shard_size),
        ("settings.samples", p.settings.samples),
    ):
        if n < 1:
            raise ParamsError(f"render.{name}: must be >= 1, got {n}")
    if p.frames > MAX_FRAMES:
        raise ParamsError(
            f"render: identities x frames_per_identity = {p.frames:,} frames is over {MAX_FRAMES:,}; "
            f"render a large dataset as several render roots or lower render.identities"
        )
    if p.workers < 0 or p.settings.threads < 0:
        raise ParamsError(
            f"render.workers and settings.threads: need >= 0 (0 = automatic), got {p.workers}, {p.settings.threads}"
        )
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
        raise ParamsError(
            f"render.camera.sensor_mm: {p.camera.sensor_mm} is not a sensor width in mm; use 1..100 (36 = full frame)"
        )
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
    """Validated RenderParams from the whole params mapping; every section is typed, so a typo anywhere fails here."""
    return validate(schema.parse(data).render)


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (YAML would keep the later one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def merge(base: dict, overlay: dict) -> dict:
    """`overlay` over `base`, mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_one(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the params file ({exc.strerror}); pass a params.yaml file") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return data


def read(path: str | Path, _chain: tuple = ()) -> dict:
    """The YAML mapping of a params file, or a ParamsError naming the file and the fix.

    A profile is a short overlay: `extends: params.yaml` (relative to the profile) names the file it changes,
    so the profile holds only what differs and `dvc repro` runs it without copying files.
    """
    path = Path(path)
    data = _read_one(path)
    if not isinstance(data, dict) or "extends" not in data:
        return data
    overlay = dict(data)
    base_path = path.parent / str(overlay.pop("extends"))
    if base_path.resolve() in _chain or base_path.resolve() == path.resolve():
        raise ParamsError(f"{path}: `extends: {data['extends']}` loops back to itself; point it at params.yaml")
    base = read(base_path, (*_chain, path.resolve()))
    if not isinstance(base, dict):
        raise ParamsError(f"{path}: `extends: {data['extends']}` is not a params mapping")
    return merge(base, overlay)


def load_all(path: str | Path) -> schema.Params:
    """Every section of a params file, typed; errors name the file."""
    data = read(path)
    try:
        return schema.parse(data)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None


def load(path: str | Path) -> RenderParams:
    """The render section, validated against the installed assets; errors name the file."""
    data = read(path)
    try:
        return parse(data)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
