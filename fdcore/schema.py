"""params.yaml, a checkpoint's training config and the frame JSON, as typed frozen dataclasses.

One schema and one source of defaults for every section (tests/test_config.py
checks the defaults equal params.yaml). Stdlib only, so both package walls
import it: `parse` fails on an unknown key or a wrong type anywhere in the file
before any stage starts work, naming the key. Checks that need a package's own
registries (expression presets, bundled files, model names) run in that
package right after.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field

Range = tuple[float, float]

HAIR_STYLES = ("none", "buzz", "short", "medium", "long", "curly", "coily", "ponytail", "bun")
GARMENTS = ("crew", "v_neck", "collared", "hoodie", "jacket")
LIGHT_TYPES = ("POINT", "AREA", "SPOT", "SUN")
HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")  # bpy's studiolights/world
BACKGROUND_KINDS = ("hdri", "plaster", "corner", "shelf", "door")
DENOISERS = ("OPENIMAGEDENOISE", "NONE")
DEVICES = ("auto", "cpu", "cuda", "optix")
SPLITS = ("train", "val", "test")
LR_SCHEDULES = ("cosine", "step", "constant")


class ParamsError(ValueError):
    """Params or a description that cannot be used; the message names the key and the fix."""


# ---------------------------------------------------------------- render


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
        "neutral",
        "smile",
        "open_mouth",
        "blink",
        "surprise",
        "frown",
        "pout",
        "talk",
    )
    expression_intensity: Range = (0.25, 0.7)
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
    kinds: tuple[str, ...] = BACKGROUND_KINDS
    distance_m: Range = (0.3, 1.5)  # wall distance behind the head centre
    hdri_distance_m: Range = (1.5, 5.0)  # radius of the backdrop sphere the HDRI is projected on
    value: Range = (0.08, 0.85)  # wall brightness


@dataclass(frozen=True)
class RenderSettings:
    resolution: tuple[int, int] = (128, 128)  # width, height
    samples: int = 4
    denoiser: str = "OPENIMAGEDENOISE"
    threads: int = 0  # 0 = all cores of the worker
    device: str = "auto"  # auto (OptiX, else CUDA, else CPU) | cpu | cuda | optix


@dataclass(frozen=True)
class RenderParams:
    seed: int = 0  # the top-level seed
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


# ---------------------------------------------------------------- prepare


@dataclass(frozen=True)
class PrepareParams:
    # the key is `resolution`, not `size`: DVC's run cache ignores params named `size`
    resolution: tuple[int, int] = (128, 128)  # training input width, height
    splits: dict[str, float] = field(default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2})  # by identity
    min_head_pixels: int = 50
    seed: int = 0  # the top-level seed


# ---------------------------------------------------------------- train


@dataclass(frozen=True)
class LossParams:
    """The default profile's weights: the paper's terms at gain 300, most of L1's weight moved to relief (README)."""

    w_ssim: float = 0.28
    w_l1: float = 0.02
    w_grad: float = 0.30
    w_normal: float = 0.20
    w_relief: float = 0.2
    w_face: float = 0.3
    w_msgrad: float = 0.0  # MiDaS multi-scale gradient matching of the shift-aligned error (4 scales)
    w_ssi: float = 0.0  # MiDaS scale-and-shift-invariant L1 (least-squares scale and shift per image)
    w_head_normal: float = 1.0  # 1 - cos of a model's normal head (model_cfg heads: [normal]) on person pixels
    w_head_matte: float = 1.0  # L1 of a model's matte head (model_cfg heads: [matte]) on every pixel
    gain: float = 300.0


@dataclass(frozen=True)
class AugmentParams:
    """Sim-to-real augmentation (facedepth/augment.py): p_* = probability per sample, [low, high] ranges."""

    flip: float = 0.5  # probability of a horizontal flip
    brightness: float = 0.2  # colour jitter amplitudes, always applied
    contrast: float = 0.2
    saturation: float = 0.2
    p_zoom: float = 0.5
    zoom: Range = (0.7, 1.3)  # > 1 zooms in: the head fills ~22-76% of the width at the default framing
    shift: float = 0.08  # translation with a zoom, fraction of the image size
    p_gamma: float = 0.3
    gamma: Range = (0.75, 1.35)
    p_white_balance: float = 0.3
    white_balance: float = 0.15  # per-channel gain in 1 +- this
    p_blur: float = 0.2
    blur_sigma: Range = (0.3, 1.2)  # Gaussian, pixels
    p_motion_blur: float = 0.1
    motion_px: Range = (3.0, 7.0)  # streak length
    p_noise: float = 0.4
    shot_noise: Range = (0.0, 0.03)  # std at full scale grows with sqrt(intensity)
    read_noise: Range = (0.0, 0.015)
    p_chroma: float = 0.1
    chroma_px: float = 1.0  # red and blue planes shifted apart by up to this
    p_grey: float = 0.05
    p_jpeg: float = 0.4
    jpeg_quality: Range = (30.0, 95.0)
    # what a photo puts around and in front of a person (facedepth.augment.context): another backdrop behind the
    # person's silhouette, a hand- or phone-like occluder over the head, the photo's edge (rows replicated as
    # `predict` pads a crop that leaves the photo); the pixels they hide leave the loss
    p_background: float = 0.0
    p_occluder: float = 0.0
    p_edge: float = 0.0
    # a crop that leaves a photo turned under it (what the locator's rolled crops get near the photo's border): one
    # or two of the photo's edges at any side and tilt, pixels beyond replicated as `predict` pads (out of the loss)
    p_photo_edge: float = 0.0
    # the locator's roll error: the image turned about its centre by up to `roll` degrees, normals turned with it
    p_roll: float = 0.0
    roll: float = 10.0


