"""Checkpoints: a model's run config, and safe reading of the files `train` writes.

Reading never executes code: every load uses `torch.load(weights_only=True)`, which
unpickles only tensors and plain containers, so a shared or downloaded checkpoint whose
pickle carries a payload is refused with an error instead of running it. `best.pt` holds
the weights and the config only (what inference needs); `last.pt` adds the optimiser state
to resume training. Inference imports this module, never the training loop.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch

from facedepth.depthnorm import DepthNorm
from facedepth.models import MODELS, build
from facedepth.models import options as options_of
from fdcore import schema


# what a weights-only checkpoint keeps; resume state (optimizer, scheduler, scaler) stays in last.pt
def input_hw(state: dict) -> tuple[int, int]:
    """The (height, width) a checkpoint was trained on; checkpoints older than the key were 128x128."""
    h, w = state.get("input_size", (128, 128))
    return int(h), int(w)


WEIGHTS_KEYS = ("model", "config", "step", "epoch", "best_si_abs_rel", "input_size", "train_seconds", "device")


class TrainConfig(schema.TrainRun):
    """One model's training run (fields and defaults: fdcore.schema), with what it builds in torch."""

    @classmethod
    def from_params(cls, data: dict | schema.Params, model: str) -> TrainConfig:
        """The run of `model` under params (a mapping or parsed Params); model_cfg.MODEL may set its schedule."""
        params = data if isinstance(data, schema.Params) else schema.parse(data)  # ParamsError is a ValueError
        seed, t = params.seed, params.train
        run, options = schema.run_settings(t, model)
        settings = {f.name: getattr(run, f.name) for f in dataclasses.fields(schema.TrainSettings)}
        cfg = cls(**{**settings, "model_cfg": {model: options}, "model": model, "seed": seed})
        cfg.norm  # validates the depth encoding
        for name, opts in {model: {}, **t.model_cfg}.items():
            if name not in MODELS:
                raise ValueError(f"train.model_cfg.{name}: unknown model; choose from {list(MODELS)}")
            bad = set(opts or {}) - set(options_of(name)) - set(schema.SCHEDULE_KEYS)
            if bad:
                raise ValueError(
                    f"train.model_cfg.{name}: unknown option(s) {sorted(bad)}; {name} takes "
                    f"{options_of(name) or 'none (a published architecture)'} and {schema.SCHEDULE_KEYS}"
                )
        return cfg

    @property
    def norm(self) -> DepthNorm:
        return DepthNorm(self.near_m, self.far_m, self.depth_norm, self.canonical_focal)

    @property
    def heads(self) -> tuple[str, ...]:
        """The extra tasks (normal, matte) this run's model predicts beside depth."""
        from facedepth.models.heads import checked

        return checked((self.model_cfg.get(self.model) or {}).get("heads"))

    def build_model(self) -> torch.nn.Module:
        options = {k: v for k, v in (self.model_cfg.get(self.model) or {}).items() if k not in schema.SCHEDULE_KEYS}
        return build(self.model, pretrained=self.pretrained, **options)


def weights_only(state: dict) -> dict:
    """The part of a training state that inference needs: weights and config, no optimiser."""
    return {k: state[k] for k in WEIGHTS_KEYS if k in state}


def read_state(path: Path, device="cpu", kind: str = "depth") -> dict:
    """A checkpoint written by `train` (kind "depth") or `locator-train` (kind "locator"), or an error that
    names the file and what to pass instead."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: checkpoint not found; train first (`facedepth train --model NAME`) or pass another --model"
        )
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: refused to load: the file holds Python objects besides weights and plain data "
            f"({str(exc).splitlines()[0][:160]}), which could run code; a facedepth checkpoint never "
            f"does. Use checkpoints from a source you trust, written by `facedepth train`"
        ) from None
    except Exception as exc:  # truncated, zero bytes, not a torch file: torch raises many kinds
        raise ValueError(
            f"{path}: not a readable checkpoint ({exc.__class__.__name__}); pass a models/NAME/best.pt "
            f"written by `facedepth train`, or retrain"
        ) from None
    if not isinstance(state, dict) or not {"config", "model", "step"} <= set(state):
        raise ValueError(
            f"{path}: not a facedepth checkpoint (no config/model/step); pass a models/NAME/best.pt "
            f"written by `facedepth train`"
        )
    if state.get("kind", "depth") != kind:
        raise ValueError(f"{path}: a {state.get('kind', 'depth')} checkpoint where a {kind} one is needed")
    return state


def load_checkpoint(path: Path, device="cpu") -> tuple[torch.nn.Module, TrainConfig, dict]:
    """Rebuild the model a checkpoint was trained with, weights loaded, in eval mode."""
    state = read_state(path, device)
    try:
        cfg = schema.build(TrainConfig, {**state["config"], "pretrained": False}, f"{path}: config")
        model = cfg.build_model().to(device)
        model.load_state_dict(state["model"])
    except (TypeError, RuntimeError, KeyError, schema.ParamsError) as exc:
        raise ValueError(
            f"{path}: checkpoint does not match this version's models ({exc.__class__.__name__}: "
            f"{str(exc)[:200]}); retrain it with `facedepth train`"
        ) from None
    return model.eval(), cfg, state


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REFERENCE = WEIGHTS_DIR / "reference.pt"  # the shipped model (model card: reference.md beside it)


def resolve(model: str | Path | None = None, models_root: Path = Path("models")) -> Path:
    """One meaning of `--model` everywhere: None or "reference" -> the shipped model; a checkpoint file;
    a folder holding best.pt; or the name of a trained model (models/NAME/best.pt)."""
    if model is None or str(model) == "reference":
        if not REFERENCE.is_file():
            raise FileNotFoundError(
                f"{REFERENCE}: the shipped reference model is missing from this install; "
                f"reinstall facedepth or pass --model models/NAME/best.pt"
            )
        return REFERENCE
    path = Path(model)
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "best.pt").is_file():
            return path / "best.pt"
        raise FileNotFoundError(f"{path}: no best.pt in this folder; pass a checkpoint file or a trained model's name")
    named = models_root / str(model) / "best.pt"
    if path.suffix != ".pt" and len(path.parts) == 1 and named.is_file():
        return named
    hint = (
        f"train it first (`facedepth train --model {model}`)"
        if str(model) in MODELS
        else "pass a checkpoint file, a folder holding best.pt, a trained model's name, "
        "or nothing for the shipped model"
    )
    raise FileNotFoundError(f"{model}: checkpoint not found; {hint}")