def _lite_options() -> dict[str, dict | None]:
    return {
        "facedepth_lite": {"encoder": "mobilenetv2_100"},
        "unet_simple_lite": {"base": 16, "steps": 500, "heads": ["normal", "matte"]},
        "bts_lite": {"encoder": "resnet18", "num_features": 128, "steps": 200},
        "densedepth_lite": {"encoder": "densenet121", "steps": 120},
    }


@dataclass(frozen=True)
class TrainSettings:
    """What trains one model; a checkpoint stores these (TrainRun)."""

    steps: int = 1000  # optimiser steps; model_cfg.MODEL.steps (and warmup_steps, lr) override for one model
    warmup_steps: int = 10  # linear LR warm-up from lr/100
    val_every: int = 100  # steps between validations (and checkpoints); also at the last step
    log_every: int = 25  # steps between training-loss points in the dvclive logs (the loss curve)
    batch_size: int = 8
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # cosine | step | constant, after warm-up
    lr_step: int = 500  # steps between decays of the step schedule
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    ema: float = 0.0  # decay of an exponential moving average of the weights (evaluated and shipped); 0 = off
    ema_warmup: bool = False  # decay min(ema, (1 + n) / (10 + n)) after n updates: early weights fade at once
    near_m: float = 0.15
    far_m: float = 3.0
    depth_norm: str = "log"  # log | inverse (facedepth.depthnorm)
    canonical_focal: float = 1.0  # focal length / image width of the canonical camera; 0 = raw metric depth
    amp: bool = True  # only takes effect on CUDA
    pretrained: bool | str = False
    init: str = ""  # a checkpoint whose weights start the run (fine-tuning; same model and options); "" = fresh
    num_workers: int = 0
    loss: LossParams = field(default_factory=LossParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    model_cfg: dict[str, dict | None] = field(default_factory=_lite_options)  # per model: build options, SCHEDULE_KEYS


@dataclass(frozen=True)
class TrainParams(TrainSettings):
    models: tuple[str, ...] = tuple(_lite_options())


@dataclass(frozen=True)
class TrainRun(TrainSettings):
    """One model's training run, as its checkpoint stores it: model_cfg keeps only this model's options."""

    model: str = ""
    seed: int = 0


# ---------------------------------------------------------------- the file


@dataclass(frozen=True)
class Params:
    seed: int = 0
    render: RenderParams = field(default_factory=RenderParams)
    prepare: PrepareParams = field(default_factory=PrepareParams)
    train: TrainParams = field(default_factory=TrainParams)


def parse(data) -> Params:
    """The whole params mapping, typed and checked; the top-level seed fills each section's seed."""
    if not isinstance(data, dict):
        raise ParamsError("params: expected a mapping of sections (seed, render, prepare, train)")
    data = dict(data)
    seed = data.get("seed", 0)
    for name in ("render", "prepare"):
        if isinstance(data.get(name), dict) or data.get(name) is None:
            section = dict(data.get(name) or {})
            if "seed" in section:
                raise ParamsError(f"{name}.seed: the seed is top-level; move it out of `{name}`")
            data[name] = {**section, "seed": seed}
    if data.get("train") is None:
        data["train"] = {}
    p = build(Params, data, "params", top=True)
    if not 0 <= p.seed < 2**32:
        raise ParamsError(f"seed: need a whole number in 0..2^32-1 (numpy and torch seeds), got {p.seed}")
    check_prepare(p.prepare)
    check_train(p.train)
    return p


def check_prepare(p: PrepareParams) -> None:
    s = p.splits
    if set(s) != set(SPLITS) or min(s.values()) <= 0 or abs(sum(s.values()) - 1) > 1e-6:
        raise ParamsError(
            f"prepare.splits: need train/val/test ratios > 0 summing to 1 (every split is used: "
            f"train to fit, val to pick the checkpoint, test to report), got {s}"
        )
    w, h = p.resolution
    if w < 8 or h < 8 or w % 2 or h % 2:
        raise ParamsError(f"prepare.resolution: {w}x{h}; need even sizes of at least 8 (networks predict at half size)")
    if p.min_head_pixels < 1:
        raise ParamsError(f"prepare.min_head_pixels: need a whole number >= 1, got {p.min_head_pixels}")


SCHEDULE_KEYS = ("steps", "warmup_steps", "lr")  # train.model_cfg.MODEL may set these for one model's run


def run_settings(t: TrainSettings, model: str) -> tuple[TrainSettings, dict]:
    """One model's settings (its model_cfg schedule keys applied, checked) and its options for models.build."""
    options = t.model_cfg.get(model)
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ParamsError(f"train.model_cfg.{model}: need a mapping of options, got {options!r}")
    options, hints = dict(options), typing.get_type_hints(TrainSettings)
    schedule = {
        k: coerce(hints[k], options.pop(k), f"train.model_cfg.{model}.{k}") for k in SCHEDULE_KEYS if k in options
    }
    run = dataclasses.replace(t, **schedule)
    _check_schedule(run, f"train.model_cfg.{model}." if schedule else "train.")
    return run, options


def _check_schedule(t: TrainSettings, where: str) -> None:
    for key in ("steps", "val_every", "log_every", "batch_size", "lr_step"):
        if getattr(t, key) < 1:
            raise ParamsError(f"{where}{key}: need a whole number >= 1, got {getattr(t, key)!r}")
    if not 0.0 <= t.ema < 1.0:
        raise ParamsError(f"{where}ema: need a decay in [0, 1) (0 = off, e.g. 0.999), got {t.ema!r}")
    if t.warmup_steps < 0:
        raise ParamsError(f"{where}warmup_steps: need a whole number >= 0, got {t.warmup_steps!r}")
    if not t.lr > 0:
        raise ParamsError(f"{where}lr: need a number > 0, got {t.lr!r}")


def check_train(t: TrainSettings) -> None:
    _check_schedule(t, "train.")
    if t.lr_schedule not in LR_SCHEDULES:
        raise ParamsError(f"train.lr_schedule: {t.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}")
    weights = dataclasses.asdict(t.loss)
    for name, value in weights.items():
        if value < 0:
            raise ParamsError(f"train.loss.{name}: need a number >= 0, got {value!r}")
    depth_weights = [v for k, v in weights.items() if k.startswith("w_") and not k.startswith("w_head_")]
    if not any(v > 0 for v in depth_weights) or t.loss.gain <= 0:
        raise ParamsError(
            "train.loss: every depth weight is 0 (or gain is 0), so no depth would be learnt; set at least one "
            "w_* other than w_head_*"
        )
    check_augment(t.augment)
    for name in t.model_cfg:
        run_settings(t, name)


def check_augment(a: AugmentParams) -> None:
    for f in dataclasses.fields(a):
        value = getattr(a, f.name)
        if isinstance(value, tuple):
            if not 0 <= value[0] <= value[1]:
                raise ParamsError(f"train.augment.{f.name}: need [low, high] with 0 <= low <= high, got {list(value)}")
        elif value < 0 or (f.name == "flip" or f.name.startswith("p_")) and value > 1:
            raise ParamsError(
                f"train.augment.{f.name}: need a number >= 0"
                f"{' and <= 1 (a probability)' if f.name == 'flip' or f.name.startswith('p_') else ''}, "
                f"got {value!r}"
            )


# ---------------------------------------------------------------- the builder


def build(cls, data, path: str, top: bool = False):
    """Dataclass `cls` from a mapping (YAML or JSON), rejecting unknown keys, missing required ones and bad types."""
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = "params: unknown top-level key(s)" if top else f"{path}: unknown key(s)"
        raise ParamsError(f"{where} {unknown}; allowed: {sorted(fields)}")
    missing = sorted(
        n
        for n, f in fields.items()
        if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ParamsError(f"{path}: missing key(s) {missing}")
    prefix = "" if top else f"{path}."
    return cls(**{name: coerce(hints[name], value, f"{prefix}{name}") for name, value in data.items()})


def coerce(hint, value, path: str):
    """`value` as type `hint`: JSON lists become tuples where the type says so, ints become floats."""
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(arg, value, path)
            except ParamsError:
                pass
        raise ParamsError(f"{path}: expected {' or '.join(_name(a) for a in args)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                raise ParamsError(f"{path}: must not be empty")
            return tuple(coerce(args[0], v, path) for v in value)
        if len(value) != len(args):
            raise ParamsError(f"{path}: expected {len(args)} values, got {list(value)}")
        return tuple(coerce(a, v, path) for a, v in zip(args, value))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{path}: expected a list, got {value!r}")
        return [coerce(args[0], v, path) for v in value]
    if origin is dict or hint is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ParamsError(f"{path}: expected a mapping with text keys, got {value!r}")
        return {k: coerce(args[1], v, f"{path}.{k}") for k, v in value.items()} if args else dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ParamsError(f"{path}: must be a finite number, got {value!r}")
        return float(value)
    if hint is bool and isinstance(value, bool):
        return value
    if hint in (int, str) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    if hint is typing.Any:
        return value
    hint_text = " (write 3.0e-4, not 3e-4: YAML reads that as text)" if hint is float and isinstance(value, str) else ""
    raise ParamsError(f"{path}: expected {_name(hint)}, got {value!r}{hint_text}")


def _name(hint) -> str:
    return getattr(hint, "__name__", str(hint))
